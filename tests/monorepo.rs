//! GitOps over monorepos: many manifests in one repository, generated here, planned against
//! the emulator; `--changed-since` over commits that touch one manifest's source, another's
//! manifest, a summary_file elsewhere, a deletion and nothing; `--shard` partitions.

use std::collections::BTreeSet;

use crate::harness::{Deploy, Output, filters};

const COUNT: usize = 24;

/// A repository with COUNT algorithms under `algos/aN/`; `a3` takes its summary from
/// `docs/a3.md`.
fn monorepo() -> Deploy {
    let d = Deploy::new(&[]);
    let example = crate::harness::example();
    for n in 0..COUNT {
        let name = format!("a{n}");
        let mut manifest = example.replace("name: hello_world", &format!("name: {name}"));
        if n == 3 {
            manifest = manifest.replace(
                "  summary: |\n    # Hello World\n\n    Returns a greeting for the name it is given:\n    `\"Ada\"` gives `\"Hello, Ada!\"`.\n",
                "  summary_file: ../../docs/a3.md\n",
            );
        }
        d.repo
            .write(&format!("algos/{name}/algorithm.yaml"), &manifest);
        d.repo.write(
            &format!("algos/{name}/src/{name}.py"),
            "def apply(input):\n    return f\"Hello, {input}!\"\n",
        );
        d.repo.write(&format!("algos/{name}/requirements.txt"), "");
    }
    d.repo.write("docs/a3.md", "# a3\n");
    d.repo.git(&[
        "rm",
        "-q",
        "algorithm.yaml",
        "src/hello_world.py",
        "requirements.txt",
    ]);
    d.repo.commit("monorepo");
    d.repo.git(&["tag", "base"]);
    d
}

fn planned(out: &Output) -> Vec<String> {
    out.code(0);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    value["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["algorithm"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_monorepo_plans_every_manifest_in_path_order() {
    let d = monorepo();
    let all = planned(&d.run(&["plan", "algos", "--format", "json", "--parallelism", "8"]));
    assert_eq!(all.len(), COUNT);
    let mut sorted_paths: Vec<String> = (0..COUNT)
        .map(|n| format!("algos/a{n}/algorithm.yaml"))
        .collect();
    sorted_paths.sort();
    let expected: Vec<String> = sorted_paths
        .iter()
        .map(|p| format!("demo/{}", p.split('/').nth(1).unwrap()))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn changed_since_plans_only_what_changed() {
    let d = monorepo();
    let run = |reference: &str| {
        planned(&d.run(&[
            "plan",
            "algos",
            "--format",
            "json",
            "--changed-since",
            reference,
        ]))
    };
    assert!(run("base").is_empty(), "nothing changed since base");
    // One algorithm's source, another's manifest, a summary_file outside both folders.
    d.repo.write(
        "algos/a1/src/a1.py",
        "def apply(input):\n    return input\n",
    );
    d.repo.commit("a1 source");
    let text = std::fs::read_to_string(d.repo.dir.path().join("algos/a2/algorithm.yaml")).unwrap();
    d.repo.write(
        "algos/a2/algorithm.yaml",
        &text.replace("Greets whoever calls it", "Says hello"),
    );
    d.repo.commit("a2 tagline");
    d.repo.write("docs/a3.md", "# a3, changed\n");
    d.repo.commit("a3 summary");
    assert_eq!(run("base"), ["demo/a1", "demo/a2", "demo/a3"]);
    assert_eq!(run("HEAD~1"), ["demo/a3"]);
    // Uncommitted changes count.
    d.repo
        .write("algos/a5/src/a5.py", "def apply(input):\n    return 5\n");
    let out = d.run(&[
        "plan",
        "algos",
        "--format",
        "json",
        "--changed-since",
        "HEAD",
        "--allow-dirty",
    ]);
    assert_eq!(planned(&out), ["demo/a5"]);
    d.repo.git(&["checkout", "algos/a5/src/a5.py"]);
    // A deleted manifest is listed, and left as is.
    d.repo.git(&["rm", "-q", "-r", "algos/a7"]);
    d.repo.commit("remove a7");
    let out = d.run(&[
        "plan",
        "algos",
        "--format",
        "json",
        "--changed-since",
        "HEAD~1",
    ]);
    out.stderr_has("removed from the repository, left as is: algos/a7/algorithm.yaml");
    assert!(planned(&out).is_empty());
    // A bad REF is a usage error naming it.
    let out = d.run(&["plan", "algos", "--changed-since", "no-such-ref"]);
    out.code(64).stderr_has("no-such-ref");
}

#[test]
fn shards_partition_the_manifests_by_name() {
    let d = monorepo();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for i in 1..=3 {
        let shard = planned(&d.run(&[
            "plan",
            "algos",
            "--format",
            "json",
            "--shard",
            &format!("{i}/3"),
        ]));
        total += shard.len();
        seen.extend(shard);
    }
    assert_eq!(
        (total, seen.len()),
        (COUNT, COUNT),
        "each manifest in exactly one shard"
    );
    for bad in ["0/3", "4/3", "1-3"] {
        d.run(&["plan", "algos", "--shard", bad]).code(64);
    }
}

#[test]
fn markdown_plans_fit_a_comment_and_go_to_the_step_summary() {
    let d = monorepo();
    let out = d.run(&[
        "plan",
        "algos",
        "--format",
        "markdown",
        "--parallelism",
        "8",
    ]);
    out.code(0);
    assert!(!out.stdout.contains('\u{1b}'));
    assert!(
        out.stdout.starts_with(
            "### algodeploy plan\n\n| create | update | push | test | publish | unchanged |"
        ),
        "{}",
        &out.stdout[..200]
    );
    assert!(out.stdout.contains(
        "<details open><summary><code>demo/a0</code>: create, push, test, publish</summary>"
    ));
    assert!(out.stdout.len() < 65_536);
    // Under GitHub Actions the same Markdown goes to the step summary.
    let summary = d.home().join("summary.md");
    let path = summary.display().to_string();
    let out = d.run_with(
        &["plan", "algos/a1"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", path.as_str()),
        ],
    );
    out.code(0);
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.contains("<code>demo/a1</code>"), "{written}");
}

#[test]
fn a_long_markdown_plan_is_cut_with_a_note_saying_where_the_rest_is() {
    let d = Deploy::new(&[]);
    let big = "line of a long summary\n".repeat(4000);
    let example = crate::harness::example();
    for n in 0..4 {
        let manifest = example
            .replace("name: hello_world", &format!("name: big{n}"))
            .replace(
                "  summary: |\n    # Hello World\n\n    Returns a greeting for the name it is given:\n    `\"Ada\"` gives `\"Hello, Ada!\"`.\n",
                "  summary_file: SUMMARY.md\n",
            );
        d.repo.write(&format!("big{n}/algorithm.yaml"), &manifest);
        d.repo.write(&format!("big{n}/SUMMARY.md"), &big);
        d.repo.write(
            &format!("big{n}/src/big{n}.py"),
            "def apply(input):\n    return input\n",
        );
        d.repo.write(&format!("big{n}/requirements.txt"), "");
    }
    d.repo.commit("big summaries");
    let out = d.run(&["plan", ".", "--format", "markdown", "--out", "plan.json"]);
    out.code(0);
    assert!(
        out.stdout.chars().count() <= 65_536,
        "{} characters",
        out.stdout.chars().count()
    );
    assert!(
        out.stdout.contains("not shown") && out.stdout.contains("plan.json"),
        "{}",
        &out.stdout[out.stdout.len() - 300..]
    );
    filters().bind(|| {
        insta::assert_snapshot!(
            "markdown_head",
            out.stdout.lines().take(12).collect::<Vec<_>>().join("\n")
        );
    });
}

#[test]
fn failures_are_one_json_document_and_github_annotations() {
    let d = monorepo();
    // An invalid manifest: exit 3, one document with the problem located.
    let text = std::fs::read_to_string(d.repo.dir.path().join("algos/a4/algorithm.yaml")).unwrap();
    d.repo.write(
        "algos/a4/algorithm.yaml",
        &text.replace("license: apache2", "license: beerware"),
    );
    d.repo.commit("bad licence");
    let out = d.run_with(
        &["plan", "algos", "--format", "json"],
        &[("GITHUB_ACTIONS", "true")],
    );
    out.code(3);
    let value: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("exactly one JSON document");
    assert_eq!(value["format_version"], 1);
    let error = &value["errors"][0];
    assert_eq!(error["code"], "value-not-allowed");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["manifest"], "algos/a4/algorithm.yaml");
    assert!(error["line"].as_u64().unwrap() > 0);
    out.stderr_has("::error title=algodeploy,file=algos/a4/algorithm.yaml,line=");
    d.repo.write("algos/a4/algorithm.yaml", &text);
    d.repo.commit("fixed");
    // No key: exit 5, one document.
    let out = d.run_with(
        &["plan", "algos/a0", "--format", "json"],
        &[("ALGORITHMIA_API_KEY", "")],
    );
    out.code(5);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["errors"][0]["code"], "no-key");
    // A push needed without --push: exit 4; the document holds the plan and what was applied.
    let out = d.run(&["apply", "algos/a0", "--yes", "--format", "json"]);
    out.code(4);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["errors"][0]["code"], "push-needed");
    assert_eq!(value["errors"][0]["algorithm"], "demo/a0");
    assert_eq!(value["applied"], serde_json::json!([]));
    // A usage error of the run (bad --changed-since): exit 64, one document.
    let out = d.run(&[
        "plan",
        "algos",
        "--format",
        "json",
        "--changed-since",
        "nope",
    ]);
    out.code(64);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["errors"][0]["exit_code"], 64);
}

#[test]
fn drift_is_detected_on_a_fresh_clone_from_the_committed_manifest() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    // Someone edits the label in the web UI.
    let (status, _) = d.emulator.call(
        "PUT",
        "/v1/algorithms/demo/hello_world",
        Some(crate::harness::KEY),
        Some(serde_json::json!({"details": {"label": "Edited in the web UI"}})),
    );
    assert_eq!(status, 200);
    // A CI runner that never applied: a fresh clone, no .algodeploy record.
    let fresh = tempfile::tempdir().unwrap();
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(d.repo.dir.path())
        .arg(fresh.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(cloned.success());
    assert!(!fresh.path().join(".algodeploy").exists());
    let out: Output = d
        .command_in(fresh.path(), &["plan", "--format", "json"])
        .output()
        .unwrap()
        .into();
    out.code(0);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let algorithm = &value["algorithms"][0];
    assert_eq!(
        algorithm["drift"][0]["field"], "details.label",
        "{algorithm}"
    );
    assert_eq!(algorithm["drift"][0]["after"], "Edited in the web UI");
    assert!(
        algorithm["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("as committed at")),
        "{algorithm}"
    );
}

/// The action's main step, run the way the runner runs it: its script with INPUT_* variables,
/// GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_ACTIONS set.
fn run_action(d: &Deploy, inputs: &[(&str, &str)]) -> (i32, String, String) {
    let outputs = d.home().join("github_output");
    let summary = d.home().join("step_summary.md");
    let _ = std::fs::remove_file(&outputs);
    let _ = std::fs::remove_file(&summary);
    let temp = tempfile::tempdir().unwrap();
    let script = crate::harness::repo_root().join("action/run.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(d.repo.dir.path())
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", d.home())
        .env("NO_COLOR", "1")
        .env("ALGORITHMIA_API", &d.emulator.url)
        .env("ALGORITHMIA_API_KEY", crate::harness::KEY)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("ALGODEPLOY", crate::harness::BIN)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("RUNNER_TEMP", temp.path())
        .envs(inputs.iter().copied())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        std::fs::read_to_string(&outputs).unwrap_or_default(),
        std::fs::read_to_string(&summary).unwrap_or_default(),
    )
}

#[test]
fn the_github_action_plans_and_applies_with_outputs_and_a_step_summary() {
    let d = monorepo();
    let (code, outputs, summary) = run_action(
        &d,
        &[
            ("INPUT_COMMAND", "plan"),
            ("INPUT_PATHS", "algos/a0 algos/a1"),
        ],
    );
    assert_eq!(
        code, 0,
        "a plan with changes is a successful step: {outputs}"
    );
    assert!(
        outputs.contains("exit-code=2")
            && outputs.contains("create=2")
            && outputs.contains("changes=8"),
        "{outputs}"
    );
    assert!(
        summary.contains("### algodeploy plan") && summary.contains("demo/a1"),
        "{summary}"
    );
    // The whole repository is pushed to each algorithm: a0's entry point at the root.
    d.repo.write(
        "src/a0.py",
        "def apply(input):\n    return f\"Hello, {input}!\"\n",
    );
    d.repo.write("requirements.txt", "");
    d.repo.commit("a0 at the root");
    let (code, outputs, _) = run_action(
        &d,
        &[
            ("INPUT_COMMAND", "apply"),
            ("INPUT_PATHS", "algos/a0"),
            ("INPUT_ARGS", "--push"),
        ],
    );
    assert_eq!(code, 0, "{outputs}");
    assert!(
        outputs.contains("exit-code=0") && outputs.contains("publish=1"),
        "{outputs}"
    );
    let (code, outputs, _) = run_action(
        &d,
        &[("INPUT_COMMAND", "plan"), ("INPUT_PATHS", "algos/a0")],
    );
    assert_eq!(code, 0);
    assert!(
        outputs.contains("exit-code=0") && outputs.contains("changes=0"),
        "{outputs}"
    );
    let (code, _, _) = run_action(&d, &[("INPUT_COMMAND", "destroy")]);
    assert_eq!(code, 64);
}

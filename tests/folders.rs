//! Monorepo-native deploys: the natural layout (`algorithms/<name>/…` plus a shared
//! `libs/common`), each folder deployed as its algorithm's repository through real git against
//! the emulator; deterministic deploy commits across clones, fast-forward history, untouched
//! folders needing nothing, shallow clones, hand-pushed `master`, and a parallel apply that
//! keeps going past a failure.

use crate::harness::{Deploy, KEY, Output, Repo};

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

/// The manifest of one folder: the example's, renamed; `alpha` includes `libs/common`.
fn manifest(name: &str) -> String {
    let mut text = crate::harness::example().replace("name: hello_world", &format!("name: {name}"));
    if name == "alpha" {
        text.push_str(
            "repository:\n  include:\n    - from: ../../libs/common\n      to: libs/common\n",
        );
    }
    text
}

/// A monorepo in the layout teams use, committed; the example at the root is removed.
fn monorepo() -> Deploy {
    monorepo_with(&[])
}

fn monorepo_with(emulator_flags: &[&str]) -> Deploy {
    let d = Deploy::new(emulator_flags);
    d.repo.git(&[
        "rm",
        "-q",
        "algorithm.yaml",
        "src/hello_world.py",
        "requirements.txt",
    ]);
    for name in NAMES {
        d.repo.write(
            &format!("algorithms/{name}/algorithm.yaml"),
            &manifest(name),
        );
        d.repo.write(
            &format!("algorithms/{name}/src/{name}.py"),
            "def apply(input):\n    return f\"Hello, {input}!\"\n",
        );
        d.repo
            .write(&format!("algorithms/{name}/requirements.txt"), "");
    }
    d.repo.write("libs/common/greet.py", "GREETING = 'Hello'\n");
    d.repo.write("README.md", "# Our algorithms\n");
    d.repo.commit("monorepo");
    d
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The plan JSON's entry for one algorithm.
/// Every algorithm of two JSON plans deploys the same commit.
#[track_caller]
fn same_deploy_commits(a: &serde_json::Value, b: &serde_json::Value) {
    for name in NAMES {
        assert_eq!(
            entry(a, name)["git"]["deploy_commit"],
            entry(b, name)["git"]["deploy_commit"],
            "{name}"
        );
    }
}

fn entry<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} not planned: {plan}"))
}

fn actions(entry: &serde_json::Value) -> Vec<String> {
    entry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// Files of `master` in the emulator's repository of `demo/NAME`.
fn remote_files(d: &Deploy, name: &str) -> Vec<String> {
    let clone = tempfile::tempdir().unwrap();
    let repo = Repo {
        dir: tempfile::tempdir().unwrap(),
    };
    let url = format!(
        "http://demo:{KEY}@{}/git/demo/{name}.git",
        d.emulator.host()
    );
    let target = clone.path().join("c");
    repo.git(&["clone", "-q", &url, target.to_str().unwrap()]);
    let out = repo.git(&[
        "-C",
        target.to_str().unwrap(),
        "ls-tree",
        "-r",
        "--name-only",
        "HEAD",
    ]);
    let mut files: Vec<String> = out.lines().map(str::to_owned).collect();
    files.sort();
    files
}

fn remote_master(d: &Deploy, name: &str) -> String {
    let url = format!(
        "http://demo:{KEY}@{}/git/demo/{name}.git",
        d.emulator.host()
    );
    d.repo
        .git(&["ls-remote", &url, "refs/heads/master"])
        .split('\t')
        .next()
        .unwrap()
        .to_string()
}

fn published(d: &Deploy, name: &str) -> Vec<String> {
    d.published_of(name)
}

#[test]
fn each_folder_is_its_algorithms_repository_and_a_second_clone_agrees() {
    let d = monorepo();
    let plan = json(d.run(&["plan", "algorithms", "--format", "json"]).code(0));
    let alpha = entry(&plan, "alpha");
    assert_eq!(
        alpha["git"]["folders"],
        serde_json::json!(["algorithms/alpha", "libs/common"])
    );
    assert_ne!(alpha["git"]["deploy_commit"], alpha["git"]["head"]);
    // A first plan reads nothing from git for algorithms that do not exist.
    assert!(
        d.emulator.requests("/git").is_empty(),
        "{:?}",
        d.emulator.requests("/git")
    );

    d.run(&[
        "apply",
        "algorithms",
        "--yes",
        "--push",
        "--parallelism",
        "3",
    ])
    .code(0)
    .stderr_has("Results:");
    for name in NAMES {
        assert_eq!(published(&d, name), ["1.0.0"], "{name}");
    }
    let (status, answer) = d.emulator.call(
        "POST",
        "/v1/algo/demo/alpha/1.0.0",
        Some(KEY),
        Some(serde_json::json!("Ada")),
    );
    assert_eq!(
        (status, answer["result"].clone()),
        (200, serde_json::json!("Hello, Ada!"))
    );
    assert_eq!(
        remote_files(&d, "alpha"),
        ["libs/common/greet.py", "requirements.txt", "src/alpha.py"]
    );
    assert_eq!(
        remote_files(&d, "beta"),
        ["requirements.txt", "src/beta.py"]
    );
    d.run(&["plan", "algorithms", "--detailed-exitcode"])
        .code(0);

    // Another full clone (a fresh CI runner) derives the same commits: nothing to do.
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("mono");
    d.repo.git(&[
        "clone",
        "-q",
        d.repo.dir.path().to_str().unwrap(),
        target.to_str().unwrap(),
    ]);
    let out: Output = d
        .command_in(
            &target,
            &[
                "plan",
                "algorithms",
                "--format",
                "json",
                "--detailed-exitcode",
            ],
        )
        .output()
        .unwrap()
        .into();
    out.code(0);
    let again = json(&out);
    same_deploy_commits(&again, &plan);
}

#[test]
fn ordinary_commits_change_nothing_and_an_include_change_selects_its_includers() {
    let d = monorepo();
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    let master_before = remote_master(&d, "alpha");

    // A commit at the root, and a label edit in beta's manifest: no push, no version.
    d.repo.write("README.md", "# Our algorithms, documented\n");
    let beta = d.repo.dir.path().join("algorithms/beta/algorithm.yaml");
    let text = std::fs::read_to_string(&beta).unwrap();
    std::fs::write(&beta, text.replace("label: Hello World", "label: Beta")).unwrap();
    d.repo.commit("docs and a label");
    let plan = json(d.run(&["plan", "algorithms", "--format", "json"]).code(0));
    assert_eq!(actions(entry(&plan, "alpha")), Vec::<String>::new());
    assert_eq!(actions(entry(&plan, "gamma")), Vec::<String>::new());
    assert_eq!(actions(entry(&plan, "beta")), ["update"]);

    // A change in libs/common selects alpha only; its version is published, so the plan
    // refuses up front with the bump to make.
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    d.repo.write("libs/common/greet.py", "GREETING = 'Hi'\n");
    let shared_change = d.repo.commit("shared change");
    let selected = json(
        d.run(&[
            "plan",
            "algorithms",
            "--changed-since",
            "HEAD~1",
            "--format",
            "json",
            "--no-strict-version",
        ])
        .code(0),
    );
    let names: Vec<&str> = selected["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);
    d.run(&["plan", "algorithms/alpha"])
        .code(4)
        .stderr_has("bump semantic_version")
        .stderr_has("1.0.1");

    let alpha = d.repo.dir.path().join("algorithms/alpha/algorithm.yaml");
    let text = std::fs::read_to_string(&alpha).unwrap();
    std::fs::write(
        &alpha,
        text.replace("semantic_version: 1.0.0", "semantic_version: 1.0.1"),
    )
    .unwrap();
    d.repo.commit("alpha 1.0.1");
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    assert_eq!(published(&d, "alpha"), ["1.0.1", "1.0.0"]);
    let master_after = remote_master(&d, "alpha");
    assert_ne!(master_after, master_before);
    // Fast-forward: the new deploy commit descends from the old one, and names its source:
    // the shared change (the version bump after it changed only the manifest).
    d.repo
        .git(&["merge-base", "--is-ancestor", &master_before, &master_after]);
    let message = d.repo.git(&["log", "-1", "--format=%B", &master_after]);
    assert!(
        message.contains(&format!("Algodeploy-Source-Commit: {shared_change}"))
            && message.contains("Algodeploy-Folders: algorithms/alpha + libs/common"),
        "{message}"
    );
}

#[test]
fn a_shallow_clone_is_refused_with_the_way_out() {
    let d = monorepo();
    d.repo.commit("a second commit");
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("shallow");
    let url = format!("file://{}", d.repo.dir.path().display());
    d.repo.git(&[
        "clone",
        "-q",
        "--depth",
        "1",
        &url,
        target.to_str().unwrap(),
    ]);
    let out: Output = d
        .command_in(&target, &["plan", "algorithms"])
        .output()
        .unwrap()
        .into();
    out.code(4)
        .stderr_has("shallow clone")
        .stderr_has("fetch-depth: 0");
    assert!(d.writes().is_empty());
}

#[test]
fn a_hand_pushed_master_is_refused() {
    let d = monorepo();
    let (status, _) = d.emulator.create("beta");
    assert!((200..300).contains(&status), "{status}");
    let hand = Repo::python("beta");
    hand.commit("pushed by hand");
    assert!(hand.push(&d.emulator, "demo", KEY, "beta").status.success());
    d.run(&["plan", "algorithms/beta"])
        .code(4)
        .stderr_has("did not derive")
        .stderr_has("--force-with-lease");
}

#[test]
fn a_missing_entry_point_is_found_before_anything_is_created() {
    let d = monorepo();
    d.repo
        .git(&["rm", "-q", "algorithms/gamma/requirements.txt"]);
    d.repo.commit("gamma loses its requirements");
    d.clear_log();
    d.run(&["apply", "algorithms/gamma", "--yes", "--push"])
        .code(4)
        .stderr_has("`requirements.txt`");
    assert!(d.writes().is_empty(), "{:?}", d.writes());
}

/// beta's first build fails; an invalid manifest sits beside the others.
fn failing_build_and_broken_manifest(d: &Deploy) {
    d.emulator.create("beta");
    d.emulator.admin(
        "POST",
        "/_emulator/algorithms/demo/beta/fail-next-build",
        None,
    );
    d.repo
        .write("algorithms/broken/algorithm.yaml", "owner: demo\nname: [\n");
    d.repo.commit("broken");
}

#[test]
fn one_failure_among_many_stops_only_its_algorithm() {
    let d = monorepo();
    failing_build_and_broken_manifest(&d);
    let out = d.run(&[
        "apply",
        "algorithms",
        "--yes",
        "--push",
        "--format",
        "json",
        "--parallelism",
        "2",
    ]);
    // An invalid manifest (3) is more severe than a failed build (4).
    out.code(3);
    let document = json(&out);
    let errors = document["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["algorithm"] == "demo/beta"
            && e["code"] == "build-failed"
            && e["manifest"] == "algorithms/beta/algorithm.yaml"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["manifest"] == "algorithms/broken/algorithm.yaml"),
        "{errors:?}"
    );
    assert_eq!(published(&d, "alpha"), ["1.0.0"]);
    assert_eq!(published(&d, "gamma"), ["1.0.0"]);
    assert!(published(&d, "beta").is_empty());
    let applied: Vec<&str> = document["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["algorithm"].as_str().unwrap())
        .collect();
    assert!(
        applied.contains(&"demo/alpha") && applied.contains(&"demo/gamma"),
        "{applied:?}"
    );
}

#[test]
fn ctrl_c_during_a_parallel_apply_stops_every_algorithm_and_a_rerun_finishes() {
    let d = monorepo_with(&["--build-seconds", "3"]);
    let child = d
        .command(&[
            "apply",
            "algorithms",
            "--yes",
            "--push",
            "--parallelism",
            "3",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until every algorithm's pushed commit is building (the starter's build is first).
    let building = |name: &str| {
        let (_, builds) = d.emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/builds"),
            Some(KEY),
            None,
        );
        builds["results"].as_array().is_some_and(|b| b.len() >= 2)
    };
    for _ in 0..200 {
        if NAMES.iter().all(|n| building(n)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        NAMES.iter().all(|n| building(n)),
        "the builds never started"
    );
    crate::harness::interrupt(child).code(130);
    for name in NAMES {
        assert!(
            published(&d, name).is_empty(),
            "{name} published after the interrupt"
        );
    }
    d.run(&[
        "apply",
        "algorithms",
        "--yes",
        "--push",
        "--parallelism",
        "3",
    ])
    .code(0);
    for name in NAMES {
        assert_eq!(published(&d, name), ["1.0.0"], "{name}");
        assert_eq!(
            d.emulator
                .count("POST", &format!("/v1/algorithms/demo/{name}/versions")),
            1,
            "{name} published once"
        );
    }
}

#[test]
fn a_tampered_deploy_commit_cache_is_not_trusted() {
    let d = monorepo();
    let plan = json(d.run(&["plan", "algorithms", "--format", "json"]).code(0));
    let cache = d.repo.dir.path().join(".git/algodeploy/deploy-commits");
    let text = std::fs::read_to_string(&cache).unwrap();
    // Swap the answers (commit and tree) of two folders.
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    let fields = |l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let (a, b) = (fields(lines[0]), fields(lines[1]));
    let swapped = format!(
        "{} {} {} {}\n{} {} {} {}\n",
        a[0], a[1], b[2], b[3], b[0], b[1], a[2], a[3]
    );
    std::fs::write(&cache, swapped).unwrap();
    let again = json(d.run(&["plan", "algorithms", "--format", "json"]).code(0));
    same_deploy_commits(&again, &plan);
}

#[test]
fn a_folder_rolls_back_and_its_next_publish_fast_forwards_past_the_rollback() {
    let d = monorepo();
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    let beta = d.repo.dir.path().join("algorithms/beta");
    std::fs::write(
        beta.join("src/beta.py"),
        "def apply(input):\n    return f\"Hello, {input}!\"  # 1.0.1\n",
    )
    .unwrap();
    let manifest = std::fs::read_to_string(beta.join("algorithm.yaml")).unwrap();
    std::fs::write(
        beta.join("algorithm.yaml"),
        manifest.replace("semantic_version: 1.0.0", "semantic_version: 1.0.1"),
    )
    .unwrap();
    d.repo.commit("beta 1.0.1");
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    d.run(&["rollback", "algorithms/beta", "--to", "1.0.0", "--yes"])
        .code(0);
    assert_eq!(published(&d, "beta"), ["1.0.2", "1.0.1", "1.0.0"]);
    let rolled = remote_master(&d, "beta");
    // Back to work: a new version replaces the rollback commit.
    let manifest = std::fs::read_to_string(beta.join("algorithm.yaml")).unwrap();
    std::fs::write(
        beta.join("algorithm.yaml"),
        manifest.replace("semantic_version: 1.0.1", "semantic_version: 1.0.3"),
    )
    .unwrap();
    std::fs::write(
        beta.join("src/beta.py"),
        "def apply(input):\n    return f\"Hello, {input}!\"  # 1.0.3\n",
    )
    .unwrap();
    d.repo.commit("beta 1.0.3");
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    assert_eq!(published(&d, "beta")[0], "1.0.3");
    assert_ne!(remote_master(&d, "beta"), rolled);
}

#[test]
fn prune_lists_and_deletes_algorithms_no_manifest_declares() {
    let d = monorepo();
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    // Two algorithms nobody declares: one never published, one published.
    for name in ["stray", "retired"] {
        let (status, _) = d.emulator.create(name);
        assert!((200..300).contains(&status));
    }
    let (status, answer) = d.emulator.call(
        "POST",
        "/v1/algorithms/demo/retired/versions",
        Some(KEY),
        Some(serde_json::json!({"settings": {"algorithm_callability": "public"}, "version_info": {"version_type": "major"}})),
    );
    assert!((200..300).contains(&status), "{answer}");

    d.run(&["plan", "algorithms", "--prune"])
        .code(0)
        .stdout_has("- destroy demo/stray: no published versions")
        .stdout_has("- destroy demo/retired: published versions 1.0.0")
        .stdout_has("2 to destroy");
    let plan = json(
        d.run(&["plan", "algorithms", "--prune", "--format", "json"])
            .code(0),
    );
    let pruned: Vec<&str> = plan["prune"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(pruned.len(), 2, "{plan}");
    // A partial selection would take everything else for orphans.
    d.run(&["plan", "algorithms", "--prune", "--changed-since", "HEAD"])
        .code(64);
    d.run(&["plan", "algorithms", "--prune", "--shard", "1/2"])
        .code(64);

    d.clear_log();
    d.run(&["apply", "algorithms", "--prune", "--yes"])
        .code(4)
        .stderr_has("demo/retired has published versions (1.0.0)");
    assert!(d.writes().is_empty(), "{:?}", d.writes());
    d.run(&[
        "apply",
        "algorithms",
        "--prune",
        "--yes",
        "--delete-published",
    ])
    .code(0)
    .stderr_has("demo/stray: destroyed");
    for (name, expected) in [
        ("stray", 404),
        ("retired", 404),
        ("alpha", 200),
        ("beta", 200),
    ] {
        let (status, _) = d.emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}"),
            Some(KEY),
            None,
        );
        assert_eq!(status, expected, "{name}");
    }
    d.run(&["plan", "algorithms", "--prune", "--detailed-exitcode"])
        .code(0);
}

/// A failure among many, as a reviewer sees it: the text run names each failure once (under
/// its algorithm or manifest, continuation lines indented), the Results table and the job's
/// Markdown summary list the algorithms that failed before anything started, and a plan whose
/// every manifest failed prints no "No changes" line.
#[test]
fn failures_among_many_are_in_the_results_table_and_the_summary() {
    let d = monorepo();
    failing_build_and_broken_manifest(&d);
    let summary = d.repo.dir.path().join("summary.md");
    let out = d.run_with(
        &[
            "apply",
            "algorithms",
            "--yes",
            "--push",
            "--parallelism",
            "2",
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    out.code(3)
        .stderr_has("2 failures (each stopped only its own algorithm):")
        .stderr_has("  - 1 of 4 manifests invalid (1 problem)")
        .stderr_has("  - demo/beta: the build of ")
        .stderr_has("failed; the end of its log:\n        Building demo/beta");
    assert!(
        !out.stderr.contains("demo/beta: demo/beta"),
        "a name said twice: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("  - : "),
        "an empty name: {}",
        out.stderr
    );
    // The Results table has a row for the manifest that never started.
    let results = out.stderr.split("Results:").nth(1).unwrap_or_default();
    for row in [
        "algorithms/broken/algorithm.yaml",
        "demo/alpha",
        "demo/beta",
        "demo/gamma",
    ] {
        assert!(results.contains(row), "no row for {row}: {results}");
    }
    assert!(
        results.contains("failed (yaml-syntax, exit 3)"),
        "{results}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("### Errors"), "{summary}");
    assert!(
        summary.contains("`algorithms/broken/algorithm.yaml` | `yaml-syntax`"),
        "{summary}"
    );
    assert!(
        summary.contains("`demo/beta` | `build-failed`"),
        "{summary}"
    );

    // A plan in Markdown says what could not be planned; a plan of nothing but failures
    // prints nothing on stdout (the errors are on stderr).
    let markdown = d.run(&["plan", "algorithms", "--format", "markdown"]);
    markdown.code(3);
    assert!(
        markdown.stdout.contains("### Errors")
            && markdown
                .stdout
                .contains("`algorithms/broken/algorithm.yaml`"),
        "{}",
        markdown.stdout
    );
    let text = d.run(&["plan", "algorithms"]);
    text.code(3)
        .stdout_has("1 more could not be planned: see the errors.");
    let only_broken = d.run(&["plan", "algorithms/broken"]);
    only_broken.code(3);
    assert_eq!(only_broken.stdout, "", "{}", only_broken.snapshot());
}

/// A saved plan of nothing (a pull request that changed no algorithm) applies as nothing, as
/// README's plan-in-one-job, apply-in-another flow needs.
#[test]
fn an_empty_saved_plan_applies_as_nothing() {
    let d = monorepo();
    d.run(&["apply", "algorithms", "--yes", "--push"]).code(0);
    d.repo.write("README.md", "# Our algorithms, documented\n");
    d.repo.commit("docs only");
    let plan = d.repo.dir.path().join("plan.json");
    d.run(&[
        "plan",
        "algorithms",
        "--changed-since",
        "HEAD~1",
        "--out",
        plan.to_str().unwrap(),
    ])
    .code(0);
    d.clear_log();
    let out = d.run(&["apply", plan.to_str().unwrap()]);
    out.code(0);
    assert!(!out.stderr.contains("algorithm.yaml"), "{}", out.snapshot());
    assert!(d.writes().is_empty(), "{:?}", d.writes());
    d.run(&[
        "apply",
        "--plan",
        plan.to_str().unwrap(),
        "--format",
        "json",
    ])
    .code(0)
    .stdout_has("\"errors\": []");
}

/// An API that does not answer is reported as one request's retries, not as every retry of
/// every read of every algorithm (a 3-folder plan printed 54 such lines).
#[test]
fn a_dead_api_is_one_line_per_retry_not_one_per_request() {
    let d = monorepo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let out = d.run_with(
        &["plan", "algorithms", "--timeout", "4s"],
        &[("ALGORITHMIA_API", dead.as_str())],
    );
    out.code(1);
    let retries: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("retrying in "))
        .collect();
    assert!(!retries.is_empty(), "{}", out.stderr);
    let first = retries[0].split(": ").nth(1).unwrap_or_default();
    assert!(
        retries.iter().all(|l| l.ends_with(first)),
        "retries of more than one request shown:\n{}",
        out.stderr
    );
}

/// Without `--push`, every algorithm that needs one is named (with its deploy commit, not
/// HEAD), and nothing is written.
#[test]
fn without_push_every_algorithm_needing_one_is_named() {
    let d = monorepo();
    let out = d.run(&["apply", "algorithms", "--yes"]);
    out.code(4).stderr_has("3 failures");
    for name in NAMES {
        out.stderr_has(&format!("  - demo/{name}: the commit to deploy, "));
    }
    assert!(d.writes().is_empty(), "{:?}", d.writes());
}

/// A rejected key fails every algorithm alike: said once with the fix (exit 5), while JSON
/// still has an entry per algorithm.
#[test]
fn a_rejected_key_is_said_once_for_all_algorithms() {
    let d = monorepo();
    let wrong = [("ALGORITHMIA_API_KEY", "simWrongKeyForTests00000000009")];
    let out = d.run_with(&["plan", "algorithms"], &wrong);
    out.code(5)
        .stderr_has("all 3 algorithms failed alike: the API key was rejected (401 from ")
        .stderr_has("hint: check ALGORITHMIA_API_KEY");
    assert_eq!(out.stderr.matches("rejected").count(), 1, "{}", out.stderr);
    let json = d.run_with(&["plan", "algorithms", "--format", "json"], &wrong);
    json.code(5);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        document["errors"].as_array().unwrap().len(),
        3,
        "{document}"
    );
}

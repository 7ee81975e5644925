//! GitOps over monorepos: many manifests in one repository, generated here, planned against
//! the emulator; `--changed-since` over commits that touch one manifest's source, another's
//! manifest, a summary_file elsewhere, a deletion and nothing; `--shard` partitions.

use std::collections::BTreeSet;

use crate::harness::{Deploy, Output};

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

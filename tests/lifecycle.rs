//! After the first publish: `history` lists what is published and where it came from;
//! `destroy` deletes an algorithm after a plan and a confirmation, refusing one with published
//! versions unless told; `rollback` publishes an earlier version's code as the next patch, and
//! the plan and the next publish know it.

use crate::harness::{Deploy, KEY};

fn bump(d: &Deploy, from: &str, to: &str, greeting: &str) {
    bump_from(d, from, to, "Hello, Ada!", greeting);
}

fn bump_from(d: &Deploy, from: &str, to: &str, old_greeting: &str, greeting: &str) {
    d.edit(
        &format!("semantic_version: {from}"),
        &format!("semantic_version: {to}"),
    );
    d.edit(old_greeting, greeting);
    d.repo.write(
        "src/hello_world.py",
        &format!(
            "def apply(input):\n    return f\"{}\"\n",
            greeting.replace("Ada", "{input}")
        ),
    );
    d.repo.commit(to);
}

#[test]
fn history_lists_published_versions_newest_first_with_their_commits() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    let first = d.repo.head();
    bump(&d, "1.0.0", "1.0.1", "Hi, Ada!");
    d.run(&["apply", "--yes", "--push"]).code(0);
    let second = d.repo.head();

    let out = d.run(&["history", "--format", "json"]);
    out.code(0);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(document["algorithm"], "demo/hello_world");
    let versions = document["versions"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["commit"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("1.0.1", second.as_str()), ("1.0.0", first.as_str())]
    );
    assert!(
        versions.iter().all(|v| v["built_at"].is_string()),
        "{versions:?}"
    );
    assert_eq!(versions[0]["callability"], "public");

    // By name, from anywhere, in text.
    let elsewhere = tempfile::tempdir().unwrap();
    let out: crate::harness::Output = d
        .command_in(elsewhere.path(), &["history", "demo/hello_world"])
        .output()
        .unwrap()
        .into();
    out.code(0)
        .stdout_has("demo/hello_world: 2 published versions, newest first")
        .stdout_has(&format!("1.0.1     {}", &second[..7]));
    let out: crate::harness::Output = d
        .command_in(elsewhere.path(), &["history", "demo/nothing_here"])
        .output()
        .unwrap()
        .into();
    out.code(1).stderr_has("demo/nothing_here");
}

#[test]
fn destroy_deletes_after_a_plan_and_guards_published_versions() {
    let d = Deploy::new(&[]);
    // Nothing there: nothing to do.
    d.run(&["destroy", "--yes"])
        .code(0)
        .stdout_has("nothing to destroy");
    d.run(&["apply", "--yes", "--push"]).code(0);
    d.clear_log();
    // Published versions: refused, naming them, nothing deleted.
    d.run(&["destroy", "--yes"])
        .code(4)
        .stderr_has("has published versions (1.0.0)")
        .stderr_has("--delete-published");
    // No terminal and no --yes: refused before anything is deleted.
    d.run(&["destroy", "--delete-published"]).code(64);
    assert!(d.writes().is_empty(), "{:?}", d.writes());
    let out = d.run(&["destroy", "--yes", "--delete-published", "--format", "json"]);
    out.code(0);
    let document: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(document["destroyed"], true);
    assert_eq!(document["published"], serde_json::json!(["1.0.0"]));
    let (status, _) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(status, 404);
    assert!(!d.repo.dir.path().join(".algodeploy/state.json").exists());
    // A plan afterwards creates it again.
    d.run(&["plan"])
        .code(0)
        .stdout_has("+ create demo/hello_world");
}

#[test]
fn rollback_publishes_an_earlier_versions_code_as_the_next_patch() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    bump(&d, "1.0.0", "1.0.1", "Hi, Ada!");
    d.run(&["apply", "--yes", "--push"]).code(0);

    // Not a published version; the newest already.
    d.run(&["rollback", "--to", "0.9.0", "--yes"])
        .code(4)
        .stderr_has("0.9.0 is not a published version");
    d.run(&["rollback", "--to", "1.0.1", "--yes"]).code(4);

    d.run(&["rollback", "--to", "1.0.0", "--yes"])
        .code(0)
        .stdout_has("^ publish 1.0.2 (from 1.0.1, revision bump)")
        .stderr_has("Rollback complete: 1.0.2 publishes the code of 1.0.0.");
    assert_eq!(d.published(), ["1.0.2", "1.0.1", "1.0.0"]);
    let (_, answer) = d.emulator.call(
        "POST",
        "/v1/algo/demo/hello_world/1.0.2",
        Some(KEY),
        Some(serde_json::json!("Ada")),
    );
    assert_eq!(answer["result"], "Hello, Ada!", "{answer}");
    let history: serde_json::Value =
        serde_json::from_str(&d.run(&["history", "--format", "json"]).code(0).stdout).unwrap();
    assert_eq!(history["versions"][0]["rollback_of"], "1.0.0", "{history}");

    // The plan says what happened and what publishing HEAD again needs.
    d.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("the newest published version 1.0.2 is a rollback to 1.0.0")
        .stdout_has("needs semantic_version 1.0.3");
    // The next publish replaces the rollback commit.
    bump_from(&d, "1.0.1", "1.0.3", "Hi, Ada!", "Hey, Ada!");
    d.run(&["apply", "--yes", "--push"]).code(0);
    assert_eq!(d.published()[0], "1.0.3");
}

#[test]
fn init_writes_an_algorithm_that_applies_right_away_and_never_overwrites() {
    let d = Deploy::new(&[]);
    let folder = d.repo.dir.path().join("algos/greeter_1");
    let out: crate::harness::Output = d
        .command(&["init", folder.to_str().unwrap(), "--owner", "demo"])
        .output()
        .unwrap()
        .into();
    // The next commands name the folder, as they must be run from the repository's root.
    out.code(0)
        .stderr_has("wrote")
        .stderr_has(&format!("`algodeploy plan {}`", folder.display()));
    for file in [
        "algorithm.yaml",
        "src/greeter_1.py",
        "requirements.txt",
        "algorithm.schema.json",
    ] {
        assert!(folder.join(file).is_file(), "{file}");
    }
    let manifest = std::fs::read_to_string(folder.join("algorithm.yaml")).unwrap();
    assert!(manifest.starts_with("# yaml-language-server: $schema=./algorithm.schema.json"));
    d.run(&["validate", "algos/greeter_1"]).code(0);
    d.repo.commit("init");
    d.run(&["apply", "algos/greeter_1", "--yes", "--push"])
        .code(0)
        .stderr_has("smoke test passed");
    assert_eq!(d.published_of("greeter_1"), ["1.0.0"]);
    // Again: refused, nothing written over.
    std::fs::write(folder.join("requirements.txt"), "mine\n").unwrap();
    let again: crate::harness::Output = d
        .command(&["init", folder.to_str().unwrap(), "--owner", "demo"])
        .output()
        .unwrap()
        .into();
    again.code(1).stderr_has("algorithm.yaml");
    assert_eq!(
        std::fs::read_to_string(folder.join("requirements.txt")).unwrap(),
        "mine\n"
    );
    let bad: crate::harness::Output = d
        .command(&[
            "init",
            "elsewhere",
            "--owner",
            "demo",
            "--runtime",
            "java11",
        ])
        .output()
        .unwrap()
        .into();
    bad.code(64);
}

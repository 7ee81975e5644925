//! After the first publish: `history` lists what is published and where it came from;
//! `destroy` deletes an algorithm after a plan and a confirmation, refusing one with published
//! versions unless told.

use crate::harness::{Deploy, KEY};

fn bump(d: &Deploy, from: &str, to: &str, greeting: &str) {
    d.edit(
        &format!("semantic_version: {from}"),
        &format!("semantic_version: {to}"),
    );
    d.edit("Hello, Ada!", greeting);
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

//! Declarative secrets: set, changed, removed and missing; the algorithm reads its secret in a
//! call; the value appears in no output at -vvv, no plan file, no record and no request log.

use crate::harness::{Deploy, KEY, Output};

const VALUE: &str = "s3cr3t-Value-0f-the-orders-db";
const OTHER: &str = "an0ther-Value-0f-the-orders-db";

fn with_secret() -> Deploy {
    let d = Deploy::new(&[]);
    let manifest = std::fs::read_to_string(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    d.repo.write(
        "algorithm.yaml",
        &format!(
            "{manifest}secrets:\n  - name: DB_PASSWORD\n    from_env: TEST_DB_PASS\n    description: Orders database\n"
        ),
    );
    d.repo.write(
        "src/hello_world.py",
        "import os\n\ndef apply(input):\n    if input == 'secret?':\n        return os.environ.get('DB_PASSWORD', 'unset')\n    return f\"Hello, {input}!\"\n",
    );
    d.repo.commit("a secret");
    d
}

fn run(d: &Deploy, args: &[&str], value: Option<&str>) -> Output {
    let mut command = d.command(args);
    command.stdin(std::process::Stdio::null());
    if let Some(value) = value {
        command.env("TEST_DB_PASS", value);
    }
    command.output().unwrap().into()
}

fn ask(d: &Deploy) -> serde_json::Value {
    let (_, answer) = d.emulator.call(
        "POST",
        "/v1/algo/demo/hello_world/1.0.0",
        Some(KEY),
        Some(serde_json::json!("secret?")),
    );
    answer["result"].clone()
}

#[test]
fn secrets_are_set_changed_and_removed_without_the_value_showing_anywhere() {
    let d = with_secret();
    // Missing: refused before anything is written.
    run(&d, &["apply", "--yes", "--push"], None)
        .code(4)
        .stderr_has("TEST_DB_PASS, which is not set");
    assert!(d.writes().is_empty(), "{:?}", d.writes());

    let plan_file = d.home().join("plan.json");
    run(
        &d,
        &["plan", "--out", plan_file.to_str().unwrap()],
        Some(VALUE),
    )
    .code(0)
    .stdout_has("* secret DB_PASSWORD from $TEST_DB_PASS: set");
    let applied = run(&d, &["-vvv", "apply", "--yes", "--push"], Some(VALUE));
    applied.code(0);
    assert_eq!(ask(&d), VALUE);

    run(&d, &["plan", "--detailed-exitcode"], Some(VALUE)).code(0);
    // A change of the secret alone is counted in the summary (it said "0 to update" and
    // nothing else while --detailed-exitcode said 2).
    run(&d, &["plan"], Some(OTHER))
        .code(0)
        .stdout_has("* secret DB_PASSWORD from $TEST_DB_PASS: changed")
        .stdout_has("0 to publish, 1 secret to set or remove.");
    let changed = run(&d, &["-vvv", "apply", "--yes"], Some(OTHER));
    changed
        .code(0)
        .stderr_has("0 published, 1 secret set or removed.");
    assert_eq!(ask(&d), OTHER);

    // A fresh runner cannot compare: it sets the value again.
    std::fs::remove_dir_all(d.repo.dir.path().join(".algodeploy")).unwrap();
    run(&d, &["plan"], Some(OTHER))
        .code(0)
        .stdout_has("will be set (no record to compare)");
    run(&d, &["apply", "--yes"], Some(OTHER)).code(0);

    // Dropped from the manifest: removed.
    d.edit(
        "secrets:\n  - name: DB_PASSWORD\n    from_env: TEST_DB_PASS\n    description: Orders database\n",
        "",
    );
    d.repo.commit("no secret");
    run(&d, &["plan", "--no-strict-version"], None)
        .code(0)
        .stdout_has("* secret DB_PASSWORD: removed");
    run(&d, &["apply", "--yes", "--no-strict-version"], None).code(0);
    let (_, algorithm) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    let id = algorithm["id"].as_str().unwrap();
    let (_, secrets) = d.emulator.call(
        "GET",
        &format!("/v1/algorithms/{id}/secrets"),
        Some(KEY),
        None,
    );
    assert_eq!(secrets["results"], serde_json::json!([]), "{secrets}");

    // Nowhere: outputs at -vvv, the plan file, the record, the request log.
    for (what, text) in [
        (
            "apply output",
            format!("{}{}", applied.stdout, applied.stderr),
        ),
        (
            "second apply output",
            format!("{}{}", changed.stdout, changed.stderr),
        ),
        ("plan file", std::fs::read_to_string(&plan_file).unwrap()),
        (
            "record",
            std::fs::read_to_string(d.repo.dir.path().join(".algodeploy/state.json")).unwrap(),
        ),
        (
            "request log",
            d.emulator
                .admin("GET", "/_emulator/requests", None)
                .1
                .to_string(),
        ),
    ] {
        for value in [VALUE, OTHER] {
            assert!(!text.contains(value), "the value is in the {what}");
        }
    }
}

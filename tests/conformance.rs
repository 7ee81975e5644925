//! Conformance with code nobody here wrote: Algorithmia's official Python packages drive the
//! emulator unchanged, and schemathesis checks the emulator's answers against the official
//! spec. The virtualenvs come from `.ci/python-setup` (README's test command runs it).

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::harness::{Emulator, KEY, OTHER_KEY, Repo, repo_root};

fn venv(name: &str) -> PathBuf {
    let root = std::env::var_os("ALGODEPLOY_VENVS")
        .map_or_else(|| repo_root().join("target/venvs"), PathBuf::from);
    let bin = root.join(name).join("bin");
    assert!(
        bin.join("python").exists(),
        "the `{name}` virtualenv is missing under {}: run `bash .ci/python-setup`",
        root.display()
    );
    bin
}

fn run_official_client(client: &str) {
    let emulator = Emulator::start(&["--build-seconds", "0.2"]);
    let out = Command::new(venv(client).join("python"))
        .arg(repo_root().join("conformance/official_clients.py"))
        .args([client, &emulator.url, KEY, OTHER_KEY])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the official `{client}` client failed against the emulator:\n{stdout}"
    );
    assert!(stdout.trim_end().ends_with(" 0 failed"), "{stdout}");
}

#[test]
fn official_python_client_algorithmia_2_0_5_works_unchanged() {
    run_official_client("algorithmia");
}

#[test]
fn official_generated_client_1_5_5_deserializes_every_answer() {
    run_official_client("api-client");
}

/// Schemathesis against the implemented operations of `openapispec.yml`, with path parameters
/// pinned to a seeded algorithm so that requests reach the logic rather than a 403. Checked:
/// no 5xx, response bodies match the spec's schemas, content types match. Not checked:
/// `status_code_conformance`, because the spec lists too few statuses (getAlgorithm lists only
/// 200, though the real service answered 403 and 404: the spec's notes).
#[test]
fn schemathesis_finds_no_schema_violations() {
    let emulator = Emulator::start(&[]);
    let (_, created) = emulator.create("hello");
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    let (status, compiled) =
        emulator.call("POST", "/v1/algorithms/demo/hello/compile", Some(KEY), None);
    assert_eq!(status, 200, "{compiled}");
    let (status, _) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/versions",
        Some(KEY),
        Some(json!({"version_info": {"version_type": "minor"}})),
    );
    assert_eq!(status, 200);
    let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/hello/builds", Some(KEY), None);

    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("spec.yml");
    let bin = venv("schemathesis");
    let prepared = Command::new(bin.join("python"))
        .arg(repo_root().join("conformance/schemathesis_spec.py"))
        .arg(repo_root().join("docs/api/openapispec.yml"))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        prepared.status.success(),
        "{}",
        String::from_utf8_lossy(&prepared.stderr)
    );
    let config = work.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\n\"path.username\" = \"demo\"\n\"path.algoname\" = \"hello\"\n\"path.algoCallableVersion\" = \"0.1.0\"\n\"path.algorithmId\" = \"{}\"\n\"path.algohash\" = \"{}\"\n\"path.buildid\" = \"{}\"\n",
            created["id"].as_str().unwrap(),
            repo.head(),
            builds["results"][0]["build_id"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let out = Command::new(bin.join("schemathesis"))
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&spec)
        .args(["--url", &emulator.url])
        .args(["-H", &format!("Authorization: Simple {KEY}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
        ])
        // Deleting the seeded algorithm would turn the rest of the run into 404s; the
        // official clients' tests cover delete.
        .args(["--exclude-operation-id", "deleteAlgorithm"])
        // The coverage phase crashed inside schemathesis 4.32.5 itself (a hypothesis
        // FlakyFailure while generating createAlgorithm bodies), not on an answer; fuzzing and
        // stateful testing exercise the same operations.
        .args(["--phases", "examples,fuzzing,stateful"])
        .args(["--max-time", "45", "--workers", "2", "--seed", "1"])
        .env("NO_COLOR", "1")
        // schemathesis keeps a cache folder where it runs.
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("Authentication failed"),
        "requests did not get past auth:\n{stdout}"
    );
}

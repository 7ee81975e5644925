//! Apply survives faults, crashes and races, and the key never leaks: each test drives the real
//! binary against `algodeploy emulator` with injected faults.

use serde_json::json;

use crate::harness::{Deploy, KEY};

/// A test's own read, retried through injected 503s.
fn get(d: &Deploy, path: &str) -> serde_json::Value {
    for _ in 0..50 {
        let (status, body) = d.emulator.call("GET", path, Some(KEY), None);
        if status != 503 {
            assert_eq!(status, 200, "{path}: {body}");
            return body;
        }
    }
    panic!("{path} kept answering 503");
}

fn published(d: &Deploy) -> Vec<(String, String)> {
    // Through `get`: the test's own read retries the injected 503s.
    crate::harness::published_list(&get(
        d,
        "/v1/algorithms/demo/hello_world/versions?published=true",
    ))
}

fn algorithms(d: &Deploy) -> usize {
    get(d, "/v1/users/demo/algorithms")
        .as_array()
        .unwrap()
        .len()
}

fn record_version(d: &Deploy) -> Option<String> {
    let text = std::fs::read_to_string(d.repo.dir.path().join(".algodeploy/state.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["version"].as_str().map(str::to_owned)
}

#[test]
fn thirty_percent_503s_with_retry_after_still_converge() {
    let d = Deploy::new(&["--fail-rate", "0.3"]);
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(0);
    assert_eq!(published(&d), vec![("1.0.0".to_string(), d.repo.head())]);
    assert_eq!(algorithms(&d), 1);
    d.run(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn a_dropped_connection_after_the_publish_commits_gives_one_version() {
    let d = Deploy::new(&[]);
    d.emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "POST", "path": "/v1/algorithms/demo/hello_world/versions", "drop_after_commit": true})));
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(0);
    out.stderr_has("the server has it; carrying on");
    assert_eq!(published(&d), vec![("1.0.0".to_string(), d.repo.head())]);
    let publishes = d
        .emulator
        .count("POST", "/v1/algorithms/demo/hello_world/versions");
    assert_eq!(publishes, 1, "the publish was resent blindly");
    assert_eq!(record_version(&d).as_deref(), Some("1.0.0"));
}

#[test]
fn a_dropped_connection_after_the_create_commits_gives_one_algorithm() {
    let d = Deploy::new(&[]);
    d.emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "POST", "path": "/v1/algorithms/demo", "drop_after_commit": true})),
    );
    d.run(&["apply", "--yes", "--push"]).code(0);
    assert_eq!(algorithms(&d), 1);
    let creates = d.emulator.count("POST", "/v1/algorithms/demo");
    assert_eq!(creates, 1);
}

#[test]
fn html_pages_and_malformed_json_are_clear_errors() {
    let d = Deploy::new(&[]);
    // A proxy's HTML page twice: retried, then the real answer.
    d.emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "body": "html", "times": 2})));
    let out = d.run(&["plan"]);
    out.code(0);
    let retries: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("retrying in "))
        .collect();
    assert_eq!(
        retries.len(),
        2,
        "each retry is reported once:\n{}",
        out.stderr
    );
    assert!(
        retries[0].contains("failed with 502: not JSON: `<html>"),
        "{}",
        retries[0]
    );
    // A 200 whose body is not JSON is not retried: a located, sanitised error.
    d.emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "body": "malformed-json", "status": 200})));
    let out = d.run(&["plan"]);
    out.code(1);
    assert!(
        out.stderr
            .contains("unexpected answer from http://127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("the body starts `{\"error\": {\"code\": 5001"),
        "{}",
        out.stderr
    );
    // 400-class answers are never retried.
    d.emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "status": 400, "times": 5})));
    d.emulator.admin("DELETE", "/_emulator/requests", None);
    d.run(&["plan"]).code(1);
    let gets = d.emulator.count("GET", "/v1/algorithms/demo/hello_world");
    assert_eq!(gets, 1, "a 400 was retried");
}

#[test]
fn answers_missing_fields_or_too_large_are_clear_errors() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    d.emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "body": "empty-object"})));
    let out = d.run(&["plan"]);
    out.code(1);
    out.stderr_has("the algorithm has no `id`");
    d.emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "body": "huge"})),
    );
    let out = d.run(&["plan"]);
    out.code(1);
    out.stderr_has("the body is larger than 8 MiB");
    assert!(
        out.stderr.len() < 2000,
        "the huge body was echoed: {} bytes",
        out.stderr.len()
    );
}

#[test]
fn redirects_are_not_followed() {
    let d = Deploy::new(&[]);
    d.emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello_world", "status": 307})),
    );
    let out = d.run(&["plan"]);
    out.code(1);
    out.stderr_has("failed with 307");
}

#[test]
fn a_kill_at_each_step_then_a_rerun_converges() {
    for step in ["create", "push", "publish"] {
        let d = Deploy::new(&[]);
        let out = d.run_with(
            &["apply", "--yes", "--push"],
            &[
                ("ALGORITHMIA_API_KEY", KEY),
                ("ALGODEPLOY_TEST_KILL_AFTER", step),
            ],
        );
        assert_eq!(
            out.exit_code(),
            -1,
            "{step}: expected death by SIGKILL\n{}",
            out.snapshot()
        );
        d.run(&["apply", "--yes", "--push"]).code(0);
        assert_eq!(algorithms(&d), 1, "{step}");
        assert_eq!(
            published(&d),
            vec![("1.0.0".to_string(), d.repo.head())],
            "{step}"
        );
        assert_eq!(record_version(&d).as_deref(), Some("1.0.0"), "{step}");
        d.run(&["plan", "--detailed-exitcode"]).code(0);
    }
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    d.edit(
        "tagline: Greets whoever calls it",
        "tagline: Killed mid-update",
    );
    d.repo.commit("tagline");
    let out = d.run_with(
        &["apply", "--yes"],
        &[
            ("ALGORITHMIA_API_KEY", KEY),
            ("ALGODEPLOY_TEST_KILL_AFTER", "update"),
        ],
    );
    assert_eq!(out.exit_code(), -1);
    d.run(&["apply", "--yes"]).code(0);
    d.run(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn sigint_stops_after_the_request_in_flight_and_a_rerun_finishes() {
    let d = Deploy::new(&["--build-seconds", "3"]);
    let child = d
        .command(&["apply", "--yes", "--push"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the build is running, then interrupt the wait.
    for _ in 0..100 {
        let (_, builds) = d.emulator.call(
            "GET",
            "/v1/algorithms/demo/hello_world/builds",
            Some(KEY),
            None,
        );
        if builds["results"].as_array().is_some_and(|b| !b.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    crate::harness::interrupt(child)
        .code(130)
        .stderr_has("run again to finish");
    assert!(published(&d).is_empty(), "it published after the interrupt");
    // What was applied before the interrupt (the create) is recorded.
    assert!(
        d.repo.dir.path().join(".algodeploy/state.json").exists(),
        "no record of the create"
    );
    assert_eq!(record_version(&d), None);
    d.run(&["apply", "--yes", "--push"]).code(0);
    assert_eq!(published(&d).len(), 1);
}

#[test]
fn a_second_apply_on_one_machine_fails_naming_the_lock_holder() {
    let d = Deploy::new(&[]);
    std::fs::create_dir_all(d.repo.dir.path().join(".algodeploy")).unwrap();
    std::fs::write(d.repo.dir.path().join(".algodeploy/.gitignore"), "*\n").unwrap();
    let lock_path = d.repo.dir.path().join(".algodeploy/lock");
    std::fs::write(
        &lock_path,
        "pid 4242 on build-host, since 2026-11-27T12:00:00Z",
    )
    .unwrap();
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(4);
    assert!(
        out.stderr
            .contains("pid 4242 on build-host, since 2026-11-27T12:00:00Z"),
        "{}",
        out.stderr
    );
    assert!(d.writes().is_empty());
    drop(held);
    d.run(&["apply", "--yes", "--push"]).code(0);
}

#[test]
fn two_applies_on_different_machines_publish_once() {
    let d = Deploy::new(&[]);
    // A second checkout of the same commit, as on another CI runner.
    let other = tempfile::tempdir().unwrap();
    let clone = std::process::Command::new("git")
        .args([
            "clone",
            "-q",
            d.repo.dir.path().to_str().unwrap(),
            other.path().join("c").to_str().unwrap(),
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(clone.status.success());
    let run = |dir: std::path::PathBuf| {
        let mut command = d.command_in(&dir, &["apply", "--yes", "--push"]);
        std::thread::spawn(move || command.output().unwrap())
    };
    let a = run(d.repo.dir.path().to_path_buf());
    let b = run(other.path().join("c"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)),
        "neither apply succeeded: {codes:?}\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    assert_eq!(published(&d), vec![("1.0.0".to_string(), d.repo.head())]);
    assert_eq!(algorithms(&d), 1);
    // Whichever lost converges on a re-run.
    d.run(&["apply", "--yes", "--push"]).code(0);
    assert_eq!(published(&d).len(), 1);
}

#[test]
fn the_sentinel_key_appears_nowhere() {
    // The emulator knows the sentinel as demo's key; every command runs at the highest
    // verbosity through success and failure paths.
    let sentinel = KEY;
    let d = Deploy::new(&["-vvv"]);
    let loud = |args: &[&str]| {
        d.run_with(
            args,
            &[("ALGORITHMIA_API_KEY", sentinel), ("RUST_LOG", "trace")],
        )
    };
    let plans = tempfile::tempdir().unwrap();
    let plan_file = plans.path().join("plan.json");
    let mut outputs = Vec::new();
    // Each path ends as expected (so the success and failure paths are the ones looked at).
    let mut record = |code: i32, o: crate::harness::Output| {
        o.code(code);
        outputs.push(format!("{}\n{}", o.stdout, o.stderr));
    };
    record(0, loud(&["-vvv", "validate"]));
    record(
        0,
        loud(&["-vvv", "plan", "--out", plan_file.to_str().unwrap()]),
    );
    record(4, loud(&["-vvv", "apply", "--yes"])); // fails: not pushed
    record(0, loud(&["-vvv", "apply", "--yes", "--push"]));
    record(0, loud(&["-vvv", "import", "demo/hello_world"]));
    record(1, loud(&["-vvv", "import", "demo/missing"]));
    d.edit("semantic_version: 1.0.0", "semantic_version: 9.0.0");
    record(4, loud(&["-vvv", "plan", "--allow-dirty"])); // version conflict
    record(
        5,
        d.run_with(
            &["-vvv", "plan", "--allow-dirty"],
            &[
                ("ALGORITHMIA_API_KEY", "simWrongSentinel000000000000"),
                ("RUST_LOG", "trace"),
            ],
        ),
    );
    let mut files = vec![
        std::fs::read_to_string(d.repo.dir.path().join(".algodeploy/state.json")).unwrap(),
        std::fs::read_to_string(&plan_file).unwrap(),
        std::fs::read_to_string(d.repo.dir.path().join(".git/config")).unwrap(),
    ];
    let (_, log) = d.emulator.admin("GET", "/_emulator/requests", None);
    files.push(log.to_string());
    for (i, text) in outputs.iter().chain(&files).enumerate() {
        assert!(
            !text.contains(sentinel),
            "the key leaked into output or file #{i}:\n{text}"
        );
        assert!(
            !text.contains("simWrongSentinel"),
            "a rejected key leaked into #{i}"
        );
    }
    assert!(
        outputs.iter().any(|o| o.contains("TRACE")),
        "trace logging was not on"
    );
}

#[test]
fn a_corrupt_or_newer_state_record_is_reported_not_ignored() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    let path = d.repo.dir.path().join(".algodeploy/state.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let out = d.run(&["plan"]);
    out.code(1);
    assert!(
        out.stderr.contains("is corrupt") && out.stderr.contains("not treated as empty"),
        "{}",
        out.stderr
    );
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": 7"),
    )
    .unwrap();
    let out = d.run(&["plan"]);
    out.code(1);
    assert!(
        out.stderr
            .contains("format 7, newer than this algodeploy understands"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_overall_timeout_bounds_a_run() {
    // Every answer takes 20 s; the run gives up after half a second, long before.
    let d = Deploy::new(&["--latency", "20000"]);
    let started = std::time::Instant::now();
    let out = d.run(&["plan", "--timeout", "500ms"]);
    let took = started.elapsed();
    out.code(1);
    out.stderr_has("gave up after --timeout 500ms");
    assert!(
        took < std::time::Duration::from_secs(10),
        "the run took {took:?}: the timeout did not end it"
    );
}

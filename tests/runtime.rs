//! Published means working: the emulator runs Python algorithms behind the call API, and apply
//! smoke-tests the exact build with `sample_input` before it publishes. Real processes end to
//! end: the emulator's Python workers, git pushes, the official Python client.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Deploy, Emulator, KEY, OTHER_KEY, Repo, repo_root};

/// A raw call of the call API: status and JSON answer.
pub(crate) fn call(
    emulator: &Emulator,
    path: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let response = emulator
        .client()
        .post(format!("{}{path}", emulator.url))
        .header("Authorization", format!("Simple {key}"))
        .header("Content-Type", content_type)
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[test]
fn apply_smoke_tests_then_publishes_and_the_official_client_calls_it() {
    let d = Deploy::new(&[]);
    let plan = d.run(&["plan"]);
    plan.code(0)
        .stdout_has("= test the build of")
        .stdout_has("with sample_input \"Ada\", expecting \"Hello, Ada!\"");
    let apply = d.run(&["apply", "--yes", "--push"]);
    apply
        .code(0)
        .stderr_has("smoke test passed (sample_output matches)");
    assert_eq!(d.published(), ["1.0.0"]);
    // The smoke test called the exact build, by its hash, before publishing.
    let head = d.repo.head();
    let calls = d.emulator.requests("/v1/algo/");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1, format!("/v1/algo/demo/hello_world/{head}"));
    // The official client calls it too (with the `conformance` feature: it needs the venvs).
    if cfg!(feature = "conformance") {
        official_client_calls(&d);
    }
}

fn official_client_calls(d: &Deploy) {
    let python = repo_root().join("target/venvs/algorithmia/bin/python");
    let script = format!(
        "import Algorithmia\nc = Algorithmia.client('{KEY}', api_address='{}')\nr = c.algo('demo/hello_world/1.0.0').pipe('Ada')\nprint(r.result)\nprint(r.metadata.content_type)\n",
        d.emulator.url
    );
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "Hello, Ada!\ntext\n");
}

#[test]
fn a_wrong_answer_stops_the_publish_showing_expected_and_actual() {
    let d = Deploy::new(&[]);
    d.edit("sample_output: Hello, Ada!", "sample_output: Goodbye, Ada!");
    d.repo.commit("wrong sample");
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(4)
        .stderr_has("smoke test")
        .stderr_has("nothing was published")
        .stderr_has("input: \"Ada\"")
        .stderr_has("expected: \"Goodbye, Ada!\"")
        .stderr_has("actual:   \"Hello, Ada!\"");
    assert!(d.published().is_empty());
    // With --skip-smoke-test the plan says so, and it publishes.
    let plan = d.run(&["plan", "--skip-smoke-test"]);
    plan.code(0)
        .stdout_has("smoke test with sample_input is skipped");
    assert!(!plan.stdout.contains("= test"), "{}", plan.stdout);
    d.run(&["apply", "--yes", "--skip-smoke-test"]).code(0);
    assert_eq!(d.published(), ["1.0.0"]);
}

#[test]
fn a_raising_algorithm_is_reported_with_its_message_and_stacktrace() {
    let d = Deploy::new(&[]);
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    raise ValueError(f\"no greeting for {input}\")\n",
    );
    d.repo.commit("broken");
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(4)
        .stderr_has("the algorithm raised an error")
        .stderr_has("no greeting for Ada")
        .stderr_has("Traceback")
        .stderr_has("ValueError")
        // The trace names the build's own file, not where the emulator keeps it.
        .stderr_has("File \"src/hello_world.py\"");
    assert!(!out.stderr.contains("/builds/"), "{}", out.stderr);
    assert!(d.published().is_empty());
}

#[test]
fn without_sample_input_apply_publishes_without_a_test() {
    let d = Deploy::new(&[]);
    d.edit("  sample_input: Ada\n", "");
    d.edit("  sample_output: Hello, Ada!\n", "");
    d.repo.commit("no samples");
    let plan = d.run(&["plan"]);
    plan.code(0);
    assert!(!plan.stdout.contains("= test"), "{}", plan.stdout);
    d.run(&["apply", "--yes", "--push"]).code(0);
    assert_eq!(d.published(), ["1.0.0"]);
    assert!(d.emulator.requests("/v1/algo/").is_empty());
}

/// An emulator with algorithm `name` built from `code` (and callable by its hash).
pub(crate) fn built(emulator: &Emulator, name: &str, code: &str, network: &str) -> String {
    let mut body = crate::harness::create_body(name);
    body["settings"]["network_access"] = network.into();
    let (status, created) = emulator.call("POST", "/v1/algorithms/demo", Some(KEY), Some(body));
    assert_eq!(status, 201, "{created}");
    let repo = Repo::python(name);
    repo.write(&format!("src/{name}.py"), code);
    let head = repo.commit("code");
    assert!(repo.push(emulator, "demo", KEY, name).status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, builds) = emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/builds"),
            Some(KEY),
            None,
        );
        let build = builds["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["commit_sha"] == head)
            .cloned();
        if let Some(b) = build
            && b["status"] != "in-progress"
        {
            assert_eq!(b["status"], "succeeded", "{b}");
            return head;
        }
        assert!(Instant::now() < deadline, "no build of {head}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn inputs_outputs_stdout_timeouts_and_crashes() {
    let emulator = Emulator::start(&[]);
    let code = "import os, time\n\ndef apply(input):\n    if input == 'crash':\n        os._exit(3)\n    if input == 'slow':\n        time.sleep(30)\n    if isinstance(input, bytes):\n        return input[::-1]\n    print('seen', input)\n    if isinstance(input, dict):\n        return {'keys': sorted(input)}\n    return 'got ' + str(input)\n";
    let head = built(&emulator, "kinds", code, "full");
    let path = format!("/v1/algo/demo/kinds/{head}");
    let (status, answer) = call(&emulator, &path, KEY, "text/plain", b"Ada".to_vec());
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("got Ada")),
        "{answer}"
    );
    assert_eq!(answer["metadata"]["content_type"], "text");
    let (_, answer) = call(
        &emulator,
        &format!("{path}?stdout=true"),
        KEY,
        "application/json",
        br#"{"b":1,"a":2}"#.to_vec(),
    );
    assert_eq!(answer["result"], json!({"keys": ["a", "b"]}));
    assert_eq!(answer["metadata"]["content_type"], "json");
    assert_eq!(answer["metadata"]["stdout"], "seen {'b': 1, 'a': 2}\n");
    let (_, answer) = call(
        &emulator,
        &path,
        KEY,
        "application/octet-stream",
        vec![1, 2, 3],
    );
    assert_eq!(answer["metadata"]["content_type"], "binary");
    assert_eq!(answer["result"], "AwIB");
    // A run past its timeout is killed and says so; the next call gets a new worker.
    let started = Instant::now();
    let (_, answer) = call(
        &emulator,
        &format!("{path}?timeout=1"),
        KEY,
        "text/plain",
        b"slow".to_vec(),
    );
    assert_eq!(answer["error"]["error_type"], "TimeoutError", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (_, answer) = call(&emulator, &path, KEY, "text/plain", b"again".to_vec());
    assert_eq!(answer["result"], "got again", "{answer}");
    // A crashing worker is restarted.
    let (_, answer) = call(&emulator, &path, KEY, "text/plain", b"crash".to_vec());
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("crashed"),
        "{answer}"
    );
    let (_, answer) = call(&emulator, &path, KEY, "text/plain", b"after".to_vec());
    assert_eq!(answer["result"], "got after", "{answer}");
    // Concurrent calls all get their own answers.
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let (url, path) = (emulator.url.clone(), path.clone());
            std::thread::spawn(move || {
                let response = crate::harness::http()
                    .post(format!("{url}{path}"))
                    .header("Authorization", KEY)
                    .header("Content-Type", "text/plain")
                    .body(format!("n{i}"))
                    .send()
                    .unwrap();
                let value: serde_json::Value = response.json().unwrap();
                assert_eq!(value["result"], format!("got n{i}"), "{value}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn versions_resolve_and_private_ones_answer_only_their_owner() {
    let emulator = Emulator::start(&[]);
    let head = built(
        &emulator,
        "greeter",
        "def apply(input):\n    return 'hi ' + input\n",
        "full",
    );
    // Unpublished: its hash for the owner only.
    let path = format!("/v1/algo/demo/greeter/{head}");
    assert_eq!(
        call(&emulator, &path, KEY, "text/plain", b"a".to_vec()).1["result"],
        "hi a"
    );
    let (status, answer) = call(&emulator, &path, OTHER_KEY, "text/plain", b"a".to_vec());
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = call(
        &emulator,
        "/v1/algo/demo/greeter/9.9.9",
        KEY,
        "text/plain",
        b"a".to_vec(),
    );
    assert_eq!(status, 404);
    assert_eq!(
        answer["error"]["message"],
        "algorithm algo://demo/greeter/9.9.9 not found"
    );
    let publish = |callability: &str, version_type: &str| {
        let (status, body) = emulator.call(
            "POST",
            "/v1/algorithms/demo/greeter/versions",
            Some(KEY),
            Some(json!({"settings": {"algorithm_callability": callability}, "version_info": {"version_type": version_type}})),
        );
        assert_eq!(status, 200, "{body}");
    };
    publish("private", "minor");
    let (status, _) = call(
        &emulator,
        "/v1/algo/demo/greeter/0.1.0",
        OTHER_KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(status, 404, "a private version is the owner's only");
    assert_eq!(
        call(
            &emulator,
            "/v1/algo/demo/greeter/0.1.0",
            KEY,
            "text/plain",
            b"x".to_vec()
        )
        .1["result"],
        "hi x"
    );
    // A new build, published public with a major version.
    let repo = Repo::python("greeter");
    repo.write(
        "src/greeter.py",
        "def apply(input):\n    return 'hi ' + input\n# v2\n",
    );
    let second = repo.commit("v2");
    assert!(
        repo.push(&emulator, "demo", KEY, "greeter")
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(
        &emulator,
        &format!("/v1/algo/demo/greeter/{second}"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    )
    .0 != 200
    {
        assert!(Instant::now() < deadline, "no build of {second}");
        std::thread::sleep(Duration::from_millis(50));
    }
    publish("public", "major");
    for version in ["", "/1.0.0", "/1.*", "/1.0.*"] {
        let (status, answer) = call(
            &emulator,
            &format!("/v1/algo/demo/greeter{version}"),
            OTHER_KEY,
            "text/plain",
            b"x".to_vec(),
        );
        assert_eq!(
            (status, &answer["result"]),
            (200, &json!("hi x")),
            "{version}: {answer}"
        );
    }
    // Raw and void output.
    let raw = emulator
        .client()
        .post(format!(
            "{}/v1/algo/demo/greeter/1.0.0?output=raw",
            emulator.url
        ))
        .header("Authorization", KEY)
        .header("Content-Type", "text/plain")
        .body("raw")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(raw, "hi raw");
    let (_, void) = call(
        &emulator,
        "/v1/algo/demo/greeter/1.0.0?output=void",
        KEY,
        "text/plain",
        b"v".to_vec(),
    );
    assert_eq!(void["async"], "void");
    assert!(void["request_id"].as_str().unwrap().starts_with("req-"));
}

/// Network access in the sandbox: isolated algorithms never have it; full ones share the
/// host's network only when the emulator is started with `--algorithm-network` (a shared
/// emulator's loopback holds its services and a signed-in console's cookie), and the build log
/// says which.
#[test]
fn algorithms_reach_the_hosts_network_only_when_full_and_allowed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            drop(stream);
        }
    });
    let code = format!(
        "import socket\n\ndef apply(input):\n    try:\n        socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n        return 'reached'\n    except OSError as e:\n        return 'no network'\n"
    );
    let log_of = |emulator: &Emulator, name: &str| {
        let (_, builds) = emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/builds"),
            Some(KEY),
            None,
        );
        let build_id = builds["results"][0]["build_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, log) = emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/builds/{build_id}/logs"),
            Some(KEY),
            None,
        );
        log["logs"].as_str().unwrap().to_string()
    };
    let result = |emulator: &Emulator, name: &str, head: &str| {
        let (_, answer) = call(
            emulator,
            &format!("/v1/algo/demo/{name}/{head}"),
            KEY,
            "text/plain",
            b"x".to_vec(),
        );
        answer["result"].clone()
    };
    for allowed in [false, true] {
        let emulator = Emulator::start(if allowed {
            &["--algorithm-network"]
        } else {
            &[]
        });
        let isolated = built(&emulator, "closed", &code, "isolated");
        let open = built(&emulator, "open", &code, "full");
        let log = log_of(&emulator, "closed");
        let enforced = log.contains("calls run without network");
        assert!(enforced || log.contains("is not enforced here"), "{log}");
        assert_eq!(
            result(&emulator, "closed", &isolated),
            if enforced { "no network" } else { "reached" }
        );
        // Without a sandbox (a single owner) full algorithms have the network as before.
        let open_log = log_of(&emulator, "open");
        let sandboxed = open_log.contains("algorithms run in a bubblewrap sandbox");
        if sandboxed && !allowed {
            assert!(
                open_log.contains("network_access full: calls run without network here"),
                "{open_log}"
            );
            assert_eq!(result(&emulator, "open", &open), "no network");
        } else {
            assert!(
                !open_log.contains("calls run without network"),
                "{open_log}"
            );
            assert_eq!(result(&emulator, "open", &open), "reached");
        }
    }
}

#[test]
fn other_languages_are_refused_clearly_and_their_smoke_test_skipped() {
    let emulator = Emulator::start(&[]);
    let mut body = crate::harness::create_body("javaone");
    body["settings"]["package_set"] = "java11".into();
    emulator.call("POST", "/v1/algorithms/demo", Some(KEY), Some(body));
    // The starter template of a Java algorithm builds.
    let (status, compiled) = emulator.call(
        "POST",
        "/v1/algorithms/demo/javaone/compile",
        Some(KEY),
        None,
    );
    assert_eq!(
        (status, &compiled["compilation"]["successful"]),
        (200, &json!(true)),
        "{compiled}"
    );
    let hash = compiled["version_info"]["git_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, answer) = call(
        &emulator,
        &format!("/v1/algo/demo/javaone/{hash}"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(
        answer["error"]["message"],
        "the emulator runs Python algorithms only"
    );
}

#[test]
fn a_new_algorithm_starts_with_the_starter_template_and_someone_elses_push_is_refused() {
    let d = Deploy::new(&[]);
    d.emulator.create("hello_world");
    // `git clone` right after create is not empty.
    let clone = tempfile::tempdir().unwrap();
    let url = format!(
        "http://demo:{KEY}@{}/git/demo/hello_world.git",
        d.emulator.host()
    );
    let out = std::process::Command::new("git")
        .args(["clone", "-q", &url, "."])
        .current_dir(clone.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "src/hello_world.py",
        "src/__init__.py",
        "src/hello_world_test.py",
        "requirements.txt",
    ] {
        assert!(
            clone.path().join(file).is_file(),
            "{file} missing from the template"
        );
    }
    // The template's build is there and succeeded; the user's first push replaces it.
    let plan = d.run(&["plan"]);
    plan.code(0)
        .stdout_has("replacing the platform's starter commit");
    // Someone pushes on top of the template: now a plain refusal, nothing overwritten.
    let someone = Repo { dir: clone };
    someone.write("NOTES.md", "mine\n");
    someone.commit("someone's work");
    assert!(
        someone
            .try_git(&["push", "-q", &url, "HEAD:master"])
            .status
            .success()
    );
    let plan = d.run(&["apply", "--yes", "--push"]);
    plan.code(4).stderr_has("someone pushed");
    assert!(d.published().is_empty());
}

#[test]
fn the_seeds_publish_snippet_with_blank_fields_publishes_the_next_minor() {
    let emulator = Emulator::start(&[]);
    let head = built(
        &emulator,
        "seeded",
        "def apply(input):\n    return input\n",
        "full",
    );
    let (status, answer) = emulator.call(
        "POST",
        "/v1/algorithms/demo/seeded/versions",
        Some(KEY),
        Some(json!({
            "details": {"label": "Seeded label"},
            "settings": {"algorithm_callability": "private"},
            "version_info": {"semantic_version": "", "git_hash": "", "version_type": "minor", "release_notes": "seed"}
        })),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version_info"]["semantic_version"], "0.1.0");
    assert_eq!(answer["version_info"]["git_hash"], head);
    let (_, algorithm) = emulator.call("GET", "/v1/algorithms/demo/seeded", Some(KEY), None);
    assert_eq!(algorithm["details"]["label"], "Seeded label");
}

#[test]
fn a_relative_data_dir_still_runs_algorithms() {
    // Found by trying README's steps by hand: `--data-dir data` broke every call, because the
    // worker runs in the build's folder.
    let cwd = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--key",
            &format!("demo={KEY}"),
            "--build-seconds",
            "0",
            "--data-dir",
            "data",
        ])
        .current_dir(cwd.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let client = crate::harness::http();
    let created = client
        .post(format!("{url}/v1/algorithms/demo"))
        .header("Authorization", format!("Simple {KEY}"))
        .json(&crate::harness::create_body("rel"))
        .send()
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    // The starter template's build: callable by its hash once it is built.
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let builds: serde_json::Value = client
            .get(format!("{url}/v1/algorithms/demo/rel/builds"))
            .header("Authorization", format!("Simple {KEY}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if let Some(b) = builds["results"].as_array().and_then(|r| r.first())
            && b["status"] == "succeeded"
        {
            let hash = b["commit_sha"].as_str().unwrap();
            let answer: serde_json::Value = client
                .post(format!("{url}/v1/algo/demo/rel/{hash}"))
                .header("Authorization", format!("Simple {KEY}"))
                .header("Content-Type", "text/plain")
                .body("Ada")
                .send()
                .unwrap()
                .json()
                .unwrap();
            break answer;
        }
        assert!(Instant::now() < deadline, "no build: {builds}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer["result"], "hello Ada", "{answer}");
}

//! `algodeploy emulator`: the real binary over real HTTP, pushed to with the stock git client.

use serde_json::json;

use crate::harness::{Emulator, KEY, OTHER_KEY, READ_KEY, Repo, Test, create_body};

fn wait_for_build(emulator: &Emulator, name: &str, commit: &str) -> serde_json::Value {
    for _ in 0..200 {
        let (status, builds) = emulator.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/builds"),
            Some(KEY),
            None,
        );
        assert_eq!(status, 200, "{builds}");
        if let Some(build) = builds["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["commit_sha"] == commit)
            && build["status"] != "in-progress"
        {
            return build.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the build of {commit} did not finish");
}

/// GET the logs of `build` of demo/hello.
fn build_logs(emulator: &Emulator, build: &serde_json::Value) -> (u16, serde_json::Value) {
    let id = build["build_id"].as_str().expect("a build id");
    emulator.call(
        "GET",
        &format!("/v1/algorithms/demo/hello/builds/{id}/logs"),
        Some(KEY),
        None,
    )
}

/// Create `name`, push a buildable commit with the stock git client and wait for its build.
fn created_and_built(emulator: &Emulator, name: &str) -> Repo {
    let (status, body) = emulator.create(name);
    assert_eq!(status, 201, "{body}");
    let repo = Repo::python(name);
    assert!(repo.push(emulator, "demo", KEY, name).status.success());
    wait_for_build(emulator, name, &repo.head());
    repo
}

#[test]
fn create_push_build_publish_end_to_end() {
    let emulator = Emulator::start(&[]);
    let (status, created) = emulator.create("hello");
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resource_type"], "algorithm");
    assert_eq!(created["settings"]["algorithm_callability"], "private");
    assert_eq!(created["id"].as_str().unwrap().len(), 36);

    let repo = Repo::python("hello");
    let out = repo.push(&emulator, "demo", KEY, "hello");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The build exists as soon as the push returns.
    let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/hello/builds", Some(KEY), None);
    assert_eq!(builds["results"][0]["commit_sha"], repo.head());
    let build = wait_for_build(&emulator, "hello", &repo.head());
    assert_eq!(build["status"], "succeeded", "{build}");
    assert_eq!(build["resource_type"], "algorithm_build");
    let (status, logs) = build_logs(&emulator, &build);
    assert_eq!(status, 200);
    assert!(
        logs["logs"]
            .as_str()
            .unwrap()
            .contains("found src/hello.py"),
        "{logs}"
    );

    let (status, published) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/versions",
        Some(KEY),
        Some(json!({"version_info": {"version_type": "minor", "release_notes": "first"}, "settings": {"algorithm_callability": "public"}})),
    );
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["version_info"]["semantic_version"], "0.1.0");
    assert_eq!(published["version_info"]["git_hash"], repo.head());
    assert_eq!(published["settings"]["algorithm_callability"], "public");

    // A second commit, a revision bump, with the declared version and hash checked.
    repo.write("README.md", "# Hello\n");
    let second = repo.commit("docs");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    wait_for_build(&emulator, "hello", &second);
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/version",
        Some(KEY),
        Some(json!({"version_info": {"version_type": "revision", "semantic_version": "0.1.1", "git_hash": second}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version_info"]["semantic_version"], "0.1.1");
    let (_, list) = emulator.call(
        "GET",
        "/v1/algorithms/demo/hello/versions?published=true",
        Some(KEY),
        None,
    );
    let versions: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version_info"]["semantic_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["0.1.1", "0.1.0"]);
    assert_eq!(list["marker"], serde_json::Value::Null);
    assert_eq!(list["next_link"], serde_json::Value::Null);

    // A fresh clone has the pushed history.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("http://demo:{KEY}@{}/git/demo/hello.git", emulator.host());
    let out = std::process::Command::new("git")
        .args([
            "clone",
            "-q",
            &url,
            clone.path().join("c").to_str().unwrap(),
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(clone.path().join("c/README.md").exists());
}

#[test]
fn a_build_without_the_entry_point_fails_with_a_log_naming_it() {
    let emulator = Emulator::start(&[]);
    emulator.create("hello");
    let repo = Repo::python("other_name");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    let build = wait_for_build(&emulator, "hello", &repo.head());
    assert_eq!(build["status"], "failed");
    let (_, logs) = build_logs(&emulator, &build);
    assert!(
        logs["logs"]
            .as_str()
            .unwrap()
            .contains("missing src/hello.py"),
        "{logs}"
    );
    // The failed commit cannot be published (only the starter template's build succeeded).
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/versions",
        Some(KEY),
        Some(json!({"version_info": {"git_hash": repo.head()}})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(2015)),
        "{body}"
    );
}

#[test]
fn build_logs_are_404_while_the_build_runs() {
    let emulator = Emulator::start(&["--build-seconds", "5"]);
    emulator.create("hello");
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/hello/builds", Some(KEY), None);
    let build = &builds["results"][0];
    assert_eq!(build["status"], "in-progress");
    assert!(
        build.get("finished_at").is_none(),
        "unknown fields are left out: {build}"
    );
    let (status, body) = build_logs(&emulator, build);
    assert_eq!((status, body["error"]["code"].as_u64()), (404, Some(1011)));
}

#[test]
fn keys_are_checked_for_owner_and_permission() {
    let emulator = Emulator::start(&[]);
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo",
        None,
        Some(create_body("hello")),
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(2002)));
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo",
        Some("simNotAKeyAtAll0000000000000"),
        Some(create_body("hello")),
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (401, Some(2002)));
    // Another owner's key neither writes nor reads demo's algorithms.
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo",
        Some(OTHER_KEY),
        Some(create_body("hello")),
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (403, Some(2001)));
    assert_eq!(emulator.create("hello").0, 201);
    assert_eq!(
        emulator
            .call("GET", "/v1/algorithms/demo/hello", Some(OTHER_KEY), None)
            .0,
        403
    );
    // A read-only key reads but cannot write.
    assert_eq!(
        emulator
            .call("GET", "/v1/algorithms/demo/hello", Some(READ_KEY), None)
            .0,
        200
    );
    let (status, body) = emulator.call(
        "PUT",
        "/v1/algorithms/demo/hello",
        Some(READ_KEY),
        Some(json!({"details": {"label": "X"}})),
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (403, Some(2001)));
    // The bare key (as the official Python client sends it) works too; Bearer does not.
    let client = crate::harness::http();
    let bare = client
        .get(format!("{}/v1/algorithms/demo/hello", emulator.url))
        .header("Authorization", KEY)
        .send()
        .unwrap();
    assert_eq!(bare.status().as_u16(), 200);
    let bearer = client
        .get(format!("{}/v1/algorithms/demo/hello", emulator.url))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 401);
    // git: the read-only key may fetch but not push; the user must be the key's owner.
    let repo = Repo::python("hello");
    let out = repo.push(&emulator, "demo", READ_KEY, "hello");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("http://other:{KEY}@{}/git/demo/hello.git", emulator.host());
    assert!(
        !repo
            .try_git(&["push", "-q", &url, "HEAD:master"])
            .status
            .success()
    );
    let url = format!(
        "http://demo:{READ_KEY}@{}/git/demo/hello.git",
        emulator.host()
    );
    assert!(repo.try_git(&["ls-remote", &url]).status.success());
}

#[test]
fn the_key_never_appears_in_the_request_log_or_emulator_output() {
    let mut emulator = Emulator::start(&["-vvv"]);
    emulator.create("hello");
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    emulator.call(
        "GET",
        "/v1/algorithms/demo/hello",
        Some("simWrongKey00000000000000000"),
        None,
    );
    let (_, log) = emulator.admin("GET", "/_emulator/requests", None);
    let text = log.to_string();
    assert!(text.contains("/git/demo/hello.git"), "{text}");
    assert!(
        !text.contains(KEY) && !text.contains("simWrongKey"),
        "{text}"
    );
    let (_, stderr) = emulator.stop();
    assert!(
        !stderr.contains(KEY) && !stderr.contains("simWrongKey"),
        "{stderr}"
    );
}

#[test]
fn without_keys_a_demo_key_is_made_and_printed() {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a graceful stop: {status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let key = stderr
        .lines()
        .find_map(|l| l.strip_prefix("export ALGORITHMIA_API_KEY="))
        .unwrap_or_else(|| panic!("no key printed: {stderr}"));
    assert_eq!(key.len(), 28);
    assert!(key.starts_with("sim"));
    assert!(!url.is_empty());
}

#[test]
fn listening_beyond_loopback_needs_allow_remote() {
    let out = Test::new()
        .args(&["emulator", "--listen", "0.0.0.0:0"])
        .run();
    out.code(64);
    out.stderr_has("--allow-remote");
    Test::new()
        .args(&["emulator", "--key", "demo"])
        .run()
        .code(64);
    Test::new()
        .args(&["emulator", "--fail-rate", "2"])
        .run()
        .code(64);
}

#[test]
fn two_simultaneous_publishes_make_one_version() {
    let emulator = Emulator::start(&[]);
    created_and_built(&emulator, "hello");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let statuses: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                let emulator = &emulator;
                scope.spawn(move || {
                    barrier.wait();
                    emulator.call(
                        "POST",
                        "/v1/algorithms/demo/hello/versions",
                        Some(KEY),
                        Some(json!({"version_info": {"version_type": "major"}})),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(|(s, b)| *s == 400 && b["error"]["code"] == 1007)
    );
    let (_, list) = emulator.call(
        "GET",
        "/v1/algorithms/demo/hello/versions?published=true",
        Some(KEY),
        None,
    );
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
}

#[test]
fn state_survives_a_restart_and_a_sigkill() {
    let mut emulator = Emulator::start(&[]);
    let repo = created_and_built(&emulator, "hello");
    let (status, _) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/versions",
        Some(KEY),
        Some(json!({"version_info": {"version_type": "major"}})),
    );
    assert_eq!(status, 200);
    let (code, _) = emulator.stop();
    assert_eq!(code, Some(0));
    emulator.restart();
    let (_, list) = emulator.call(
        "GET",
        "/v1/algorithms/demo/hello/versions?published=true",
        Some(KEY),
        None,
    );
    assert_eq!(
        list["results"][0]["version_info"]["semantic_version"],
        "1.0.0"
    );
    assert!(
        repo.try_git(&[
            "ls-remote",
            &format!("http://demo:{KEY}@{}/git/demo/hello.git", emulator.host())
        ])
        .status
        .success()
    );

    // Every write answered 2xx before a SIGKILL is there afterwards.
    let mut created = Vec::new();
    for i in 0..5 {
        let name = format!("algo{i}");
        let (status, _) = emulator.create(&name);
        assert_eq!(status, 201);
        created.push(name);
    }
    emulator.kill();
    emulator.restart();
    for name in created {
        assert_eq!(
            emulator
                .call(
                    "GET",
                    &format!("/v1/algorithms/demo/{name}"),
                    Some(KEY),
                    None
                )
                .0,
            200,
            "{name} lost"
        );
    }
}

#[test]
fn a_build_running_at_a_kill_finishes_after_the_restart() {
    let mut emulator = Emulator::start(&["--build-seconds", "1"]);
    emulator.create("hello");
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    emulator.kill();
    emulator.restart();
    let build = wait_for_build(&emulator, "hello", &repo.head());
    assert_eq!(build["status"], "succeeded");
}

#[test]
fn publishing_follows_the_version_rules() {
    let emulator = Emulator::start(&[]);
    let repo = created_and_built(&emulator, "hello");
    // A declared version that the bump does not give is refused, naming both.
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/versions",
        Some(KEY),
        Some(json!({"version_info": {"version_type": "revision", "semantic_version": "1.0.0"}})),
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(2015)));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("0.0.1"),
        "{body}"
    );
    let (status, _) = emulator.call("POST", "/v1/algorithms/demo/hello/versions", Some(KEY), Some(json!({"version_info": {"version_type": "revision"}, "settings": {"algorithm_callability": "private"}})));
    assert_eq!(status, 200);
    // Changing callability needs a major version.
    repo.write("x.txt", "x");
    let next = repo.commit("x");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    wait_for_build(&emulator, "hello", &next);
    let (status, body) = emulator.call("POST", "/v1/algorithms/demo/hello/versions", Some(KEY), Some(json!({"version_info": {"version_type": "minor"}, "settings": {"algorithm_callability": "public"}})));
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(2015)),
        "{body}"
    );
    let (status, body) = emulator.call("POST", "/v1/algorithms/demo/hello/versions", Some(KEY), Some(json!({"version_info": {"type": "major"}, "settings": {"algorithm_callability": "public"}})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version_info"]["semantic_version"], "1.0.0");
}

#[test]
fn compile_builds_master_synchronously() {
    let emulator = Emulator::start(&[]);
    emulator.create("hello");
    // Right after create, master is the platform's starter template, and it builds.
    let (status, body) =
        emulator.call("POST", "/v1/algorithms/demo/hello/compile", Some(KEY), None);
    assert_eq!(
        (status, body["compilation"]["successful"].as_bool()),
        (200, Some(true)),
        "the starter template: {body}"
    );
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    let (status, body) = emulator.call(
        "POST",
        "/v1/algorithms/demo/hello/compile",
        Some(KEY),
        Some(json!({})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["compilation"]["successful"], true);
    assert_eq!(body["version_info"]["git_hash"], repo.head());
    // Building the same commit again updates its version; it does not add one (the template's
    // version and the pushed commit's: two; builds: the template's twice and the push's twice).
    let (_, versions) = emulator.call("GET", "/v1/algorithms/demo/hello/versions", Some(KEY), None);
    assert_eq!(versions["results"].as_array().unwrap().len(), 2);
    let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/hello/builds", Some(KEY), None);
    assert_eq!(builds["results"].as_array().unwrap().len(), 4);
}

#[test]
fn builds_are_paged_newest_first() {
    let emulator = Emulator::start(&[]);
    emulator.create("hello");
    let repo = Repo::python("hello");
    let mut commits = Vec::new();
    for i in 0..3 {
        repo.write("n.txt", &i.to_string());
        commits.push(repo.commit(&format!("c{i}")));
        assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/algorithms/demo/hello/builds?limit=2".to_string();
    loop {
        let (status, page) = emulator.call("GET", &path, Some(KEY), None);
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["commit_sha"].as_str().unwrap().to_string()),
        );
        match page["next_link"].as_str() {
            Some(link) => path = link.trim_start_matches(&emulator.url).to_string(),
            None => {
                assert_eq!(page["marker"], serde_json::Value::Null);
                break;
            }
        }
    }
    commits.reverse();
    // Newest first, and last of all the starter template's build from create.
    assert_eq!(seen.len(), commits.len() + 1, "{seen:?}");
    assert_eq!(seen[..commits.len()], commits[..]);
    let (status, body) = emulator.call(
        "GET",
        "/v1/algorithms/demo/hello/builds?limit=0",
        Some(KEY),
        None,
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(5003)));
    let (status, body) = emulator.call(
        "GET",
        "/v1/algorithms/demo/hello/builds?marker=%%%",
        Some(KEY),
        None,
    );
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(5002)));
}

#[test]
fn errors_have_the_spec_shape_everywhere() {
    let emulator = Emulator::start(&[]);
    for (method, path) in [
        ("GET", "/v1/algorithms/demo/missing"),
        ("GET", "/v1/nothing/here"),
        ("PATCH", "/v1/algorithms/demo/missing"),
        ("GET", "/elsewhere"),
    ] {
        let (status, body) = emulator.call(method, path, Some(KEY), None);
        assert!(status >= 400, "{method} {path}: {status}");
        assert!(
            body["error"]["code"].is_u64()
                && body["error"]["message"].is_string()
                && body["error"]["id"].is_string(),
            "{method} {path}: {body}"
        );
    }
    let (status, body) = emulator.call("GET", "/v1/algorithms/demo/missing", Some(KEY), None);
    assert_eq!(
        (
            status,
            body["error"]["code"].as_u64(),
            body["error"]["message"].as_str()
        ),
        (404, Some(1001), Some("No such algorithm"))
    );
    emulator.create("hello");
    let (status, body) = emulator.create("hello");
    assert_eq!((status, body["error"]["code"].as_u64()), (400, Some(1002)));
    let (status, body) = emulator.call("POST", "/v1/algorithms/demo", Some(KEY), Some(json!({"name": "x", "details": {"label": "X"}, "settings": {"license": "mit", "source_visibility": "closed", "network_access": "full", "pipeline_enabled": true, "package_set": "python38"}})));
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (400, Some(2015)),
        "closed needs apl: {body}"
    );
    // Unknown request fields are tolerated, as the real service did.
    let mut body = create_body("tolerant");
    body["unexpected"] = json!(true);
    body["settings"]["future_setting"] = json!("x");
    assert_eq!(
        emulator
            .call("POST", "/v1/algorithms/demo", Some(KEY), Some(body))
            .0,
        201
    );
}

#[test]
fn algorithms_are_reachable_by_id_and_listed_per_owner() {
    let emulator = Emulator::start(&[]);
    let (_, created) = emulator.create("hello");
    let id = created["id"].as_str().unwrap();
    let (status, by_id) = emulator.call("GET", &format!("/v1/algorithms/{id}"), Some(KEY), None);
    assert_eq!(status, 200);
    assert_eq!(by_id["name"], "hello");
    let (status, updated) = emulator.call(
        "PUT",
        &format!("/v1/algorithms/{id}"),
        Some(KEY),
        Some(json!({"details": {"label": "Renamed", "tagline": "new"}})),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["details"]["label"], "Renamed");
    let (_, list) = emulator.call("GET", "/v1/users/demo/algorithms", Some(KEY), None);
    assert_eq!(
        list,
        json!([{"id": id, "algoname": "hello", "username": "demo"}])
    );
    assert_eq!(
        emulator
            .call("DELETE", "/v1/algorithms/demo/hello", Some(KEY), None)
            .0,
        204
    );
    assert_eq!(
        emulator
            .call("GET", &format!("/v1/algorithms/{id}"), Some(KEY), None)
            .0,
        404
    );
}

#[test]
fn scripted_faults_answer_instead_of_the_api() {
    let emulator = Emulator::start(&[]);
    let (status, _) = emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "POST", "path": "/v1/algorithms/demo", "times": 2, "status": 503})),
    );
    assert_eq!(status, 201);
    for _ in 0..2 {
        let client = crate::harness::http();
        let response = client
            .post(format!("{}/v1/algorithms/demo", emulator.url))
            .header("Authorization", format!("Simple {KEY}"))
            .json(&create_body("hello"))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    // Nothing was created by the faulted requests; the third goes through.
    assert_eq!(
        emulator
            .call("GET", "/v1/algorithms/demo/hello", Some(KEY), None)
            .0,
        404
    );
    assert_eq!(emulator.create("hello").0, 201);

    emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "GET", "path": "/v1/algorithms/demo/*", "body": "html"})),
    );
    let (status, body) = emulator.call("GET", "/v1/algorithms/demo/hello", Some(KEY), None);
    assert_eq!(status, 502);
    assert!(body.as_str().unwrap().contains("<html>"));
    emulator.admin("POST", "/_emulator/faults", Some(json!({"method": "GET", "path": "/v1/algorithms/demo/hello", "body": "malformed-json", "status": 200})));
    let (status, body) = emulator.call("GET", "/v1/algorithms/demo/hello", Some(KEY), None);
    assert_eq!(status, 200);
    assert!(body.is_string(), "not JSON: {body}");
    // The admin endpoints need the token.
    let response = crate::harness::http()
        .get(format!("{}/_emulator/requests", emulator.url))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[test]
fn drop_after_commit_commits_then_closes_the_connection() {
    let emulator = Emulator::start(&[]);
    emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "POST", "path": "/v1/algorithms/demo", "drop_after_commit": true})),
    );
    let client = crate::harness::http();
    let result = client
        .post(format!("{}/v1/algorithms/demo", emulator.url))
        .header("Authorization", format!("Simple {KEY}"))
        .json(&create_body("hello"))
        .send();
    assert!(
        result.is_err(),
        "the connection should drop without an answer: {result:?}"
    );
    assert_eq!(
        emulator
            .call("GET", "/v1/algorithms/demo/hello", Some(KEY), None)
            .0,
        200,
        "the create was committed"
    );
    let log = emulator.requests("/v1/algorithms/demo");
    assert_eq!(
        log[0],
        ("POST".to_string(), "/v1/algorithms/demo".to_string(), 0)
    );
}

#[test]
fn fail_rate_and_failed_builds_can_be_injected() {
    let emulator = Emulator::start(&["--fail-rate", "1"]);
    let (status, body) = emulator.call("GET", "/v1/algorithms/demo/hello", Some(KEY), None);
    assert_eq!((status, body["error"]["code"].as_u64()), (503, Some(5001)));
    drop(emulator);

    let emulator = Emulator::start(&[]);
    emulator.create("hello");
    assert_eq!(
        emulator
            .admin(
                "POST",
                "/_emulator/algorithms/demo/hello/fail-next-build",
                None
            )
            .0,
        204
    );
    let repo = Repo::python("hello");
    assert!(repo.push(&emulator, "demo", KEY, "hello").status.success());
    assert_eq!(
        wait_for_build(&emulator, "hello", &repo.head())["status"],
        "failed"
    );
    let (status, body) =
        emulator.call("POST", "/v1/algorithms/demo/hello/compile", Some(KEY), None);
    assert_eq!(status, 200);
    assert_eq!(
        body["compilation"]["successful"], true,
        "only the next build fails: {body}"
    );
}

#[test]
fn the_emulator_says_how_to_reach_it_and_logs_one_line_per_request_with_v() {
    use std::io::BufRead;
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args(["-v", "emulator", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--key", &format!("demo={}", crate::harness::KEY)])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    stdout.read_line(&mut first).unwrap();
    stdout.read_line(&mut second).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    assert_eq!(second.trim(), format!("export ALGORITHMIA_API={url}"));
    let status = crate::harness::http()
        .get(format!("{url}/v1/algorithms/demo/nothing_here"))
        .header("Authorization", format!("Simple {}", crate::harness::KEY))
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GET /v1/algorithms/demo/nothing_here 404") && stderr.contains("ms demo"),
        "{stderr}"
    );
    assert!(!stderr.contains(crate::harness::KEY), "{stderr}");
}

/// Keys given at a start are the whole set: one stored by an earlier start and not given again
/// is revoked (rotating a leaked key is a restart without it), and the emulator says so without
/// showing it. What is allowed but unsafe on a shared machine is said at start; an empty admin
/// token is refused.
#[test]
fn a_restart_without_a_key_revokes_it_and_unsafe_flags_are_said() {
    const ROTATED: &str = "simRotatedKeyForTests0000009";
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let mut first = Emulator::with_data_dir(&dir, &[]);
    let probe = "/v1/algorithms/demo/nothing_here";
    assert_eq!(first.call("GET", probe, Some(KEY), None).0, 404);
    first.stop();
    let mut second = Emulator::with_args(
        [
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
            "--key",
            &format!("demo={ROTATED}"),
            "--admin-token",
            "short",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect(),
    );
    assert_eq!(second.call("GET", probe, Some(KEY), None).0, 401);
    assert_eq!(second.call("GET", probe, Some(ROTATED), None).0, 404);
    let (_, stderr) = second.stop();
    assert!(
        stderr.contains("revoked 2 keys of owner `demo`")
            && stderr.contains("revoked 1 key of owner `other`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("visible to every user of this machine in the process list"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the admin token is 5 characters long"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY), "{stderr}");
    Test::new()
        .args(&["emulator", "--admin-token", ""])
        .run()
        .code(64)
        .stderr_has("the admin token must be one word");
}

//! `plan`, `apply` and `import` against the real emulator, pushing with git.

use serde_json::json;

use crate::harness::{Deploy, KEY, filters};

/// The first deploy of the example: create, push, build, publish 1.0.0.
fn deployed(extra: &[&str]) -> Deploy {
    let d = Deploy::new(extra);
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(0);
    d
}

#[test]
fn first_deploy_from_nothing_then_a_second_run_changes_nothing() {
    let d = Deploy::new(&[]);
    let plan = d.run(&["plan", "--detailed-exitcode"]);
    plan.code(2);
    filters().bind(|| insta::assert_snapshot!("first_plan", plan.snapshot()));
    let json = d.run(&["plan", "--format", "json"]);
    json.code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["format_version"], 1);
    assert_eq!(
        value["summary"],
        json!({"create": 1, "update": 0, "push": 1, "test": 1, "publish": 1, "unchanged": 0})
    );
    let actions: Vec<&str> = value["algorithms"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "push", "test", "publish"]);
    filters().bind(|| insta::assert_snapshot!("first_plan_json", json.stdout));
    assert!(d.writes().is_empty(), "plan sent writes: {:?}", d.writes());

    let apply = d.run(&["apply", "--yes", "--push"]);
    apply.code(0);
    filters().bind(|| insta::assert_snapshot!("first_apply", apply.snapshot()));
    let (_, versions) = d.emulator.call(
        "GET",
        "/v1/algorithms/demo/hello_world/versions?published=true",
        Some(KEY),
        None,
    );
    assert_eq!(
        versions["results"][0]["version_info"]["semantic_version"],
        "1.0.0"
    );
    assert_eq!(
        versions["results"][0]["version_info"]["git_hash"],
        d.repo.head()
    );
    assert_eq!(
        versions["results"][0]["settings"]["algorithm_callability"],
        "public"
    );
    assert_eq!(
        versions["results"][0]["version_info"]["sample_input"],
        "Ada"
    );

    d.clear_log();
    let again = d.run(&["plan", "--detailed-exitcode"]);
    again.code(0);
    assert!(
        again
            .stdout
            .contains("no changes: 1.0.0 is published from HEAD"),
        "{}",
        again.stdout
    );
    let apply = d.run(&["apply"]);
    apply.code(0);
    apply.stdout_has("No changes");
    assert!(
        d.writes().is_empty(),
        "a converged apply wrote: {:?}",
        d.writes()
    );
    // The state record sits beside the manifest, ignored by git, without the key.
    let record = std::fs::read_to_string(d.repo.dir.path().join(".algodeploy/state.json")).unwrap();
    assert!(
        record.contains("\"version\": \"1.0.0\"") && !record.contains(KEY),
        "{record}"
    );
    assert!(d.repo.git(&["status", "--porcelain"]).is_empty());
}

#[test]
fn a_tagline_change_is_an_update_and_needs_no_version() {
    let d = deployed(&[]);
    d.edit("tagline: Greets whoever calls it", "tagline: Says hello");
    d.edit(
        "    Returns a greeting for the name it is given:\n",
        "    Returns a friendly greeting for the name it is given:\n",
    );
    d.repo.commit("new tagline");
    let plan = d.run(&["plan", "--detailed-exitcode"]);
    plan.code(2);
    filters().bind(|| insta::assert_snapshot!(plan.snapshot()));
    d.clear_log();
    d.run(&["apply", "--yes"]).code(0);
    let writes = d.writes();
    assert_eq!(
        writes,
        vec![(
            "PUT".to_string(),
            "/v1/algorithms/demo/hello_world".to_string(),
            200
        )]
    );
    let (_, live) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(live["details"]["tagline"], "Says hello");
    d.run(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn a_version_bump_pushes_and_publishes() {
    let d = deployed(&[]);
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    return 'Hi, {}!'.format(input)\n",
    );
    d.edit("semantic_version: 1.0.0", "semantic_version: 1.1.0");
    d.edit("sample_output: Hello, Ada!", "sample_output: Hi, Ada!");
    let head = d.repo.commit("friendlier");
    let plan = d.run(&["plan"]);
    plan.code(0);
    assert!(
        plan.stdout
            .contains("^ publish 1.1.0 (from 1.0.0, minor bump)"),
        "{}",
        plan.stdout
    );
    plan.stdout_has("> push");
    d.run(&["apply", "--yes", "--push"]).code(0);
    let (_, version) = d.emulator.call(
        "GET",
        &format!("/v1/algorithms/demo/hello_world/versions/{head}"),
        Some(KEY),
        None,
    );
    assert_eq!(version["version_info"]["semantic_version"], "1.1.0");
}

#[test]
fn without_push_apply_refuses_up_front_and_changes_nothing() {
    let d = Deploy::new(&[]);
    let out = d.run(&["apply", "--yes"]);
    out.code(4);
    out.stderr_has("is not on the algorithm's `master`")
        .stderr_has("nothing was changed")
        .stderr_has("--push")
        // Not created yet: there is no repository to push to by hand.
        .stderr_has("the algorithm does not exist yet");
    assert!(!out.stderr.contains("git push http"), "{}", out.stderr);
    assert!(!out.stderr.contains(KEY));
    assert!(
        d.writes().is_empty(),
        "a refused apply wrote: {:?}",
        d.writes()
    );
    let (status, _) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(status, 404, "the algorithm must stay absent");
    // A tagline change with a push pending is refused just the same (not half applied).
    d.edit("tagline: Greets whoever calls it", "tagline: Says hello");
    d.repo.commit("tagline");
    d.run(&["apply", "--yes"]).code(4);
    assert!(d.writes().is_empty());
    d.run(&["apply", "--yes", "--push"]).code(0);
    let creates = d.emulator.count("POST", "/v1/algorithms/demo");
    assert_eq!(creates, 1, "created once");
    // Once it exists, the hint also says how to push by hand.
    d.repo.write("src/more.py", "x = 1\n");
    d.edit("semantic_version: 1.0.0", "semantic_version: 1.0.1");
    d.repo.commit("more");
    d.run(&["apply", "--yes"])
        .code(4)
        .stderr_has("git push http://127.0.0.1:");
}

#[test]
fn a_failed_build_exits_4_with_its_log() {
    let d = deployed(&[]);
    d.repo.write("src/other.py", "x = 1\n");
    d.edit("semantic_version: 1.0.0", "semantic_version: 1.0.1");
    d.repo.commit("broken");
    d.emulator.admin(
        "POST",
        "/_emulator/algorithms/demo/hello_world/fail-next-build",
        None,
    );
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(4);
    out.stderr_has("error: build failed (failure injected through /_emulator)");
    filters().bind(|| insta::assert_snapshot!(out.snapshot()));
    let (_, versions) = d.emulator.call(
        "GET",
        "/v1/algorithms/demo/hello_world/versions?published=true",
        Some(KEY),
        None,
    );
    assert_eq!(
        versions["results"].as_array().unwrap().len(),
        1,
        "nothing new was published"
    );
}

#[test]
fn a_dirty_tree_is_refused_and_nothing_is_sent() {
    let d = Deploy::new(&[]);
    d.repo.write("notes.txt", "wip\n");
    d.edit("label: Hello World", "label: Hello there");
    let out = d.run(&["plan"]);
    out.code(4);
    // A changed tracked file refuses; an untracked one is only a warning (not in HEAD, so not
    // deployed).
    out.stderr_has("uncommitted changes: algorithm.yaml;")
        .stderr_has("warning: not committed, so not deployed: notes.txt");
    assert!(d.emulator.requests("/v1").is_empty(), "requests were sent");
    d.run(&["plan", "--allow-dirty"]).code(0);
    d.repo.git(&["checkout", "algorithm.yaml"]);
    d.run(&["plan"])
        .code(0)
        .stderr_has("not deployed: notes.txt");
}

#[test]
fn a_stale_plan_is_refused_naming_what_moved() {
    let d = deployed(&[]);
    d.edit("tagline: Greets whoever calls it", "tagline: Planned");
    d.repo.commit("tagline");
    d.run(&["plan", "--out", "../plan.json"]).code(0);
    let saved = std::fs::read_to_string(d.repo.dir.path().join("../plan.json")).unwrap();
    assert!(!saved.contains(KEY), "the plan file holds the key");
    // Someone edits the algorithm in the web UI, and HEAD moves.
    d.emulator.call(
        "PUT",
        "/v1/algorithms/demo/hello_world",
        Some(KEY),
        Some(json!({"details": {"label": "Edited"}})),
    );
    d.repo.commit("another commit");
    d.clear_log();
    let out = d.run(&["apply", "--plan", "../plan.json"]);
    out.code(4);
    out.stderr_has("HEAD moved from");
    out.stderr_has("the live algorithm changed");
    assert!(
        d.writes().is_empty(),
        "a stale plan wrote: {:?}",
        d.writes()
    );

    // A fresh plan applies exactly.
    d.run(&["plan", "--out", "../plan.json"]).code(0);
    d.run(&["apply", "--plan", "../plan.json"]).code(0);
    let (_, live) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(live["details"]["tagline"], "Planned");
    assert_eq!(live["details"]["label"], "Hello World");
}

#[test]
fn version_conflicts_exit_4_listing_valid_versions() {
    let d = deployed(&[]);
    d.edit("semantic_version: 1.0.0", "semantic_version: 3.0.0");
    d.repo.commit("jump");
    let out = d.run(&["plan"]);
    out.code(4);
    assert!(
        out.stderr
            .contains("not one bump above the latest published version 1.0.0"),
        "{}",
        out.stderr
    );
    out.stderr_has("1.0.1, 1.1.0 or 2.0.0");
    // Changing callability on a minor bump.
    d.edit("semantic_version: 3.0.0", "semantic_version: 1.1.0");
    d.edit(
        "algorithm_callability: public",
        "algorithm_callability: private",
    );
    d.repo.commit("private");
    let out = d.run(&["plan"]);
    out.code(4);
    out.stderr_has("needs a major version");
    // The same version from a commit that changes only the manifest: the same code, a note.
    d.edit("semantic_version: 1.1.0", "semantic_version: 1.0.0");
    d.edit(
        "algorithm_callability: private",
        "algorithm_callability: public",
    );
    d.repo.commit("back");
    d.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("only in the manifest");
    // Changed code under the same version: exit 4 (the default), or a pending line with
    // --no-strict-version.
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    return input\n",
    );
    d.repo.commit("code");
    d.run(&["plan"])
        .code(4)
        .stderr_has("bump semantic_version to publish it");
    d.run(&["plan", "--strict-version"]).code(4);
    let out = d.run(&["plan", "--no-strict-version", "--detailed-exitcode"]);
    out.code(0);
    out.stdout_has("bump semantic_version to publish it");
}

#[test]
fn drift_made_through_the_api_is_shown_as_drift() {
    let d = deployed(&[]);
    d.emulator.call("PUT", "/v1/algorithms/demo/hello_world", Some(KEY), Some(json!({"details": {"label": "Renamed in the web UI"}, "settings": {"network_access": "full"}})));
    let out = d.run(&["plan", "--detailed-exitcode"]);
    out.code(2);
    filters().bind(|| insta::assert_snapshot!(out.snapshot()));
    out.stdout_has("drift: changed outside algodeploy");
    d.run(&["apply", "--yes"]).code(0);
    d.run(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn import_round_trips() {
    let d = deployed(&[]);
    let out = d.run(&["import", "demo/hello_world"]);
    out.code(0);
    filters().bind(|| insta::assert_snapshot!(out.stdout));
    std::fs::write(d.repo.dir.path().join("algorithm.yaml"), &out.stdout).unwrap();
    d.run(&["validate"]).code(0);
    let plan = d.run(&["plan", "--allow-dirty", "--detailed-exitcode"]);
    plan.code(0);
    let missing = d.run(&["import", "demo/nothing_here"]);
    missing.code(1);
    missing.stderr_has("no algorithm demo/nothing_here visible to this key");
}

#[test]
fn several_manifests_plan_together_in_path_order() {
    let d = Deploy::new(&[]);
    let manifest = std::fs::read_to_string(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    std::fs::remove_file(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    for name in ["alpha", "beta", "gamma"] {
        d.repo.write(
            &format!("{name}/algorithm.yaml"),
            &manifest.replace("name: hello_world", &format!("name: {name}")),
        );
        d.repo.write(
            &format!("{name}/src/{name}.py"),
            "def apply(x):\n    return x\n",
        );
        d.repo.write(&format!("{name}/requirements.txt"), "");
    }
    d.repo.commit("three algorithms");
    let out = d.run(&["plan", ".", "--parallelism", "3"]);
    out.code(0);
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("demo/"))
        .collect();
    assert_eq!(
        order,
        [
            "demo/alpha (alpha/algorithm.yaml)",
            "demo/beta (beta/algorithm.yaml)",
            "demo/gamma (gamma/algorithm.yaml)"
        ]
    );
    assert!(
        out.stdout
            .contains("Plan: 3 to create, 0 to update, 3 to push, 3 to publish."),
        "{}",
        out.stdout
    );
}

#[test]
fn keys_are_required_and_checked_before_anything_changes() {
    let d = Deploy::new(&[]);
    let out = d.run_with(&["plan"], &[("ALGORITHMIA_API_KEY", "")]);
    out.code(5);
    out.stderr_has("no API key");
    assert!(d.emulator.requests("/v1").is_empty());
    let out = d.run_with(
        &["plan"],
        &[("ALGORITHMIA_API_KEY", "simWrongKey00000000000000000")],
    );
    out.code(5);
    out.stderr_has("the API key was rejected");
    assert!(!out.stderr.contains("simWrongKey"), "{}", out.stderr);
    let out = d.run_with(
        &["apply", "--yes", "--push"],
        &[("ALGORITHMIA_API_KEY", crate::harness::READ_KEY)],
    );
    out.code(5);
    out.stderr_has("may not do this");
}

#[test]
fn apply_without_a_terminal_needs_yes() {
    let d = Deploy::new(&[]);
    let out = d.run(&["apply", "--push"]);
    out.code(64);
    out.stderr_has("--yes");
    assert!(d.writes().is_empty());
}

#[test]
fn the_config_profile_supplies_key_and_address() {
    let d = Deploy::new(&[]);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".algorithmia")).unwrap();
    std::fs::write(
        home.path().join(".algorithmia/config"),
        format!("[profiles.default]\napi_key = \"\"\n[profiles.local]\napi_key = \"{KEY}\"\napi_server = \"{}\"\nca_cert = \"\"\n", d.emulator.url),
    )
    .unwrap();
    let home_path = home.path().to_str().unwrap();
    let out = d.run_with(
        &["plan", "--profile", "local"],
        &[
            ("HOME", home_path),
            ("ALGORITHMIA_API_KEY", ""),
            ("ALGORITHMIA_API", ""),
        ],
    );
    out.code(0);
    let out = d.run_with(
        &["plan", "--profile", "nope"],
        &[("HOME", home_path), ("ALGORITHMIA_API_KEY", "")],
    );
    out.code(1);
    out.stderr_has("no profile `nope`");
    let out = d.run_with(&["plan", "--api", "http://example.com"], &[]);
    out.code(64);
    out.stderr_has("plain http to a non-loopback host");
}

#[test]
fn a_repository_without_commits_or_mid_merge_is_refused() {
    let d = Deploy::new(&[]);
    // No commits: a fresh `git init` beside the manifest.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(
        d.repo.dir.path().join("algorithm.yaml"),
        fresh.path().join("algorithm.yaml"),
    )
    .unwrap();
    let init = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(fresh.path())
        .output()
        .unwrap();
    assert!(init.status.success());
    let out = d.run(&[
        "plan",
        fresh.path().join("algorithm.yaml").to_str().unwrap(),
    ]);
    out.code(4);
    out.stderr_has("has no commits yet");
    // Not a repository at all.
    let bare = tempfile::tempdir().unwrap();
    std::fs::copy(
        d.repo.dir.path().join("algorithm.yaml"),
        bare.path().join("algorithm.yaml"),
    )
    .unwrap();
    let out = d.run(&["plan", bare.path().join("algorithm.yaml").to_str().unwrap()]);
    out.code(4);
    out.stderr_has("is not inside a git repository");
    // A merge in progress.
    d.repo.git(&["checkout", "-q", "-b", "side"]);
    d.repo.write("requirements.txt", "side\n");
    d.repo.commit("side");
    d.repo.git(&["checkout", "-q", "main"]);
    d.repo.write("requirements.txt", "main\n");
    d.repo.commit("main");
    let merge = d.repo.try_git(&[
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "merge",
        "-q",
        "side",
    ]);
    assert!(
        String::from_utf8_lossy(&merge.stdout).contains("CONFLICT"),
        "the merge should conflict: {merge:?}"
    );
    let out = d.run(&["plan", "--allow-dirty"]);
    out.code(4);
    out.stderr_has("a merge is in progress");
    assert!(d.emulator.requests("/v1").is_empty());
}

#[test]
fn apply_can_report_in_json_for_pipelines() {
    let d = Deploy::new(&[]);
    let out = d.run(&["apply", "--yes", "--push", "--format", "json"]);
    out.code(0);
    let result: serde_json::Value =
        serde_json::from_str(&out.stdout).expect("one JSON document on stdout");
    assert_eq!(result["format_version"], 1);
    assert_eq!(result["plan"]["summary"]["publish"], 1);
    assert_eq!(result["applied"][0]["algorithm"], "demo/hello_world");
    assert_eq!(result["applied"][0]["version"], "1.0.0");
    assert_eq!(
        result["applied"][0]["commit"].as_str(),
        Some(d.repo.head().as_str())
    );
    assert!(!out.stdout.contains(KEY));
}

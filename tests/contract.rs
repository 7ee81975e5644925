//! The plan is the contract: saved plans applied by name and shown, plans made in one folder
//! applied from another, files written with bare names, import's errors and permissions, and
//! the plan texts that must be true once.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Deploy, KEY, filters};

fn deployed() -> Deploy {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    d
}

#[test]
fn a_plan_saved_by_a_bare_name_is_shown_and_applied_by_name() {
    let d = Deploy::new(&[]);
    let plan = d.run(&["plan", "--out", "plan.json"]);
    plan.code(0).stderr_has("saved the plan to plan.json");
    let saved = d.repo.dir.path().join("plan.json");
    let text = std::fs::read_to_string(&saved).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let steps = value["algorithms"][0]["steps"].as_array().unwrap();
    assert_eq!(steps[2]["action"], "test");
    assert_eq!(steps[2]["input"], "Ada");
    let publish = &steps[3];
    assert_eq!(publish["action"], "publish");
    assert_eq!(publish["release_notes"], "First release.");
    assert_eq!(publish["request"]["version_info"]["sample_input"], "Ada");
    assert_eq!(
        publish["request"]["version_info"]["sample_output"],
        "Hello, Ada!"
    );
    assert!(!text.contains(KEY));

    let shown = d.run(&["show", "plan.json"]);
    shown
        .code(0)
        .stdout_has("+ create demo/hello_world")
        .stdout_has("Plan: 1 to create");
    let json = d.run(&["show", "plan.json", "--format", "json"]);
    json.code(0);
    let again: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(again, value);

    // The untracked plan file does not make the tree dirty; `apply FILE` reads it as a plan.
    let apply = d.run(&["apply", "plan.json", "--push"]);
    apply
        .code(0)
        .stderr_has("published 1.0.0")
        .stderr_has("not deployed: plan.json");
    // The same plan again is stale: the algorithm exists now.
    let stale = d.run(&["apply", "plan.json", "--push"]);
    stale.code(4).stderr_has("stale");
}

#[test]
fn a_saved_plan_is_applied_from_another_folder_or_says_where_it_belongs() {
    let d = Deploy::new(&[]);
    d.run(&["plan", "--out", "plan.json"]).code(0);
    let elsewhere = d.repo.dir.path().join("src");
    let out: crate::harness::Output = d
        .command_in(&elsewhere, &["apply", "../plan.json", "--push"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    out.code(0).stderr_has("published 1.0.0");
    // A plan whose folder is gone names it.
    let moved = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(d.repo.dir.path().join("plan.json"))
        .unwrap()
        .replace(&d.repo.dir.path().display().to_string(), "/nowhere/at/all");
    std::fs::write(moved.path().join("plan.json"), text).unwrap();
    let out: crate::harness::Output = d
        .command_in(moved.path(), &["apply", "plan.json", "--push"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    out.code(1)
        .stderr_has("/nowhere/at/all")
        .stderr_has("algorithm.yaml");
}

#[test]
fn import_writes_a_new_readable_file_and_never_clobbers() {
    let d = deployed();
    let out = d.run(&["import", "demo/hello_world", "--out", "imported.yaml"]);
    out.code(0).stderr_has("wrote imported.yaml");
    let path = d.repo.dir.path().join("imported.yaml");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_ne!(
        mode & 0o044,
        0,
        "an imported manifest is readable like any file: {mode:o}"
    );
    let before = std::fs::read_to_string(&path).unwrap();
    let again = d.run(&["import", "demo/hello_world", "--out", "imported.yaml"]);
    again.code(1).stderr_has("exists");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let missing = d.run(&["import", "demo/nope"]);
    missing
        .code(1)
        .stderr_has("no algorithm demo/nope visible to this key");
    assert!(!missing.stderr.contains("GET "), "{}", missing.stderr);
}

#[test]
fn a_callability_change_alone_is_pending_with_its_reason() {
    let d = deployed();
    d.edit(
        "algorithm_callability: public",
        "algorithm_callability: private",
    );
    d.repo.commit("private");
    let plan = d.run(&["plan"]);
    plan.code(0);
    filters().bind(|| insta::assert_snapshot!("callability_pending", plan.snapshot()));
    assert!(!plan.stdout.contains("up to date"), "{}", plan.stdout);
}

#[test]
fn an_unpublished_head_is_said_once() {
    let d = deployed();
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    return f\"Hi, {input}!\"\n",
    );
    d.repo.commit("code change");
    // Changed code under a published version is refused up front, with the bump to make.
    d.run(&["plan"])
        .code(4)
        .stderr_has("bump semantic_version to publish it (next: 1.0.1, 1.1.0 or 2.0.0)");
    let plan = d.run(&["plan", "--no-strict-version"]);
    plan.code(0);
    filters().bind(|| insta::assert_snapshot!("unpublished_head", plan.snapshot()));
    assert_eq!(
        plan.stdout.matches("is not published").count(),
        1,
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("no changes"), "{}", plan.stdout);
}

/// `script` gives the command a terminal; its output is what a person would see.
fn on_a_terminal(d: &Deploy, command: &str, env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(d.repo.dir.path())
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn validate_colours_on_a_terminal_and_never_in_a_pipe() {
    let d = Deploy::new(&[]);
    d.edit("license: apache2", "license: beerware");
    let bin = crate::harness::BIN;
    let tty = on_a_terminal(&d, &format!("{bin} validate"), &[]);
    assert!(tty.contains("\u{1b}["), "no colour on a terminal: {tty:?}");
    let no_color = on_a_terminal(&d, &format!("{bin} validate"), &[("NO_COLOR", "1")]);
    assert!(
        no_color.contains("value-not-allowed") && !no_color.contains("\u{1b}["),
        "{no_color:?}"
    );
    for (name, value) in [("CLICOLOR", "0"), ("TERM", "dumb")] {
        let plain = on_a_terminal(&d, &format!("{bin} validate"), &[(name, value)]);
        assert!(
            plain.contains("value-not-allowed") && !plain.contains("\u{1b}["),
            "{name}={value} still colours: {plain:?}"
        );
    }
    let never = on_a_terminal(&d, &format!("{bin} --color never validate"), &[]);
    assert!(!never.contains("\u{1b}["), "--color never: {never:?}");
    let always = d.run(&["--color", "always", "validate"]);
    always.code(3);
    assert!(
        always.stderr.contains("\u{1b}["),
        "--color always: {}",
        always.stderr
    );
    let piped = d.run(&["validate"]);
    piped.code(3);
    assert!(!piped.stderr.contains('\u{1b}'), "{}", piped.stderr);
    let forced = d.run_with(&["validate"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]);
    forced.code(3);
    assert!(
        forced.stderr.contains("\u{1b}["),
        "CLICOLOR_FORCE ignored: {}",
        forced.stderr
    );
}

/// The same colour rules for plan (stdout) and doctor (stderr) as for validate.
#[test]
fn plan_and_doctor_follow_the_same_colour_rules() {
    let d = Deploy::new(&[]);
    let bin = crate::harness::BIN;
    let home = d.home().display().to_string();
    let cluster = [
        ("ALGORITHMIA_API", d.emulator.url.as_str()),
        ("ALGORITHMIA_API_KEY", crate::harness::KEY),
        ("HOME", home.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        cluster.iter().chain(extra).copied().collect()
    };
    for command in ["plan", "doctor"] {
        let tty = on_a_terminal(&d, &format!("{bin} {command}"), &with(&[]));
        assert!(
            tty.contains("\u{1b}["),
            "{command}: no colour on a terminal: {tty:?}"
        );
        for (name, value) in [("NO_COLOR", "1"), ("CLICOLOR", "0"), ("TERM", "dumb")] {
            let plain = on_a_terminal(&d, &format!("{bin} {command}"), &with(&[(name, value)]));
            assert!(
                !plain.contains("\u{1b}[") && plain.contains("demo/hello_world"),
                "{command} with {name}={value}: {plain:?}"
            );
        }
        let never = on_a_terminal(&d, &format!("{bin} --color never {command}"), &with(&[]));
        assert!(
            !never.contains("\u{1b}["),
            "{command} --color never: {never:?}"
        );
    }
    // Into a pipe: plain, unless forced.
    let piped = d.run(&["plan"]);
    piped.code(0);
    assert!(!piped.stdout.contains('\u{1b}') && !piped.stderr.contains('\u{1b}'));
    let forced = d.run_with(&["plan"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]);
    forced.code(0);
    assert!(forced.stdout.contains("\u{1b}[32m"), "{}", forced.stdout);
    let always = d.run(&["--color", "always", "plan"]);
    always.code(0);
    assert!(always.stdout.contains("\u{1b}[32m"), "{}", always.stdout);
}

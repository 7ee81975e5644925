//! Command-line behaviour shared by all subcommands: usage errors, version, completions.

use crate::harness::Test;

#[test]
fn usage_errors_exit_64() {
    let out = Test::new().args(&["validate", "--format", "yaml"]).run();
    out.code(64);
    out.stderr_has("invalid value 'yaml'");
    Test::new().args(&["frobnicate"]).run().code(64);
    Test::new().args(&[]).run().code(64);
}

#[test]
fn version_and_help_exit_0() {
    let out = Test::new().args(&["--version"]).run();
    out.code(0);
    // The version, and the commit and date it was built from.
    let version = out
        .stdout
        .strip_prefix(&format!("algodeploy {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{:?}", out.stdout));
    let (commit, date) = version.split_once(' ').unwrap();
    assert!(commit == "unknown" || commit.len() == 12, "{commit}");
    assert!(date == "unknown" || date.len() == 10, "{date}");
    let help = Test::new().args(&["--help"]).run();
    help.code(0);
    for command in [
        "validate",
        "schema",
        "completions",
        "init",
        "history",
        "rollback",
    ] {
        assert!(
            help.stdout.contains(command),
            "{command} missing from --help"
        );
    }
    assert!(!help.stdout.contains("git-credential"), "{}", help.stdout);
    let completions = Test::new().args(&["completions", "bash"]).run();
    completions.code(0);
    assert!(
        !completions.stdout.contains("git-credential"),
        "completions offer the internal helper"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Test::new().args(&["completions", shell]).run();
        out.code(0);
        assert!(out.stdout.contains("validate"), "{shell}: {}", out.stdout);
    }
}

#[test]
fn verbose_logging_goes_to_stderr_only() {
    let out = Test::new()
        .file("algorithm.yaml", crate::harness::example())
        .args(&["-vvv", "validate", "--format", "json"])
        .run();
    out.code(0);
    assert_eq!(out.stdout.trim(), "[]");
    // A command that logs: the logs are on stderr, stdout is one JSON document.
    let d = crate::harness::Deploy::new(&[]);
    let plan = d.run(&["-vvv", "plan", "--format", "json"]);
    plan.code(0);
    assert!(
        plan.stderr.contains("DEBUG") && plan.stderr.contains("request"),
        "no developer logs on stderr: {}",
        plan.stderr
    );
    let document: serde_json::Value = serde_json::from_str(&plan.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", plan.stdout));
    assert!(document["algorithms"].is_array());
    assert!(!plan.stdout.contains("DEBUG"));
}

#[test]
fn the_man_page_renders_and_covers_every_command() {
    let page = Test::new().args(&["man"]).run();
    page.code(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("algodeploy.1");
    std::fs::write(&file, &page.stdout).unwrap();
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (man-db) is installed: .ci/run installs it");
    assert!(rendered.status.success());
    let text = String::from_utf8_lossy(&rendered.stdout);
    for command in [
        "VALIDATE",
        "PLAN",
        "APPLY",
        "IMPORT",
        "SHOW",
        "INIT",
        "HISTORY",
        "DESTROY",
        "ROLLBACK",
        "SCHEMA",
        "DOCTOR",
        "COMPLETIONS",
    ] {
        assert!(
            text.contains(&format!("ALGODEPLOY {command}")),
            "{command} missing from the man page"
        );
    }
    assert!(text.contains("ALGORITHMIA_API_KEY") && text.contains("Exit codes"));
    assert!(!text.contains("git-credential"));
}

const COMMANDS: &[&str] = &[
    "validate",
    "plan",
    "apply",
    "import",
    "show",
    "init",
    "history",
    "destroy",
    "rollback",
    "schema",
    "emulator",
    "doctor",
    "man",
    "completions",
];

/// Every command's help, as a snapshot (a changed flag or text shows in review), with examples
/// and an environment section; and every example parses (its flags exist).
#[test]
fn every_commands_help_has_examples_an_environment_and_examples_that_parse() {
    let top = Test::new().args(&["--help"]).run();
    top.code(0);
    assert!(top.stdout.contains("Environment:") && top.stdout.contains("Exit codes:"));
    insta::assert_snapshot!("help", top.stdout);
    for command in COMMANDS {
        let help = Test::new().args(&[command, "--help"]).run();
        help.code(0);
        assert!(help.stdout.contains("Examples:"), "{command}: no examples");
        assert!(
            help.stdout.contains("Environment:"),
            "{command}: no environment section"
        );
        insta::assert_snapshot!(format!("help_{command}"), help.stdout);
        let examples = help
            .stdout
            .split("Examples:")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        for line in examples.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("algodeploy ") else {
                continue;
            };
            // The command itself, without a comment, a redirection or a pipe.
            let rest = rest.split(['(', '>', '|']).next().unwrap();
            let mut args: Vec<&str> = rest.split_whitespace().collect();
            args.push("--help");
            let out = Test::new().args(&args).run();
            assert_eq!(
                out.exit_code(),
                0,
                "example `{line}` of {command} does not parse: {}",
                out.stderr
            );
        }
    }
}

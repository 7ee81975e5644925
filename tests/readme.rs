//! README's promises: its two set-up commands run, and its reference lists are complete.

use crate::harness::{BIN, Test, repo_root};

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

/// The commands of the first two fenced `sh` blocks: the quick start and the tests.
fn setup_commands() -> Vec<String> {
    let readme = readme();
    let mut blocks = readme
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().trim().to_string());
    vec![
        blocks.next().expect("first set-up block"),
        blocks.next().expect("second set-up block"),
    ]
}

#[test]
fn readme_has_two_setup_commands_at_the_top() {
    let commands = setup_commands();
    assert_eq!(
        commands[1], "bash .ci/test",
        "the test command changed; update .ci/run too"
    );
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("bash .ci/test"),
        ".ci/run must call README's test command"
    );
    // Both come before the first section heading after the title.
    let readme = readme();
    let first_section = readme.find("\n## ").unwrap();
    assert!(readme.find(&commands[1]).unwrap() < first_section);
}

#[test]
fn readme_first_command_runs_the_main_job_end_to_end() {
    let commands = setup_commands();
    assert_eq!(commands[0], "bash examples/quickstart.sh");
    // The script builds the binary unless ALGODEPLOY names one: use the one under test.
    let out = std::process::Command::new("bash")
        .arg("examples/quickstart.sh")
        .current_dir(repo_root())
        .env("ALGODEPLOY", BIN)
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("ALGORITHMIA_API_KEY")
        .env_remove("ALGORITHMIA_API")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "README's first command failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("valid: algorithm.yaml (demo/hello_world 1.0.0)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("Plan: 1 to create, 0 to update, 1 to push, 1 to publish."),
        "{stdout}"
    );
    assert!(
        stderr.contains("demo/hello_world: published 1.0.0"),
        "{stderr}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("No changes: the algorithm is up to date."),
        "{stdout}"
    );
    let key_line = stderr.lines().find(|l| l.contains("sim")).unwrap_or("");
    assert!(
        key_line.is_empty(),
        "the quick start printed a key: {key_line}"
    );
}

#[test]
fn readme_documents_every_exit_code_and_diagnostic_class() {
    let readme = readme();
    // The exit-code table: exactly the contract's codes, each with a meaning.
    let section = &readme[readme.find("## Exit codes").expect("an exit codes section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut codes = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if let Ok(code) = cells[1].parse::<u8>() {
            assert!(cells[2].len() > 5, "exit code {code} has no meaning: {row}");
            codes.push(code);
        }
    }
    codes.sort_unstable();
    assert_eq!(codes, [0, 1, 2, 3, 4, 5, 64]);
    // Every diagnostic class the code can report, read from the code itself: the arms of
    // `Code::as_str` in src/diagnostic.rs (`Code::UnknownKey => "unknown-key",`).
    let source = std::fs::read_to_string(repo_root().join("src/diagnostic.rs")).unwrap();
    let mut classes = std::collections::BTreeSet::new();
    for line in source.lines() {
        if let Some((variant, rest)) = line.trim().split_once(" => \"")
            && variant.starts_with("Code::")
            && let Some((class, _)) = rest.split_once('"')
        {
            classes.insert(class.to_string());
        }
    }
    assert!(classes.len() >= 17, "{classes:?}");
    for class in classes {
        assert!(
            readme.contains(&format!("`{class}`")),
            "diagnostic class `{class}` missing from README"
        );
    }
}

#[test]
fn readme_manifest_reference_names_every_schema_key() {
    let readme = readme();
    let out = Test::new().args(&["schema"]).run();
    out.code(0);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut keys: Vec<String> = Vec::new();
    for (prefix, object) in [
        ("", &schema),
        ("details.", &schema["$defs"]["Details"]),
        ("settings.", &schema["$defs"]["Settings"]),
        ("version_info.", &schema["$defs"]["VersionInfo"]),
    ] {
        for key in object["properties"].as_object().unwrap().keys() {
            if prefix.is_empty() && ["details", "settings", "version_info"].contains(&key.as_str())
            {
                continue;
            }
            keys.push(format!("`{prefix}{key}`"));
        }
    }
    for key in keys {
        assert!(
            readme.contains(&key),
            "README's manifest reference lacks {key}"
        );
    }
}

#[test]
fn the_quick_start_finds_the_binary_wherever_cargo_puts_it() {
    // A user with CARGO_TARGET_DIR elsewhere: cargo (a stand-in here, so that the test does
    // not rebuild the binary under the other tests' feet) reports that folder, and the script
    // must run the binary from there, not from `target/debug`.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join("debug")).unwrap();
    std::os::unix::fs::symlink(BIN, elsewhere.path().join("debug/algodeploy")).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let cargo = bin.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  build) exit 0 ;;\n  metadata) echo '{{\"target_directory\": \"{}\"}}' ;;\n  *) exit 3 ;;\nesac\n",
            elsewhere.path().display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&cargo)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = std::process::Command::new("bash")
        .arg("examples/quickstart.sh")
        .current_dir(repo_root())
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", elsewhere.path())
        .env_remove("ALGODEPLOY")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("NO_COLOR")
        .env_remove("ALGORITHMIA_API_KEY")
        .env_remove("ALGORITHMIA_API")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("demo/hello_world: published 1.0.0"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in a pipe: {stderr}"
    );
}

#[test]
fn the_quick_start_stops_when_the_emulator_does_not_start() {
    let out = std::process::Command::new("bash")
        .arg("examples/quickstart.sh")
        .current_dir(repo_root())
        .env("ALGODEPLOY", "/bin/false")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the emulator did not start"), "{stderr}");
    assert!(
        !stderr.contains("algodeploy validate"),
        "it carried on: {stderr}"
    );
}

#[test]
fn the_monorepo_example_runs_end_to_end() {
    let out = std::process::Command::new("bash")
        .arg("examples/monorepo.sh")
        .current_dir(repo_root())
        .env("ALGODEPLOY", env!("CARGO_BIN_EXE_algodeploy"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("ALGORITHMIA_API_KEY")
        .env_remove("ALGORITHMIA_API")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    for line in [
        "demo/greeter: published 1.0.0",
        "demo/shout: published 1.0.0",
        "--changed-since HEAD~1: 1 manifest changed",
        "demo/greeter: published 1.1.0",
    ] {
        assert!(stderr.contains(line), "no `{line}` in: {stderr}");
    }
    assert!(
        stdout.contains("deploys") && stdout.contains("(algorithms/greeter + libs/common)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("No changes: 2 algorithms are up to date."),
        "{stdout}"
    );
}

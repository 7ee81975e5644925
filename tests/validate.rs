//! `algodeploy validate`: one snapshot per diagnostic class, the output formats, and the
//! rules that decide which manifests are valid.

use crate::harness::{Test, example};

/// A minimal valid manifest; tests edit it with `str::replace`.
const MINIMAL: &str = "\
owner: demo
name: hello
details:
  label: Hello
settings:
  license: mit
  source_visibility: open
  network_access: isolated
  pipeline_enabled: false
  package_set: python38
version_info:
  semantic_version: 1.0.0
";

fn validate(manifest: &str) -> crate::harness::Output {
    Test::new()
        .file("algorithm.yaml", manifest)
        .args(&["validate"])
        .run()
}

fn edit(from: &str, to: &str) -> String {
    assert!(
        MINIMAL.contains(from),
        "{from:?} is not in the minimal manifest"
    );
    MINIMAL.replace(from, to)
}

#[test]
fn example_manifest_is_valid() {
    let out = Test::new()
        .file("algorithm.yaml", example())
        .args(&["validate"])
        .run();
    out.code(0);
    assert_eq!(
        out.stderr,
        "valid: algorithm.yaml (demo/hello_world 1.0.0)\n"
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn minimal_manifest_is_valid() {
    validate(MINIMAL).code(0);
}

#[test]
fn five_mistakes_give_five_located_diagnostics() {
    let manifest = MINIMAL
        .replace("name: hello", "name: hello world")
        .replace("license: mit", "license: gpl")
        .replace("network_access: isolated", "network_acess: isolated")
        .replace("pipeline_enabled: false", "pipeline_enabled: maybe")
        .replace("semantic_version: 1.0.0", "semantic_version: v1.0");
    let out = validate(&manifest);
    out.code(3);
    let located: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("--> "))
        .collect();
    assert_eq!(
        located,
        [
            " --> algorithm.yaml:2:7",
            " --> algorithm.yaml:6:12",
            " --> algorithm.yaml:8:3",
            " --> algorithm.yaml:9:21",
            "  --> algorithm.yaml:12:21",
        ]
    );
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn yaml_syntax_error() {
    let out = validate(&edit("label: Hello", "label: [Hello"));
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn unknown_key_suggests_the_close_one() {
    let out = validate(&edit("  label: Hello", "  label: Hello\n  tagine: Hi"));
    out.code(3);
    out.stderr_has("help: did you mean `tagline`?");
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn unknown_key_in_the_wrong_section_says_where_it_belongs() {
    let out = validate(&edit("owner: demo", "owner: demo\nlicense: mit"));
    out.code(3);
    out.stderr_has("`license` belongs under `settings`");
}

#[test]
fn duplicate_key_points_at_the_second() {
    let out = validate(&edit("  license: mit", "  license: mit\n  license: apl"));
    out.code(3);
    out.stderr_has("algorithm.yaml:7:3");
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn wrong_type() {
    let out = validate(&edit("label: Hello", "label: [a, b]"));
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn yaml_one_one_booleans_are_not_booleans() {
    let out = validate(&edit("pipeline_enabled: false", "pipeline_enabled: no"));
    out.code(3);
    out.stderr_has("write `true` or `false`");
}

#[test]
fn missing_key_points_at_the_parent_mapping() {
    let out = validate(&edit("  network_access: isolated\n", ""));
    out.code(3);
    out.stderr_has("algorithm.yaml:5:1");
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn missing_top_level_key() {
    let out = validate(&edit("owner: demo\n", ""));
    out.code(3);
    assert!(
        out.stderr
            .contains("the manifest is missing the required key `owner`"),
        "{}",
        out.stderr
    );
}

#[test]
fn value_not_allowed_lists_the_allowed_values() {
    let out = validate(&edit(
        "network_access: isolated",
        "network_access: internet",
    ));
    out.code(3);
    out.stderr_has("allowed: `isolated`, `full`");
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn closed_source_needs_the_apl_license() {
    let out = validate(&edit(
        "source_visibility: open",
        "source_visibility: closed",
    ));
    out.code(3);
    // The later of the two keys is blamed: source_visibility (line 7) after license (line 6).
    out.stderr_has("algorithm.yaml:7:22");
    insta::assert_snapshot!(out.snapshot());
    validate(
        &edit("source_visibility: open", "source_visibility: closed")
            .replace("license: mit", "license: apl"),
    )
    .code(0);
}

#[test]
fn exactly_one_runtime() {
    let two = edit(
        "package_set: python38",
        "package_set: python38\n  language: python3-1\n  environment: cpu",
    );
    let out = validate(&two);
    out.code(3);
    out.stderr_has("more than one runtime");
    let none = edit("  package_set: python38\n", "");
    let out = validate(&none);
    out.code(3);
    out.stderr_has("`settings` names no runtime");
    let half = edit("package_set: python38", "language: python3-1");
    let out = validate(&half);
    out.code(3);
    assert!(
        out.stderr
            .contains("`settings.language` needs `settings.environment`"),
        "{}",
        out.stderr
    );
    validate(&edit(
        "package_set: python38",
        "language: python3-1\n  environment: gpu",
    ))
    .code(0);
    validate(&edit(
        "package_set: python38",
        "algorithm_environment: 67f8f5a6-1c2b-4d6e-9f0a-1b2c3d4e5f60",
    ))
    .code(0);
    let out = validate(&edit(
        "package_set: python38",
        "algorithm_environment: python38",
    ));
    out.code(3);
    out.stderr_has("must be an environment id (a UUID)");
}

#[test]
fn names_follow_algorithmia_rules() {
    for (bad, good) in [
        ("owner: demo", "owner: 9lives"),
        ("name: hello", "name: _x"),
    ] {
        let out = validate(&edit(bad, good));
        out.code(3);
        out.stderr_has("value-not-allowed");
    }
    let long_owner = format!("owner: a{}", "b".repeat(30));
    validate(&edit("owner: demo", &long_owner)).code(3);
    validate(&edit("owner: demo", &format!("owner: a{}", "b".repeat(29)))).code(0);
}

#[test]
fn semantic_version_is_three_numbers() {
    for bad in ["1.0", "1.0.0-rc.1", "v1.0.0", "\"01.0.0\"", "1"] {
        let out = validate(&edit(
            "semantic_version: 1.0.0",
            &format!("semantic_version: {bad}"),
        ));
        out.code(3);
        assert!(
            out.stderr.contains("semantic_version"),
            "{bad}: {}",
            out.stderr
        );
    }
    validate(&edit(
        "semantic_version: 1.0.0",
        "semantic_version: \"12.40.3\"",
    ))
    .code(0);
}

#[test]
fn royalty_is_a_whole_number() {
    validate(&edit(
        "package_set: python38",
        "package_set: python38\n  royalty_microcredits: 1.5",
    ))
    .code(3);
    validate(&edit(
        "package_set: python38",
        "package_set: python38\n  royalty_microcredits: -5",
    ))
    .code(3);
    validate(&edit(
        "package_set: python38",
        "package_set: python38\n  royalty_microcredits: 25",
    ))
    .code(0);
}

#[test]
fn api_key_in_the_manifest_is_refused_without_echoing_it() {
    let key = "simZq0vN8xR2tY7uW4pK1mL9cD3b";
    assert_eq!(key.len(), 28);
    let out = validate(&edit("label: Hello", &format!("label: {key}")));
    out.code(3);
    assert!(
        !out.stderr.contains(key),
        "the key was echoed:\n{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("simZq0"),
        "part of the key was echoed:\n{}",
        out.stderr
    );
    out.stderr_has("algorithm.yaml:4:10");
    insta::assert_snapshot!(out.snapshot());
    let json = Test::new()
        .file(
            "algorithm.yaml",
            edit("label: Hello", &format!("label: {key}")),
        )
        .args(&["validate", "--format", "json"])
        .run();
    json.code(3);
    assert!(!json.stdout.contains(key) && !json.stderr.contains(key));
    let as_key = validate(&edit("owner: demo", &format!("owner: demo\n{key}: x")));
    as_key.code(3);
    assert!(!as_key.stderr.contains(key), "{}", as_key.stderr);
}

#[test]
fn one_line_fields_are_one_line() {
    let out = validate(&edit("label: Hello", "label: \"Hello\\nWorld\""));
    out.code(3);
    out.stderr_has("`details.label` must be a single line");
    let long = format!("label: {}", "x".repeat(201));
    validate(&edit("label: Hello", &long)).code(3);
}

#[test]
fn samples_may_be_any_yaml_value() {
    let manifest = edit(
        "semantic_version: 1.0.0",
        "semantic_version: 1.0.0\n  sample_input: {name: Ada, n: [1, 2.5]}\n  sample_output: \"Hello\"",
    );
    validate(&manifest).code(0);
}

#[test]
fn summary_and_summary_file_exclude_each_other() {
    let manifest = edit(
        "label: Hello",
        "label: Hello\n  summary: hi\n  summary_file: README.md",
    );
    let out = Test::new()
        .file("algorithm.yaml", &manifest)
        .file("README.md", "# Hello\n")
        .args(&["validate"])
        .run();
    out.code(3);
    out.stderr_has("cannot both be given");
    out.stderr_has("algorithm.yaml:6:17");
}

#[test]
fn summary_file_must_exist_inside_the_repository() {
    let manifest = edit(
        "label: Hello",
        "label: Hello\n  summary_file: docs/README.md",
    );
    Test::new()
        .file("algo/algorithm.yaml", &manifest)
        .file("algo/docs/README.md", "# Hello\n")
        .args(&["validate", "algo"])
        .run()
        .code(0);
    let out = Test::new()
        .file("algorithm.yaml", &manifest)
        .args(&["validate"])
        .run();
    out.code(3);
    out.stderr_has("does not exist");
    // Escaping the repository through `..` is refused even though the file exists.
    let escaping = edit(
        "label: Hello",
        "label: Hello\n  summary_file: ../outside.md",
    );
    let out = Test::new()
        .file("repo/.git/HEAD", "ref: refs/heads/main\n")
        .file("repo/algorithm.yaml", &escaping)
        .file("outside.md", "secret\n")
        .args(&["validate", "repo"])
        .run();
    out.code(3);
    out.stderr_has("is outside the repository");
    let binary = Test::new()
        .file("algorithm.yaml", &manifest)
        .file("docs/README.md", b"\xff\xfe\x00bad")
        .args(&["validate"])
        .run();
    binary.code(3);
    binary.stderr_has("is not valid UTF-8");
}

#[test]
fn every_file_is_checked_in_one_run() {
    let out = Test::new()
        .file("a/algorithm.yaml", MINIMAL)
        .file("b/algorithm.yaml", edit("license: mit", "license: gnu"))
        .file("c/algorithm.yaml", edit("label: Hello", "label:"))
        .file("c/.hidden/algorithm.yaml", "not: [valid")
        .file("c/target/algorithm.yaml", "not: [valid")
        .args(&["validate", "."])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn json_format_is_a_stable_array() {
    let out = Test::new()
        .file(
            "algorithm.yaml",
            edit("license: mit", "license: gnu").replace("name: hello", "nme: hello"),
        )
        .args(&["validate", "--format", "json"])
        .run();
    out.code(3);
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let first = &parsed[0];
    let mut keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "code",
            "column",
            "end_column",
            "end_line",
            "file",
            "help",
            "line",
            "message",
            "severity"
        ]
    );
    insta::assert_snapshot!(out.stdout);
    let ok = Test::new()
        .file("algorithm.yaml", MINIMAL)
        .args(&["validate", "--format", "json"])
        .run();
    ok.code(0);
    assert_eq!(ok.stdout.trim(), "[]");
}

#[test]
fn github_format_annotates_lines() {
    let out = Test::new()
        .file("algorithm.yaml", edit("license: mit", "license: gnu"))
        .args(&["validate", "--format", "github"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn one_line_fields_refuse_control_and_invisible_characters() {
    for (value, code) in [("\"Hi\\e[8m\"", "U+001B"), ("\"Hi\\u202Eyb\"", "U+202E")] {
        let manifest =
            crate::harness::example().replace("label: Hello World", &format!("label: {value}"));
        let out = Test::new()
            .file("algorithm.yaml", &manifest)
            .args(&["validate", "--format", "json"])
            .run();
        out.code(3);
        let problems: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(
            problems
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["code"] == "value-not-allowed"
                    && p["message"].as_str().unwrap().contains(code)),
            "{problems}"
        );
        assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    }
}

#[test]
fn diagnostics_quoting_manifest_values_are_inert() {
    let manifest = crate::harness::example()
        .replace("license: apache2", "license: \"\\e[2J\\n::add-mask::z\"");
    let out = Test::new()
        .file("algorithm.yaml", &manifest)
        .args(&["validate"])
        .run();
    out.code(3);
    for line in out.stderr.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line:?}");
    }
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
}

#[test]
fn folders_git_ignores_are_not_searched_for_manifests() {
    let out = Test::new()
        .file(".gitignore", "generated/\n")
        .file("a/algorithm.yaml", MINIMAL)
        .file("generated/algorithm.yaml", "not: [valid")
        .file("node_modules/x/algorithm.yaml", "not: [valid")
        .args(&["validate", "."])
        .run();
    out.code(0);
    assert!(!out.stderr.contains("generated") && !out.stdout.contains("generated"));
    assert!(out.stdout.contains("a/algorithm.yaml") || out.stderr.contains("a/algorithm.yaml"));
}

//! `algodeploy schema`: a JSON Schema 2020-12 that an independent validator (the `jsonschema`
//! crate) applies to manifests with the same verdicts as `algodeploy validate`.

use crate::harness::{Test, example};

fn schema() -> serde_json::Value {
    let out = Test::new().args(&["schema"]).run();
    out.code(0);
    serde_json::from_str(&out.stdout).expect("schema is JSON")
}

fn as_json(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).expect("test YAML parses")
}

#[test]
fn schema_is_draft_2020_12_and_accepts_the_example() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = jsonschema::draft202012::new(&schema).expect("the schema is itself valid");
    let errors: Vec<String> = validator
        .iter_errors(&as_json(&example()))
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn schema_and_validator_agree_on_invalid_manifests() {
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let example = example();
    let mutations = [
        ("license: apache2", "license: gpl"),
        ("network_access: isolated", "network_acess: isolated"),
        ("pipeline_enabled: false", "pipeline_enabled: \"false\""),
        ("semantic_version: 1.0.0", "semantic_version: v1.0.0"),
        ("name: hello_world", "name: hello world"),
        ("owner: demo", "owner: 1demo"),
        ("source_visibility: open", "source_visibility: closed"),
        (
            "package_set: python38",
            "package_set: python38\n  language: java\n  environment: cpu",
        ),
        ("package_set: python38", "language: java"),
        ("package_set: python38", "algorithm_environment: not-a-uuid"),
        ("royalty_microcredits: 0", "royalty_microcredits: -1"),
        ("label: Hello World", "label: \"\""),
        (
            "tagline: Greets whoever calls it",
            "tagline: Greets\n  summary_file: README.md",
        ),
    ];
    for (from, to) in mutations {
        assert!(example.contains(from), "{from}");
        let manifest = example.replace(from, to);
        assert!(
            !validator.is_valid(&as_json(&manifest)),
            "the schema accepts `{to}`"
        );
        let out = Test::new()
            .file("algorithm.yaml", &manifest)
            .file("README.md", "# Hello\n")
            .args(&["validate"])
            .run();
        assert_eq!(
            out.exit_code(),
            3,
            "validate accepts `{to}`:\n{}",
            out.stderr
        );
    }
}

#[test]
fn schema_output_is_stable() {
    insta::assert_json_snapshot!(schema());
}

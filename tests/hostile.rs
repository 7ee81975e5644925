//! Every hostile input is refused (or, where it is legitimate, accepted) with the right class
//! and position, without crashing. How fast is measured by `benches/hostile.rs`, not here.

#[path = "hostile_cases.rs"]
mod cases;

use cases::Verdict;

use crate::harness::Test;

#[test]
fn hostile_manifests_get_located_refusals() {
    let mut failures = Vec::new();
    for case in cases::cases() {
        let out = Test::new()
            .file("algorithm.yaml", &case.bytes)
            .args(&["validate", "--format", "json"])
            .run();
        let diagnostics: serde_json::Value = match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!(
                    "{}: no JSON on stdout\n{}",
                    case.name,
                    out.snapshot()
                ));
                continue;
            }
        };
        let got = match diagnostics.as_array().map(Vec::as_slice) {
            Some([]) if out.exit_code() == 0 => Verdict::Accepted,
            Some([first, ..]) if out.exit_code() == 3 => Verdict::Refused {
                code: leak(first["code"].as_str().unwrap_or("?")),
                line: first["line"].as_u64().unwrap_or(0) as usize,
                column: first["column"].as_u64().unwrap_or(0) as usize,
            },
            _ => {
                failures.push(format!(
                    "{}: unexpected answer\n{}",
                    case.name,
                    out.snapshot()
                ));
                continue;
            }
        };
        if got != case.verdict {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.verdict, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

#[test]
fn a_folder_without_a_manifest_is_refused() {
    let out = Test::new()
        .file("empty/README.md", "hi")
        .args(&["validate", "empty"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
}

#[test]
fn a_missing_path_is_refused() {
    let out = Test::new()
        .args(&["validate", "nowhere/algorithm.yaml"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
    // No PATH means ./algorithm.yaml.
    let out = Test::new().args(&["validate"]).run();
    out.code(3);
    assert!(
        out.stderr
            .contains("cannot read `algorithm.yaml`: no such file or folder"),
        "{}",
        out.stderr
    );
}

#[test]
fn syntax_errors_in_text_format_show_the_source_line() {
    let out = Test::new()
        .file("algorithm.yaml", "owner: demo\nname: x\n<<: {a: 1}\n")
        .args(&["validate"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.snapshot());
}

/// The classes the hostile cases raise, as a person sees them (text format).
#[test]
fn file_level_classes_render_with_their_help() {
    let cases: [(&str, &[u8]); 5] = [
        ("yaml-tag", b"owner: demo\nname: !include /etc/passwd\n"),
        ("encoding", b"owner: demo\nname: caf\xe9\n"),
        ("empty", b"# only a comment\n"),
        ("yaml-limit", b"owner: demo\n---\nowner: other\n"),
        ("summary-file", b"owner: demo\nname: hello\ndetails:\n  label: Hello\n  summary_file: ../../etc/passwd\nsettings:\n  license: mit\n  source_visibility: open\n  network_access: isolated\n  pipeline_enabled: false\n  package_set: python38\nversion_info:\n  semantic_version: 1.0.0\n"),
    ];
    let mut all = String::new();
    for (class, bytes) in cases {
        let out = Test::new()
            .file("algorithm.yaml", bytes)
            .args(&["validate"])
            .run();
        out.code(3);
        assert!(
            out.stderr.contains(&format!("error[{class}]")),
            "{class}: {}",
            out.stderr
        );
        all.push_str(&out.stderr);
    }
    crate::harness::filters().bind(|| insta::assert_snapshot!(all));
}

//! Hostile manifests from pull requests, as generated inputs with what algodeploy must say
//! about each. Shared by the regression tests (`tests/hostile.rs`) and the benchmark
//! (`benches/hostile.rs`), which measures how fast each is refused.

/// What `validate` must answer: refused with this code at this line and column, or accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Refused {
        code: &'static str,
        line: usize,
        column: usize,
    },
    Accepted,
}

pub(crate) struct Case {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub verdict: Verdict,
}

/// The valid head shared by the cases that put something hostile further down (4 lines).
const HEAD: &str = "owner: demo\nname: hello\ndetails:\n  label: Hello\n";
/// The valid rest, after `details` (8 lines).
const TAIL: &str = "settings:\n  license: mit\n  source_visibility: open\n  network_access: isolated\n  pipeline_enabled: false\n  package_set: python38\nversion_info:\n  semantic_version: 1.0.0\n";

fn refused(code: &'static str, line: usize, column: usize) -> Verdict {
    Verdict::Refused { code, line, column }
}

pub(crate) fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name, bytes: Vec<u8>, verdict| {
        cases.push(Case {
            name,
            bytes,
            verdict,
        });
    };

    add(
        "over 1 MiB",
        format!("{HEAD}  summary: {}\n{TAIL}", "x".repeat(1024 * 1024)).into_bytes(),
        refused("too-large", 1, 1),
    );

    let mut laughs = String::from(
        "owner: demo\nlol0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        laughs.push_str(&format!("lol{i}: &a{i} [{refs}]\n"));
    }
    add(
        "billion laughs",
        laughs.into_bytes(),
        refused("yaml-limit", 2, 11),
    );

    let list: Vec<String> = (0..20_000).map(|i| (i % 10).to_string()).collect();
    let fan_out = format!(
        "{HEAD}{TAIL}  sample_input: &big [{}]\n  sample_output: [{}]\n",
        list.join(","),
        vec!["*big"; 20_000].join(",")
    );
    add(
        "alias fan-out",
        fan_out.into_bytes(),
        refused("yaml-limit", 13, 22),
    );

    add(
        "100k nested [",
        format!(
            "{HEAD}{TAIL}  sample_input: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .into_bytes(),
        refused("yaml-limit", 13, 33),
    );
    add(
        "100k nested { never closed",
        format!("{HEAD}{TAIL}  sample_input: {}\n", "{a: ".repeat(100_000)).into_bytes(),
        refused("yaml-limit", 13, 73),
    );
    let mut staircase = format!("{HEAD}{TAIL}  sample_input:\n");
    for depth in 0..300 {
        staircase.push_str(&" ".repeat(4 + depth * 2));
        staircase.push_str("-\n");
    }
    assert!(staircase.len() > 40_000 - 10_000);
    add(
        "40 KB of nested block lists",
        staircase.into_bytes(),
        refused("yaml-limit", 28, 33),
    );

    add(
        "900 KB scalar in a one-line field",
        format!(
            "owner: demo\nname: hello\ndetails:\n  label: {}\n{TAIL}",
            "x".repeat(900 * 1024)
        )
        .into_bytes(),
        refused("value-not-allowed", 4, 10),
    );
    add(
        "900 KB summary",
        format!("{HEAD}  summary: {}\n{TAIL}", "x".repeat(900 * 1024)).into_bytes(),
        Verdict::Accepted,
    );

    let mut utf8 = format!("{HEAD}{TAIL}").into_bytes();
    utf8.splice(44..44, [0xC3, 0x28]);
    add("invalid UTF-8", utf8, refused("encoding", 4, 12));

    let nul = format!("{HEAD}{TAIL}").replace("label: Hello", "label: Hel\0lo");
    add("NUL byte", nul.into_bytes(), refused("encoding", 4, 13));

    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        format!("{HEAD}{TAIL}")
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    add("UTF-16 byte-order mark", utf16, refused("encoding", 1, 1));

    add(
        "several documents",
        format!("{HEAD}{TAIL}---\n{HEAD}{TAIL}").into_bytes(),
        refused("yaml-limit", 13, 1),
    );
    add(
        "!!binary tag",
        format!("{HEAD}{TAIL}  sample_input: !!binary aGVsbG8=\n").into_bytes(),
        refused("yaml-tag", 13, 17),
    );
    add(
        "!include tag",
        format!("{HEAD}  summary: !include /etc/passwd\n{TAIL}").into_bytes(),
        refused("yaml-tag", 5, 12),
    );
    add(
        "!!python/object tag",
        format!("{HEAD}{TAIL}  sample_input: !!python/object/apply:os.system [\"echo hi\"]\n")
            .into_bytes(),
        refused("yaml-tag", 13, 17),
    );
    add(
        "merge key",
        format!("{HEAD}{TAIL}")
            .replace("  license: mit\n", "  <<: {license: mit}\n")
            .into_bytes(),
        refused("yaml-limit", 6, 3),
    );
    add(
        "CRLF line endings, valid",
        format!("{HEAD}{TAIL}").replace('\n', "\r\n").into_bytes(),
        Verdict::Accepted,
    );
    add(
        "CRLF line endings, positions kept",
        format!("{HEAD}{TAIL}")
            .replace("license: mit", "license: gnu")
            .replace('\n', "\r\n")
            .into_bytes(),
        refused("value-not-allowed", 6, 12),
    );
    add("empty file", Vec::new(), refused("empty", 1, 1));
    add(
        "only comments",
        b"# nothing\n# here\n".to_vec(),
        refused("empty", 1, 1),
    );
    cases
}

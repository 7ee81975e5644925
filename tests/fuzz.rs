//! Property-based fuzzing of the manifest loader (proptest; cargo-fuzz needs a nightly
//! toolchain, which this project's machines cannot fetch). Bounded: a few hundred cases per
//! property. A failing input is saved by proptest under `proptest-regressions/` and replayed on
//! every later run; commit it with the fix.

use proptest::prelude::*;

fn check(bytes: &[u8]) {
    let path = std::path::Path::new("algorithm.yaml");
    match algodeploy::manifest::check(path, bytes, std::path::Path::new(".")) {
        Ok(loaded) => assert!(!loaded.manifest.name.is_empty()),
        Err(diagnostics) => {
            assert!(
                !diagnostics.is_empty(),
                "an invalid manifest without a diagnostic"
            );
            for d in diagnostics {
                assert!(d.span.line >= 1, "{d:?}");
                assert!(
                    d.span.start <= d.span.end && d.span.end <= bytes.len(),
                    "span out of bounds: {d:?}"
                );
                assert!(!d.message.is_empty());
            }
        }
    }
}

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/algorithm.yaml"
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_crash_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn yaml_shaped_noise_never_crashes_the_loader(text in "([a-z_]{1,12}: ?[-\\[\\]{}&*!|>'\"#:, a-z0-9.]{0,20}\n {0,6}){0,40}") {
        check(text.as_bytes());
    }

    #[test]
    fn edits_of_the_example_never_crash_the_loader(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            Just(String::new()), Just("\n".to_string()), Just(": ".to_string()), Just("- ".to_string()),
            Just("&a ".to_string()), Just("*a".to_string()), Just("<<: ".to_string()), Just("!!binary ".to_string()),
            Just("[".to_string()), Just("{".to_string()), Just("\"".to_string()), Just("\t".to_string()),
            Just("\u{feff}".to_string()), Just("sim0123456789012345678901234".to_string()), "[ -~]{1,8}",
        ]), 1..6)
    ) {
        let mut text = example();
        for (at, insert) in edits {
            let mut index = at.index(text.len() + 1);
            while !text.is_char_boundary(index) {
                index -= 1;
            }
            text.insert_str(index, &insert);
        }
        check(text.as_bytes());
    }
}

//! What the platform's build needs in an algorithm's repository, by runtime: the rule the
//! emulator's builds apply, and the check `plan` makes on the deploy tree before anything is
//! created or pushed (a missing entry point is found before the build, not by it).
//!
//! | runtime | needs |
//! |---|---|
//! | `python2-langpack`, `python3-1`, and every package set or environment not listed below | `src/<name>.py`, `requirements.txt` |
//! | `java`, package sets starting `java` | `pom.xml`, `src/main/java/` |
//! | `scala`, package sets starting `scala` | `build.sbt`, `src/main/scala/` |
//! | `javascript`, package sets starting `node` | `package.json`, `src/<name>.js` |
//! | `r`, package sets `r` followed by digits (`r36`) | `src/<name>.r` |
//! | `ruby` | `Gemfile`, `src/<name>.rb` |
//! | `rust` | `Cargo.toml`, `src/lib.rs` |

/// The runtime family: `python`, `java`, `scala`, `javascript`, `r`, `ruby` or `rust`, from the
/// legacy `language` or the `package_set` (empty when not given).
pub fn runtime_kind(language: &str, package_set: &str) -> &'static str {
    match language {
        "java" => "java",
        "scala" => "scala",
        "javascript" => "javascript",
        "r" => "r",
        "ruby" => "ruby",
        "rust" => "rust",
        "" if package_set.starts_with("java") => "java",
        "" if package_set.starts_with("scala") => "scala",
        "" if package_set.starts_with("node") => "javascript",
        "" if package_set.len() > 1
            && package_set.starts_with('r')
            && package_set[1..].chars().all(|c| c.is_ascii_digit()) =>
        {
            "r"
        }
        _ => "python",
    }
}

/// The files (and folders, ending in `/`) a runtime family needs for an algorithm `name`.
pub fn required_paths(kind: &str, name: &str) -> Vec<String> {
    match kind {
        "java" => vec!["pom.xml".into(), "src/main/java/".into()],
        "scala" => vec!["build.sbt".into(), "src/main/scala/".into()],
        "javascript" => vec!["package.json".into(), format!("src/{name}.js")],
        "r" => vec![format!("src/{name}.r")],
        "ruby" => vec!["Gemfile".into(), format!("src/{name}.rb")],
        "rust" => vec!["Cargo.toml".into(), "src/lib.rs".into()],
        _ => vec![format!("src/{name}.py"), "requirements.txt".into()],
    }
}

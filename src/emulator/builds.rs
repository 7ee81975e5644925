//! Builds: what a push (or `compile`) starts, and how the emulator decides whether a commit
//! builds. A build checks the pushed tree the way the platform would before running anything:
//! the entry point that the algorithm's runtime expects must exist.
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

use std::path::Path;

use super::store::Algorithm;

/// The files and folders a runtime needs, given the algorithm's settings.
pub fn required_paths(algorithm: &Algorithm) -> Vec<String> {
    let settings = &algorithm.settings;
    let language = settings["language"].as_str().unwrap_or("");
    let package_set = settings["package_set"].as_str().unwrap_or("");
    let name = &algorithm.name;
    let kind = match language {
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
    };
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

/// Checks one commit of a bare repository; returns whether it built and the build log.
pub fn check(
    repo: &Path,
    commit: &str,
    algorithm: &Algorithm,
    forced_failure: bool,
) -> (bool, String) {
    let mut log = vec![
        format!(
            "Building {}/{} at commit {commit}",
            algorithm.owner, algorithm.name
        ),
        format!("Runtime: {}", runtime_name(algorithm)),
    ];
    if forced_failure {
        log.push("error: build failed (failure injected through /_emulator)".into());
        return (false, log.join("\n") + "\n");
    }
    let tree = git2::Repository::open_bare(repo).and_then(|r| {
        let oid = git2::Oid::from_str(commit)?;
        let tree = r.find_commit(oid)?.tree()?;
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            let name = entry.name().unwrap_or("");
            let suffix = if entry.kind() == Some(git2::ObjectType::Tree) {
                "/"
            } else {
                ""
            };
            paths.push(format!("{root}{name}{suffix}"));
            git2::TreeWalkResult::Ok
        })?;
        Ok(paths)
    });
    let paths = match tree {
        Ok(paths) => paths,
        Err(e) => {
            log.push(format!(
                "error: cannot read commit {commit}: {}",
                e.message()
            ));
            return (false, log.join("\n") + "\n");
        }
    };
    let mut ok = true;
    for needed in required_paths(algorithm) {
        if paths.contains(&needed) {
            log.push(format!("found {needed}"));
        } else {
            log.push(format!("error: missing {needed}: the runtime needs it"));
            ok = false;
        }
    }
    log.push(if ok {
        "Build succeeded".into()
    } else {
        "Build failed".into()
    });
    (ok, log.join("\n") + "\n")
}

fn runtime_name(algorithm: &Algorithm) -> String {
    let s = &algorithm.settings;
    if let (Some(l), Some(e)) = (s["language"].as_str(), s["environment"].as_str()) {
        format!("{l} ({e})")
    } else if let Some(p) = s["package_set"].as_str() {
        format!("package set {p}")
    } else if let Some(e) = s["algorithm_environment"].as_str() {
        format!("environment {e}")
    } else {
        "unknown".into()
    }
}

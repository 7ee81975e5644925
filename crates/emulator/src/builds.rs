//! Builds: what a push (or `compile`) starts, and how the emulator decides whether a commit
//! builds. A build checks the pushed tree the way the platform would before running anything:
//! the entry point that the algorithm's runtime expects must exist.
//! The rule is `algodeploy_platform::entry_points` (the platform's, shared with the plan's check).
//!
//! Also the build queue: a build's row is written when it starts (`in-progress`), and its
//! result after the build delay ([`start_build`], [`run_build`]); builds left running by an
//! earlier start are finished at start-up ([`builds_resume`]). A compile runs its build in the
//! request ([`insert_build`], then [`run_build`]).

use std::path::Path;
use std::sync::Arc;

use crate::api::ApiError;
use crate::store::{self, Algorithm};
use crate::{State, now, runtime};

/// The language family of an algorithm's runtime: `python`, `java`, `scala`, `javascript`,
/// `r`, `ruby` or `rust`.
pub(crate) fn runtime_kind(algorithm: &Algorithm) -> &'static str {
    let settings = &algorithm.settings;
    algodeploy_platform::entry_points::runtime_kind(
        settings["language"].as_str().unwrap_or(""),
        settings["package_set"].as_str().unwrap_or(""),
    )
}

/// The files and folders a runtime needs, given the algorithm's settings.
pub(crate) fn required_paths(algorithm: &Algorithm) -> Vec<String> {
    algodeploy_platform::entry_points::required_paths(runtime_kind(algorithm), &algorithm.name)
}

/// Checks one commit of a bare repository; returns whether it built and the build log.
pub(crate) fn check(
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

/// The starter files a new algorithm's repository gets, as the platform commits them: for
/// Python `src/<name>.py` with an `apply`, `src/__init__.py`, a test and `requirements.txt`; for
/// other runtimes the files their build needs. The template builds.
pub(crate) fn template(algorithm: &Algorithm) -> Vec<(String, String)> {
    let name = &algorithm.name;
    let class = {
        let mut c = name.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let files: Vec<(String, String)> = match runtime_kind(algorithm) {
        "java" => vec![
            ("pom.xml".into(), format!("<project>\n  <modelVersion>4.0.0</modelVersion>\n  <groupId>algorithmia</groupId>\n  <artifactId>{name}</artifactId>\n  <version>0.1</version>\n</project>\n")),
            (format!("src/main/java/algorithmia/{name}/{class}.java"), format!("package algorithmia.{name};\n\npublic class {class} {{\n    public String apply(String input) {{\n        return \"hello \" + input;\n    }}\n}}\n")),
        ],
        "scala" => vec![
            ("build.sbt".into(), format!("name := \"{name}\"\n")),
            (format!("src/main/scala/algorithmia/{name}/{class}.scala"), format!("package algorithmia.{name}\n\nclass {class} {{\n  def apply(input: String): String = s\"hello $input\"\n}}\n")),
        ],
        "javascript" => vec![
            ("package.json".into(), format!("{{\"name\": \"{name}\", \"version\": \"0.1.0\"}}\n")),
            (format!("src/{name}.js"), "exports.apply = function(input, cb) {\n    cb(null, \"hello \" + input);\n};\n".into()),
        ],
        "r" => vec![(format!("src/{name}.r"), "algorithm <- function(input) {\n    paste(\"hello\", input)\n}\n".into())],
        "ruby" => vec![
            ("Gemfile".into(), "source 'https://rubygems.org'\n".into()),
            (format!("src/{name}.rb"), "def apply(input)\n  \"hello #{input}\"\nend\n".into()),
        ],
        "rust" => vec![
            ("Cargo.toml".into(), format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")),
            ("src/lib.rs".into(), "pub fn apply(input: String) -> String {\n    format!(\"hello {input}\")\n}\n".into()),
        ],
        _ => vec![
            (format!("src/{name}.py"), "# Calls begin at apply(), with the call's input: a string, a JSON value or bytes.\n# Add the packages you import to requirements.txt.\n\ndef apply(input):\n    return \"hello {}\".format(input)\n".into()),
            ("src/__init__.py".into(), String::new()),
            (format!("src/{name}_test.py"), format!("from . import {name}\n\n\ndef test_{name}():\n    assert {name}.apply(\"Jane\") == \"hello Jane\"\n")),
            ("requirements.txt".into(), "# The Python packages this algorithm imports, one per line.\n".into()),
        ],
    };
    files
}

/// Commit `files` as the first commit of `repo`'s `master`; the commit's id.
pub(crate) fn commit_template(
    repo: &git2::Repository,
    files: &[(String, String)],
) -> Result<git2::Oid, git2::Error> {
    fn tree(repo: &git2::Repository, files: &[(&str, &str)]) -> Result<git2::Oid, git2::Error> {
        let mut builder = repo.treebuilder(None)?;
        let mut folders: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
        for (path, text) in files {
            match path.split_once('/') {
                Some((folder, rest)) => folders.entry(folder).or_default().push((rest, text)),
                None => {
                    let blob = repo.blob(text.as_bytes())?;
                    builder.insert(path, blob, 0o100644)?;
                }
            }
        }
        for (folder, inner) in folders {
            let id = tree(repo, &inner)?;
            builder.insert(folder, id, 0o040000)?;
        }
        builder.write()
    }
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let tree = repo.find_tree(tree(repo, &borrowed)?)?;
    let signature = git2::Signature::now("Algorithmia", "support@algorithmia.com")?;
    repo.commit(
        Some("refs/heads/master"),
        &signature,
        &signature,
        "Initial commit",
        &tree,
        &[],
    )
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

/// A new `in-progress` build row of `commit`.
pub(crate) fn insert_build(
    state: &State,
    algorithm_id: &str,
    commit: &str,
) -> Result<store::Build, ApiError> {
    state.tx(|tx| {
        Ok(tx.insert_build(
            algorithm_id,
            &uuid::Uuid::new_v4().to_string(),
            commit,
            &now(),
        )?)
    })
}

/// Start a build of `commit`: the row now, the result after the build delay.
pub(crate) fn start_build(
    state: &Arc<State>,
    algorithm_id: &str,
    commit: &str,
) -> Result<store::Build, ApiError> {
    let build = insert_build(state, algorithm_id, commit)?;
    let task_state = state.clone();
    let seq = build.seq;
    tokio::spawn(async move { run_build(task_state, seq).await });
    Ok(build)
}

/// Finish one build: wait the build delay, check the tree, record the result.
pub(crate) async fn run_build(state: Arc<State>, seq: i64) -> Option<store::Build> {
    tokio::time::sleep(state.build_delay).await;
    let (build, algorithm) = state
        .tx(|tx| {
            let build = tx.build_by_seq(seq)?;
            let algorithm = match &build {
                Some(b) => tx.algorithm_by_id(&b.algorithm_id)?,
                None => None,
            };
            Ok((build, algorithm))
        })
        .ok()?;
    let (build, algorithm) = (build?, algorithm?);
    if build.status != "in-progress" {
        return Some(build);
    }
    let forced = state
        .control
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take_build_failure(&algorithm.id);
    let repo = state.repo_path(&algorithm.owner, &algorithm.name);
    let commit = build.commit_sha.clone();
    let checked = algorithm.clone();
    let prepared = state.clone();
    let (ok, logs) = tokio::task::spawn_blocking(move || {
        let (mut ok, mut logs) = check(&repo, &commit, &checked, forced);
        // A Python build that checks out also gets its files ready to run.
        if ok && runtime::is_python(&checked) {
            match prepared.runtime.prepare(&repo, &commit, &checked) {
                Ok(lines) => lines.iter().for_each(|l| logs.push_str(&format!("{l}\n"))),
                Err(lines) => {
                    lines.iter().for_each(|l| logs.push_str(&format!("{l}\n")));
                    logs.push_str("Build failed\n");
                    ok = false;
                }
            }
        }
        (ok, logs)
    })
    .await
    .unwrap_or((false, "error: the build crashed\n".into()));
    state
        .tx(|tx| {
            let status = if ok { "succeeded" } else { "failed" };
            tx.finish_build(seq, status, &now(), &logs)?;
            if ok {
                tx.record_built_version(
                    &algorithm.id,
                    &build.commit_sha,
                    seq,
                    algorithm.sample_input.as_deref(),
                )?;
            }
            Ok(tx.build_by_seq(seq)?)
        })
        .ok()
        .flatten()
}

/// Finish the builds that were running when the emulator last stopped.
pub(crate) fn builds_resume(state: &Arc<State>) {
    let running = state.tx(|tx| Ok(tx.in_progress_builds()?));
    for build in running.unwrap_or_default() {
        let state = state.clone();
        tokio::spawn(async move { run_build(state, build.seq).await });
    }
}

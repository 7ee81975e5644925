//! Saved plans: recognising one, finding its manifests, refusing a stale or altered one, and
//! `algodeploy show`.
//!
//! A saved plan is bound to what was reviewed: apply recomputes the plan from the same
//! manifests, git and live state and executes the file only if every algorithm's steps (each
//! request body, commit, remote and lease), desired fields, targets and counts are what the
//! recomputation gives.

use super::gather::Prepared;
use super::*;
use crate::cli::ShowArgs;

/// `apply PLANFILE` (Terraform's habit): a single path whose content is a saved plan.
pub(super) fn saved_plan_path(paths: &[PathBuf]) -> Option<PathBuf> {
    use std::io::Read;
    let [path] = paths else { return None };
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(64 * 1024 * 1024).read_to_string(&mut text).ok()?;
    Plan::looks_like(&text).then(|| path.clone())
}

/// The manifests of a saved plan: relative paths start in the folder the plan was made in.
pub(super) fn plan_manifests(saved: &Plan, file: &Path) -> Result<Vec<PathBuf>, Error> {
    let here = std::env::current_dir().ok();
    let made_in = (!saved.made_in.is_empty()).then(|| PathBuf::from(&saved.made_in));
    saved
        .algorithms
        .iter()
        .map(|a| {
            let path = PathBuf::from(&a.manifest);
            let resolved = match (&made_in, &here) {
                (Some(made), Some(here)) if path.is_relative() && made != here => made.join(&path),
                _ => path,
            };
            if resolved.is_file() {
                Ok(resolved)
            } else {
                Err(Error::PlanFile {
                    path: file.to_path_buf(),
                    reason: format!(
                        "it was made in `{}`, and its manifest `{}` is not there now; apply it from a checkout at that place",
                        saved.made_in, a.manifest
                    ),
                })
            }
        })
        .collect()
}

/// `algodeploy show PLANFILE`: a saved plan, as text, JSON or Markdown.
pub fn show_command(args: &ShowArgs, color: bool) -> Result<Outcome, Error> {
    let saved = parse_plan_file(&args.plan)?;
    if saved.tool_version != crate::VERSION {
        eprintln!(
            "note: the plan was made by algodeploy {}; this is {} (apply would refuse it)",
            crate::sanitize::inert(&saved.tool_version),
            crate::VERSION
        );
    }
    match args.format {
        PlanFormat::Text => out(paint(&saved, color))?,
        PlanFormat::Json => {
            out(&(serde_json::to_string_pretty(&saved).expect("a plan serializes") + "\n"))?;
        }
        PlanFormat::Markdown => out(saved.render_markdown(&format!("`{}`", args.plan.display())))?,
    }
    Ok(Outcome::Done)
}

pub(super) fn parse_plan_file(path: &Path) -> Result<Plan, Error> {
    use std::io::Read;
    let bad = |reason: String| Error::PlanFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024 * 1024).read_to_string(&mut text))
        .map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
    if value["format_version"].as_u64() != Some(u64::from(plan::FORMAT_VERSION)) {
        return Err(bad(format!(
            "format_version {} is not {}",
            value["format_version"],
            plan::FORMAT_VERSION
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a plan ({e})")))
}

pub(super) fn read_plan_file(path: &Path) -> Result<Plan, Error> {
    let saved = parse_plan_file(path)?;
    if saved.tool_version != crate::VERSION {
        return Err(Error::Stale {
            reasons: vec![format!(
                "it was made by algodeploy {}, this is {}",
                saved.tool_version,
                crate::VERSION
            )],
        });
    }
    Ok(saved)
}

/// A saved plan may be applied only if nothing it was made from has moved, and nothing in it
/// was changed since it was made: `fresh` is the plan recomputed now from the same manifests.
pub(super) fn check_fresh(saved: &Plan, prepared: &[Prepared], fresh: &Plan) -> Result<(), Error> {
    let mut reasons = Vec::new();
    let recounted = Plan::new(saved.algorithms.clone(), saved.made_in.clone());
    if recounted.summary != saved.summary {
        reasons.push(
            "its summary counts do not match its steps: the file was edited after it was made"
                .to_string(),
        );
    }
    for ((algorithm, p), now) in saved.algorithms.iter().zip(prepared).zip(&fresh.algorithms) {
        let name = &algorithm.algorithm;
        let before = reasons.len();
        let declared = p.algorithm();
        if *name != declared
            || algorithm.owner != p.loaded.manifest.owner
            || algorithm.name != p.loaded.manifest.name
        {
            reasons.push(format!(
                "{name}: the plan targets `{}/{}` ({name}), but its manifest `{}` declares {declared}: the file was edited after it was made",
                algorithm.owner, algorithm.name, algorithm.manifest
            ));
            continue;
        }
        if plan::manifest_digest(p.loaded.source.as_bytes(), p.loaded.summary.as_deref())
            != algorithm.manifest_digest
        {
            reasons.push(format!(
                "{name}: the manifest `{}` changed",
                algorithm.manifest
            ));
        }
        if p.git.head != algorithm.git.head {
            reasons.push(format!(
                "{name}: HEAD moved from {} to {}",
                git::short(&algorithm.git.head),
                git::short(&p.git.head)
            ));
        }
        if algorithm.git.deployed() != p.source.commit {
            reasons.push(format!(
                "{name}: the deploy commit is {} now, not {}",
                git::short(&p.source.commit),
                git::short(algorithm.git.deployed())
            ));
        }
        if now.live_digest != algorithm.live_digest {
            reasons.push(format!("{name}: the live algorithm changed (fields, published versions or the remote `master`)"));
        }
        if reasons.len() > before {
            continue;
        }
        // Nothing it was made from moved, so the recomputed plan must be the file's.
        let differs = [
            (
                "steps (request bodies, commits, remotes)",
                algorithm.steps != now.steps,
            ),
            ("desired fields", algorithm.desired != now.desired),
            ("pending changes", algorithm.pending != now.pending),
            ("version", algorithm.version != now.version),
            (
                "published commit",
                algorithm.published_from != now.published_from,
            ),
            ("remote", algorithm.git.remote != now.git.remote),
            ("digests", algorithm.manifest_digest != now.manifest_digest),
        ];
        for (what, _) in differs.iter().filter(|(_, d)| *d) {
            reasons.push(format!(
                "{name}: its {what} are not what the same manifest, HEAD and live state give: the file was edited after it was made"
            ));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Error::Stale { reasons })
    }
}

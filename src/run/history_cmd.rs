//! `algodeploy history [PATH | OWNER/NAME]`: the published versions, newest first, with the
//! commit each was built from, the monorepo commit that deploy commit came from (its
//! `Algodeploy-Source-Commit` trailer, when the commit is in the local repository), when its
//! build finished, callability, release notes, and whether it was a rollback.

use super::*;
use crate::cli::HistoryArgs;
use crate::current::BuildStatus;

/// One published version, as `history` shows it.
#[derive(Debug, serde::Serialize)]
struct Entry {
    version: String,
    commit: String,
    /// The monorepo commit the deploy commit was derived from (`null`: HEAD-style deploys, or
    /// the commit is not in the local repository).
    source_commit: Option<String>,
    /// When the build of `commit` finished, as the server says.
    built_at: Option<String>,
    callability: Option<String>,
    release_notes: Option<String>,
    /// The version whose code this one republished (`algodeploy rollback`).
    rollback_of: Option<String>,
}

use crate::plan::ROLLBACK_NOTE;

pub fn history_command(args: &HistoryArgs) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    let target = args
        .target
        .clone()
        .unwrap_or_else(|| "algorithm.yaml".into());
    // A path that exists is a manifest (or a folder of one); otherwise OWNER/NAME.
    let mut api = args.api.clone();
    let (owner, name, repo) = if Path::new(&target).exists() {
        let loaded = load_all(&[PathBuf::from(&target)], false)?;
        let (loaded, with_env) = super::load::select_environment(loaded, &args.api)?;
        api = with_env;
        let [loaded] = loaded.as_slice() else {
            return Err(Error::Usage {
                message: format!(
                    "`{target}` holds {} manifests; name one (or OWNER/NAME)",
                    loaded.len()
                ),
            });
        };
        let repo = git::discover(&loaded.path).ok();
        (
            loaded.manifest.owner.clone(),
            loaded.manifest.name.clone(),
            repo,
        )
    } else {
        match target.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                (o.to_string(), n.to_string(), None)
            }
            _ => {
                return Err(Error::Usage {
                    message: format!(
                        "`{target}` is neither a manifest nor OWNER/NAME (no such file or folder)"
                    ),
                });
            }
        }
    };
    let algorithm = format!("{owner}/{name}");
    let client = connect(&api)?.client;
    let (found, published, builds) = Session::new(args.api.timeout).block(async {
        tokio::join!(
            client.algorithm(&owner, &name),
            client.published_versions(&owner, &name),
            client.builds(&owner, &name, |_| false),
        )
    })?;
    if found.about(&algorithm)?.is_none() {
        return Err(Error::NoAlgorithm {
            algorithm: algorithm.clone(),
        });
    }
    let mut published = published.about(&algorithm)?;
    let builds = builds.about(&algorithm)?;
    published.sort_by_key(|p| std::cmp::Reverse(p.version));
    let entries: Vec<Entry> = published
        .iter()
        .map(|p| {
            let source_commit = repo
                .as_ref()
                .and_then(|r| crate::deploy::source_commit(r, &p.commit));
            let built_at = builds
                .iter()
                .find(|b| b.commit == p.commit && b.status == BuildStatus::Succeeded)
                .and_then(|b| b.finished_at.clone());
            let rollback_of = p
                .release_notes
                .as_deref()
                .and_then(|n| n.strip_prefix(ROLLBACK_NOTE))
                .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == ':').next())
                .filter(|v| crate::version::Version::parse(v).is_some())
                .map(str::to_owned);
            Entry {
                version: p.version.to_string(),
                commit: p.commit.clone(),
                source_commit,
                built_at,
                callability: p.callability.map(|c| c.as_str().to_string()),
                release_notes: p.release_notes.clone(),
                rollback_of,
            }
        })
        .collect();
    match args.format {
        PlanFormat::Json => {
            let document = serde_json::json!({
                "format_version": plan::FORMAT_VERSION,
                "algorithm": algorithm,
                "versions": entries,
            });
            out(&(serde_json::to_string_pretty(&document).expect("history serializes") + "\n"))?;
        }
        PlanFormat::Markdown => out(markdown(&algorithm, &entries))?,
        PlanFormat::Text => out(text(&algorithm, &entries))?,
    }
    Ok(Outcome::Done)
}

fn text(algorithm: &str, entries: &[Entry]) -> String {
    let mut out = match entries.len() {
        0 => format!("{algorithm}: no published versions\n"),
        1 => format!("{algorithm}: 1 published version\n"),
        n => format!("{algorithm}: {n} published versions, newest first\n"),
    };
    for e in entries {
        let mut line = format!("  {:<9} {}", e.version, git::short(&e.commit));
        if let Some(source) = &e.source_commit {
            line.push_str(&format!(" (from {})", git::short(source)));
        }
        if let Some(at) = &e.built_at {
            line.push_str(&format!("  built {at}"));
        }
        if let Some(c) = &e.callability {
            line.push_str(&format!("  {c}"));
        }
        if let Some(of) = &e.rollback_of {
            line.push_str(&format!("  rollback to {of}"));
        }
        out.push_str(&crate::sanitize::inert(&line));
        out.push('\n');
        if let Some(notes) = e.release_notes.as_deref().filter(|n| !n.trim().is_empty()) {
            let first = notes.lines().next().unwrap_or("");
            out.push_str(&crate::sanitize::inert(&format!("      {first}")));
            out.push('\n');
        }
    }
    out
}

fn markdown(algorithm: &str, entries: &[Entry]) -> String {
    use crate::plan::markdown_cell as cell;
    let mut out = format!("### `{}`: published versions\n\n", cell(algorithm));
    if entries.is_empty() {
        out.push_str("No published versions.\n");
        return out;
    }
    out.push_str("| version | commit | from | built | callability | release notes |\n|---|---|---|---|---|---|\n");
    for e in entries {
        let notes = match (&e.rollback_of, &e.release_notes) {
            (Some(of), _) => format!("rollback to {of}"),
            (None, Some(n)) => n.lines().next().unwrap_or("").to_string(),
            (None, None) => String::new(),
        };
        out.push_str(&crate::sanitize::inert(&format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            e.version,
            git::short(&e.commit),
            e.source_commit
                .as_deref()
                .map_or_else(String::new, |s| format!("`{}`", git::short(s))),
            cell(e.built_at.as_deref().unwrap_or("")),
            e.callability.as_deref().unwrap_or(""),
            cell(&notes)
        )));
    }
    out
}

//! `algodeploy destroy [PATH]`: delete the algorithm a manifest declares, after a plan and a
//! confirmation (`--yes` without a terminal). An algorithm with published versions is refused
//! (exit 4, naming them: their callers break) unless `--delete-published`. The local record of
//! what was applied goes with it.

use super::apply_cmd::confirm;
use super::*;
use crate::cli::DestroyArgs;

pub fn destroy_command(args: &DestroyArgs) -> Result<Outcome, Error> {
    let result = destroy_inner(args);
    if args.format == PlanFormat::Json
        && let Err(error) = &result
    {
        failure_document(error, serde_json::json!({"destroyed": false}));
    }
    result
}

fn destroy_inner(args: &DestroyArgs) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("algorithm.yaml"));
    let loaded = load_all(std::slice::from_ref(&path), false)?;
    let (loaded, api) = super::load::select_environment(loaded, &args.api)?;
    let [loaded] = loaded.as_slice() else {
        return Err(Error::Usage {
            message: format!(
                "`{}` holds {} manifests; destroy one at a time",
                path.display(),
                loaded.len()
            ),
        });
    };
    let (owner, name) = (&loaded.manifest.owner, &loaded.manifest.name);
    let algorithm = format!("{owner}/{name}");
    let manifest = crate::diagnostic::display_path(&loaded.path);
    let client = connect(&api)?.client;
    let session = Session::new(args.api.timeout);
    let (found, published) = session.block(async {
        tokio::join!(
            client.algorithm(owner, name),
            client.published_versions(owner, name)
        )
    })?;
    let found = found.about(&algorithm)?;
    let mut versions: Vec<crate::version::Version> = published
        .about(&algorithm)?
        .iter()
        .map(|p| p.version)
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(*v));
    let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
    let document = |destroyed: bool| {
        serde_json::json!({
            "format_version": plan::FORMAT_VERSION,
            "algorithm": algorithm,
            "manifest": manifest,
            "exists": found.is_some(),
            "published": versions,
            "destroyed": destroyed,
        })
    };
    let Some(found) = &found else {
        match args.format {
            PlanFormat::Json => out(&(document(false).to_string() + "\n"))?,
            _ => out(format!(
                "{algorithm} ({manifest})\n  no such algorithm: nothing to destroy\n"
            ))?,
        }
        return Ok(Outcome::Done);
    };
    if args.format != PlanFormat::Json {
        let published = if versions.is_empty() {
            "no published versions".to_string()
        } else {
            format!(
                "published versions {} (their callers break)",
                versions.join(", ")
            )
        };
        out(crate::sanitize::inert(&format!(
            "{algorithm} ({manifest})\n  - destroy {algorithm} (id {}): its repository, builds and {published}\n\nPlan: 1 to destroy.\n",
            found.id
        )))?;
    }
    if !versions.is_empty() && !args.delete_published {
        return Err(Error::HasPublished {
            algorithm: algorithm.clone(),
            versions,
        });
    }
    confirm(args.yes)?;
    let deleted = session.block(client.delete(owner, name))?;
    if let Err(e) = deleted {
        // An unclear answer: the algorithm may be gone already.
        let still = session
            .block(client.algorithm(owner, name))?
            .about(&algorithm)?;
        if still.is_some() {
            return Err(e).about(&algorithm);
        }
    }
    let record = state::path_for(&loaded.path);
    if record.exists() {
        let _ = std::fs::remove_file(&record);
    }
    match args.format {
        PlanFormat::Json => out(&(document(true).to_string() + "\n"))?,
        _ => eprintln!("Destroy complete: {algorithm} deleted."),
    }
    Ok(Outcome::Done)
}

//! Which manifests a run covers, loaded: `--changed-since`, `--shard`, invalid ones reported.

use super::*;
use crate::cli::ApiArgs;

/// Load every manifest; report all problems (stderr) and stop before anything is sent.
pub(super) fn load_all(paths: &[PathBuf], color: bool) -> Result<Vec<Loaded>, Error> {
    match load_selected(paths, None, color)? {
        (loaded, None) => Ok(loaded),
        (_, Some(invalid)) => Err(invalid),
    }
}

/// Load the manifests the run covers (`--changed-since`, `--shard`); problems of the others do
/// not stop it. Invalid manifests among them are reported (stderr) and returned as one error
/// beside the valid ones, which the run goes on with.
pub(super) fn load_selected(
    paths: &[PathBuf],
    options: Option<&PlanOptions>,
    color: bool,
) -> Result<(Vec<Loaded>, Option<Error>), Error> {
    let (mut loaded, mut reports) = crate::manifest::load_paths(paths);
    if let Some(options) = options {
        if let Some(reference) = &options.changed_since {
            let mut since = crate::select::ChangedSince::default();
            let mut keep =
                |path: &Path, summary: Option<&Path>, sources: &[&Path]| -> Result<bool, Error> {
                    // A reference that does not resolve, or a path outside any repository:
                    // the command line asked for something that cannot be (exit 64).
                    let changes = since.of(reference, path).map_err(|e| Error::Usage {
                        message: e.to_string(),
                    })?;
                    let folder = path
                        .parent()
                        .and_then(|p| {
                            changes.relative(if p.as_os_str().is_empty() {
                                Path::new(".")
                            } else {
                                p
                            })
                        })
                        .unwrap_or_default();
                    let mut extra: Vec<String> = summary
                        .into_iter()
                        .map(|s| crate::select::Changes::join(&folder, s))
                        .collect();
                    // A change in an included folder (or another root) selects its includers.
                    extra.extend(
                        sources
                            .iter()
                            .map(|s| crate::select::Changes::join(&folder, s)),
                    );
                    Ok(changes.touches(&folder, &extra))
                };
            let mut selected = Vec::new();
            for l in loaded {
                let repository = l.manifest.repository.clone().unwrap_or_default();
                let sources: Vec<&Path> = std::iter::once(repository.root.as_path())
                    .filter(|r| *r != Path::new("."))
                    .chain(repository.include.iter().map(|i| i.from.as_path()))
                    .collect();
                if keep(
                    &l.path,
                    l.manifest.details.summary_file.as_deref(),
                    &sources,
                )? {
                    selected.push(l);
                }
            }
            loaded = selected;
            let mut kept_reports = Vec::new();
            for r in reports {
                if keep(&r.path, None, &[])? {
                    kept_reports.push(r);
                }
            }
            reports = kept_reports;
            // Manifests deleted in the range: their algorithms stay as they are.
            let mut told = std::collections::HashSet::new();
            for path in paths.iter().chain(std::iter::once(&PathBuf::from("."))) {
                if let Ok(changes) = since.of(reference, path)
                    && told.insert(changes.root.clone())
                {
                    for removed in &changes.removed {
                        eprintln!(
                            "removed from the repository, left as is: {} (its algorithm is not deleted)",
                            crate::sanitize::inert(removed)
                        );
                    }
                }
            }
            eprintln!(
                "--changed-since {}: {} manifest{} changed",
                crate::sanitize::inert(reference),
                loaded.len() + reports.len(),
                if loaded.len() + reports.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        if let Some(shard) = options.shard {
            let name = |l: &Loaded| format!("{}/{}", l.manifest.owner, l.manifest.name);
            let mut names: Vec<String> = loaded.iter().map(name).collect();
            names.extend(
                reports
                    .iter()
                    .map(|r| r.path.to_string_lossy().into_owned()),
            );
            let held = shard.select(&names);
            loaded.retain(|l| held.contains(&name(l)));
            reports.retain(|r| held.contains(r.path.to_string_lossy().as_ref()));
        }
    }
    if reports.is_empty() {
        return Ok((loaded, None));
    }
    let text: String = reports.iter().map(|r| r.render_text(color)).collect();
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    let invalid = Error::manifest_invalid(&reports, loaded.len() + reports.len());
    Ok((loaded, Some(invalid)))
}

/// The manifests as `--env` selects them, and the API arguments with the environment's
/// profile: a manifest with environments needs `--env` (exit 64 listing them), an unknown
/// name is exit 64 too, and every manifest of the run must agree on the profile.
pub(super) fn select_environment(
    loaded: Vec<Loaded>,
    api: &ApiArgs,
) -> Result<(Vec<Loaded>, ApiArgs), Error> {
    let shown = |l: &Loaded| crate::diagnostic::display_path(&l.path);
    let mut api = api.clone();
    let Some(env) = api.env.clone() else {
        if let Some(l) = loaded.iter().find(|l| !l.environments.is_empty()) {
            return Err(Error::Usage {
                message: format!(
                    "`{}` declares environments ({}): choose one with --env NAME",
                    shown(l),
                    l.environment_names()
                ),
            });
        }
        return Ok((loaded, api));
    };
    state::set_environment(&env);
    let mut selected = Vec::new();
    let mut profiles = std::collections::BTreeSet::new();
    for l in loaded {
        if l.environments.is_empty() {
            return Err(Error::Usage {
                message: format!(
                    "`{}` declares no environments; --env {env} applies to manifests that do",
                    shown(&l)
                ),
            });
        }
        let Some(chosen) = l.for_environment(&env) else {
            return Err(Error::Usage {
                message: format!(
                    "`{}` has no environment `{env}` (it has: {})",
                    shown(&l),
                    l.environment_names()
                ),
            });
        };
        if let Some(profile) = l.environments[&env].profile.clone() {
            profiles.insert(profile);
        }
        selected.push(chosen);
    }
    match (profiles.len(), &api.profile) {
        (0, _) => {}
        (1, None) => {
            api.profile = profiles.into_iter().next();
            if api.api.is_none() && std::env::var_os("ALGORITHMIA_API").is_some() {
                eprintln!(
                    "warning: ALGORITHMIA_API overrides the api_server of profile `{}` that environment `{env}` names",
                    api.profile.as_deref().unwrap_or_default()
                );
            }
        }
        (1, Some(given)) if profiles.contains(given) => {}
        (_, given) => {
            return Err(Error::Usage {
                message: format!(
                    "environment `{env}` names the profiles {} across these manifests{}; deploy them in separate runs",
                    profiles.into_iter().collect::<Vec<_>>().join(", "),
                    given
                        .as_ref()
                        .map_or_else(String::new, |g| format!(" and --profile is {g}"))
                ),
            });
        }
    }
    Ok((selected, api))
}

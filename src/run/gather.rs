//! Gathering a run's inputs: the manifests it covers, each one's git state and deploy source,
//! its last-applied record, and the live state; then the plans. A failure of one manifest is
//! returned beside the others (as [`Error::In`]), never instead of them.

use super::*;
use crate::deploy::{self, Source, Spec};

/// Everything a plan of one manifest needs, gathered.
pub(super) struct Prepared {
    pub loaded: Loaded,
    pub git: GitState,
    pub record: Option<state::Record>,
    pub source: Source,
    pub spec: Spec,
}

impl Prepared {
    pub(super) fn algorithm(&self) -> String {
        algorithm_of(&self.loaded)
    }
}

pub(super) fn algorithm_of(loaded: &Loaded) -> String {
    format!("{}/{}", loaded.manifest.owner, loaded.manifest.name)
}

/// An error of one manifest, located for JSON documents and annotations.
pub(super) fn located(loaded: &Loaded, error: Error) -> Error {
    error.located(
        &crate::diagnostic::display_path(&loaded.path),
        Some(&algorithm_of(loaded)),
    )
}

/// What one manifest deploys, relative to its git repository's root.
fn spec_for(loaded: &Loaded, git_root: &Path) -> Result<Spec, Error> {
    let repository = loaded.manifest.repository.clone().unwrap_or_default();
    let folder = loaded
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = git_root.canonicalize().at("find", git_root)?;
    let relative = |path: &Path| -> Result<String, Error> {
        let full = folder.join(path);
        let canonical = full.canonicalize().at("find", &full)?;
        let inside = canonical
            .strip_prefix(&root)
            .map_err(|_| std::io::Error::other("it is outside the git repository"))
            .at("find", &full)?;
        Ok(inside
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"))
    };
    let manifest_folder = relative(Path::new("."))?;
    let root_folder = relative(&repository.root)?;
    let manifest_name = if manifest_folder == root_folder {
        loaded
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let includes = repository
        .include
        .iter()
        .map(|i| {
            Ok((
                relative(&i.from)?,
                i.to.to_string_lossy().replace('\\', "/"),
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Spec {
        root: root_folder,
        manifest_name,
        includes,
    })
}

/// The dirty files that matter to one manifest: any for a whole-repository deploy, else those
/// in its folders (and the manifest itself).
fn relevant_dirt(state: &GitState, spec: &Spec, manifest: &Path) -> Vec<String> {
    if spec.is_whole() {
        return state.dirty.clone();
    }
    let manifest = manifest
        .canonicalize()
        .ok()
        .and_then(|m| {
            let root = state.root.canonicalize().ok()?;
            m.strip_prefix(root)
                .ok()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .unwrap_or_default();
    let under = |folder: &str, path: &str| {
        folder.is_empty()
            || path == folder
            || path
                .strip_prefix(folder)
                .is_some_and(|r| r.starts_with('/'))
    };
    state
        .dirty
        .iter()
        .filter(|path| {
            *path == &manifest
                || under(&spec.root, path)
                || spec.includes.iter().any(|(from, _)| under(from, path))
        })
        .cloned()
        .collect()
}

fn inspect_git(inspections: &mut git::Inspections, loaded: &Loaded) -> Result<GitState, Error> {
    let (state, first) = inspections.of(&loaded.path)?;
    if first && !state.untracked.is_empty() {
        let shown: Vec<&str> = state
            .untracked
            .iter()
            .take(10)
            .map(String::as_str)
            .collect();
        let more = state.untracked.len().saturating_sub(10);
        eprintln!(
            "warning: not committed, so not deployed: {}{}",
            crate::sanitize::inert(&shown.join(", ")),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(state)
}

/// One manifest before its deploy commit is known.
struct Staged {
    loaded: Loaded,
    git: GitState,
    record: Option<state::Record>,
    spec: Spec,
}

/// Git state, summary, record and deploy source of each manifest; the deploy commits of a
/// repository are derived in one walk. Failures come back beside what could be prepared.
pub(super) fn prepare(
    loaded: Vec<Loaded>,
    options: &PlanOptions,
    color: bool,
) -> (Vec<Prepared>, Vec<Error>) {
    let mut staged = Vec::new();
    let mut failures = Vec::new();
    let mut reports = Vec::new();
    let mut inspections = git::Inspections::default();
    for mut loaded in loaded {
        let git = match inspect_git(&mut inspections, &loaded) {
            Ok(git) => git,
            Err(e) => {
                failures.push(located(&loaded, e));
                continue;
            }
        };
        // The summary that is deployed is the one committed in HEAD, not the work tree's.
        match crate::manifest::tracked_summary(&loaded, &git.root, true) {
            Ok(summary) => loaded.summary = summary,
            Err(report) => {
                reports.push(report);
                continue;
            }
        }
        let spec = match spec_for(&loaded, &git.root) {
            Ok(spec) => spec,
            Err(e) => {
                failures.push(located(&loaded, e));
                continue;
            }
        };
        let dirt = relevant_dirt(&git, &spec, &loaded.path);
        if !options.allow_dirty && !dirt.is_empty() {
            let error = Error::Git {
                source: git::GitError::Dirty {
                    root: git.root.clone(),
                    files: dirt,
                },
            };
            failures.push(located(&loaded, error));
            continue;
        }
        match state::load(&loaded.path) {
            Ok(record) => staged.push(Staged {
                loaded,
                git,
                record,
                spec,
            }),
            Err(source) => failures.push(located(&loaded, Error::State { source })),
        }
    }
    if !reports.is_empty() {
        let text: String = reports.iter().map(|r| r.render_text(color)).collect();
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        failures.push(Error::manifest_invalid(
            &reports,
            staged.len() + reports.len(),
        ));
    }
    // One derivation per repository, covering all its manifests.
    let mut by_root: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, s) in staged.iter().enumerate() {
        match by_root.iter_mut().find(|(root, _)| *root == s.git.root) {
            Some((_, list)) => list.push(i),
            None => by_root.push((s.git.root.clone(), vec![i])),
        }
    }
    let mut sources: Vec<Option<Result<Source, Error>>> = (0..staged.len()).map(|_| None).collect();
    for (root, indices) in by_root {
        let specs: Vec<Spec> = indices.iter().map(|&i| staged[i].spec.clone()).collect();
        let head = staged[indices[0]].git.head.clone();
        let derived = (|| -> Result<_, deploy::DeployError> {
            use crate::git::Doing;
            let repo = git2::Repository::open(&root).doing("open the repository")?;
            let oid = git2::Oid::from_str(&head).doing("open the repository")?;
            let results = deploy::derive(&repo, oid, &specs)?;
            Ok((repo, results))
        })();
        match derived {
            Ok((repo, results)) => {
                for (&i, result) in indices.iter().zip(results) {
                    let s = &staged[i];
                    let manifest = crate::diagnostic::display_path(&s.loaded.path);
                    sources[i] = Some(match result {
                        Ok(d) => {
                            let source = Source {
                                whole: s.spec.is_whole(),
                                folders: s.spec.folders(),
                                commit: d.commit,
                                tree: d.tree,
                            };
                            check_entry_points(&repo, &s.loaded, &source).map(|()| source)
                        }
                        Err(source) => Err(Error::Deploy { manifest, source }),
                    });
                }
            }
            Err(e) => {
                for &i in &indices {
                    let manifest = crate::diagnostic::display_path(&staged[i].loaded.path);
                    sources[i] = Some(Err(Error::Deploy {
                        manifest,
                        source: e.clone(),
                    }));
                }
            }
        }
    }
    let mut prepared = Vec::new();
    for (s, source) in staged.into_iter().zip(sources) {
        match source.expect("every manifest has a deploy source") {
            Ok(source) => prepared.push(Prepared {
                loaded: s.loaded,
                git: s.git,
                record: s.record,
                source,
                spec: s.spec,
            }),
            Err(e) => failures.push(located(&s.loaded, e)),
        }
    }
    (prepared, failures)
}

/// The deploy tree has what the runtime's build needs (when the runtime is known here): a
/// missing entry point is found before anything is created or pushed.
fn check_entry_points(
    repo: &git2::Repository,
    loaded: &Loaded,
    source: &Source,
) -> Result<(), Error> {
    let Some(needed) = crate::entry_points::for_manifest(&loaded.manifest) else {
        return Ok(());
    };
    let missing = deploy::missing_paths(repo, &source.tree, &needed);
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::EntryPoint {
        algorithm: algorithm_of(loaded),
        commit: source.commit.clone(),
        folders: source.folders.join(" + "),
        missing,
    })
}

/// Read every algorithm's live state, `parallelism` at a time, results in input order.
pub(super) async fn read_all(
    connection: &Connection,
    prepared: &[Prepared],
    parallelism: u16,
) -> Vec<Result<plan::Live, Error>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(parallelism)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, p) in prepared.iter().enumerate() {
        let want_secrets = !p.loaded.manifest.secrets.is_empty()
            || p.record.as_ref().is_some_and(|r| !r.secrets.is_empty());
        let (client, config, remotes, loaded, commit, root) = (
            connection.client.clone(),
            connection.config.clone(),
            connection.remotes.clone(),
            p.loaded.clone(),
            p.source.commit.clone(),
            p.git.root.clone(),
        );
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let algorithm = algorithm_of(&loaded);
            let live = live::read(
                &client,
                &config,
                &remotes,
                &root,
                &loaded,
                &commit,
                want_secrets,
            )
            .await
            .about(&algorithm);
            (index, live)
        });
    }
    let mut results: Vec<Option<Result<plan::Live, Error>>> =
        (0..prepared.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, live) = joined.expect("a live read does not panic");
        results[index] = Some(live);
    }
    results
        .into_iter()
        .map(|r| r.expect("every read reports"))
        .collect()
}

/// The last-applied baseline of a manifest without a local record: its committed text at the
/// monorepo commit the newest published version came from (the deploy commit's
/// `Algodeploy-Source-Commit` trailer, or the commit itself for whole-repository deploys), when
/// that commit is in the local history.
fn baseline_from_git(p: &Prepared, live: &plan::Live) -> Option<(state::Record, String)> {
    let newest = live.published.iter().max_by_key(|v| v.version)?;
    let from = if p.source.whole {
        newest.commit.clone()
    } else {
        let repo = git2::Repository::open(&p.git.root).ok()?;
        deploy::source_commit(&repo, &newest.commit)?
    };
    if !git::contains(&p.git.root, &p.git.head, &from) {
        return None;
    }
    let then = crate::manifest::load_at_commit(&p.loaded, &p.git.root, &from)?;
    let record = state::Record {
        format_version: state::FORMAT_VERSION,
        tool_version: crate::VERSION.into(),
        algorithm: algorithm_of(&then),
        algorithm_id: String::new(),
        manifest_digest: String::new(),
        fields: crate::fields::desired(&then),
        version: Some(newest.version.to_string()),
        commit: Some(newest.commit.clone()),
        applied_at: String::new(),
        secrets: Default::default(),
    };
    Some((record, from))
}

/// Whether the declared version's published commit deploys the same code as the deploy
/// commit (they differ only in the manifest).
fn declared_same_code(p: &Prepared, live: &plan::Live) -> bool {
    let Some(version) =
        crate::version::Version::parse(&p.loaded.manifest.version_info.semantic_version)
    else {
        return false;
    };
    let Some(published) = live.published.iter().find(|v| v.version == version) else {
        return false;
    };
    if published.commit == p.source.commit {
        return false;
    }
    let Ok(repo) = git2::Repository::open(&p.git.root) else {
        return false;
    };
    deploy::same_code(
        &repo,
        &published.commit,
        &p.source.commit,
        &p.spec.manifest_name,
    )
}

/// The plans of every prepared manifest that can be planned, with the index in `prepared` of
/// each plan's manifest, and the failures of the others.
pub(super) async fn make_plans(
    connection: &Connection,
    prepared: &[Prepared],
    options: &PlanOptions,
) -> (Plan, Vec<usize>, Vec<Error>) {
    let lives = read_all(connection, prepared, options.parallelism).await;
    let mut plans = Vec::new();
    let mut indices = Vec::new();
    let mut failures = Vec::new();
    for (index, (p, live)) in prepared.iter().zip(lives).enumerate() {
        let mut live = match live {
            Ok(live) => live,
            Err(e) => {
                failures.push(located(&p.loaded, e));
                continue;
            }
        };
        live.declared_same_code = declared_same_code(p, &live);
        // A machine that never applied (a fresh CI runner) takes the drift baseline from git:
        // the manifest as committed where the newest published version was built from.
        // Only where the live fields differ from the manifest's: where they match (the usual
        // case) there is nothing the baseline could show, and reading the old commit for each
        // of hundreds of manifests is what a monorepo plan would spend its time on.
        let differs = live
            .algorithm
            .as_ref()
            .is_some_and(|a| a.fields != crate::fields::desired(&p.loaded));
        let from_git = match &p.record {
            None if differs => baseline_from_git(p, &live),
            _ => None,
        };
        let baseline = p.record.as_ref().or(from_git.as_ref().map(|(r, _)| r));
        let secrets = match crate::secrets::inputs(&p.loaded.path, &p.loaded.manifest.secrets) {
            Ok(secrets) => secrets,
            Err(source) => {
                failures.push(located(
                    &p.loaded,
                    Error::Io {
                        path: state::path_for(&p.loaded.path),
                        action: "read the fingerprint key beside",
                        source,
                    },
                ));
                continue;
            }
        };
        match plan::plan(
            &p.loaded,
            &p.git,
            &p.source,
            &live,
            baseline,
            &secrets,
            plan::Options {
                strict_version: options.strict(),
                skip_smoke_test: options.skip_smoke_test,
            },
        ) {
            Ok(mut plan) => {
                if let Some((_, commit)) = &from_git
                    && !plan.drift.is_empty()
                {
                    plan.notes.push(format!(
                        "drift is measured against the manifest as committed at {} (where the latest version was published from): this machine has no record of an apply",
                        git::short(commit)
                    ));
                }
                plans.push(plan);
                indices.push(index);
            }
            Err(conflict) => failures.push(located(
                &p.loaded,
                Error::Conflict {
                    conflicts: vec![conflict],
                },
            )),
        }
    }
    let made_in = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut plan = Plan::new(plans, made_in);
    if options.prune {
        match orphans(connection, prepared).await {
            Ok(orphans) => plan = plan.with_prune(orphans),
            Err(e) => failures.push(e),
        }
    }
    (plan, indices, failures)
}

/// `--prune`: every algorithm of the run's owners that no manifest of the run declares, with
/// its published versions.
async fn orphans(
    connection: &Connection,
    prepared: &[Prepared],
) -> Result<Vec<crate::plan::Orphan>, Error> {
    let declared: std::collections::BTreeSet<(String, String)> = prepared
        .iter()
        .map(|p| {
            (
                p.loaded.manifest.owner.clone(),
                p.loaded.manifest.name.clone(),
            )
        })
        .collect();
    let owners: std::collections::BTreeSet<&String> = declared.iter().map(|(o, _)| o).collect();
    let mut orphans = Vec::new();
    for owner in owners {
        let all = format!("{owner}/*");
        let names = connection.client.list_algorithms(owner).await.about(&all)?;
        for name in names {
            if declared.contains(&(owner.clone(), name.clone())) {
                continue;
            }
            let mut versions: Vec<crate::version::Version> = connection
                .client
                .published_versions(owner, &name)
                .await
                .about(&all)?
                .iter()
                .map(|v| v.version)
                .collect();
            versions.sort_by_key(|v| std::cmp::Reverse(*v));
            orphans.push(crate::plan::Orphan {
                algorithm: format!("{owner}/{name}"),
                owner: owner.clone(),
                name,
                published: versions.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(orphans)
}

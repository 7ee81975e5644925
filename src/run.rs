//! The `plan`, `apply` and `import` commands: load manifests, read git and the live state,
//! make plans (pure, in `plan.rs`), print them, and hand them to `apply.rs`. This is the only
//! layer that decides what goes to stdout (plans, JSON, manifests) and what to stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::Client;
use crate::apply::{self, Reporter};
use crate::cli::{ApiArgs, ApplyArgs, ImportArgs, PlanArgs, PlanFormat, PlanOptions, ShowArgs};
use crate::config::{self, Config};
use crate::diagnostic::diagnostics_json;
use crate::error::Error;
use crate::git::{self, GitState};
use crate::live::{self, ReadError};
use crate::manifest::Loaded;
use crate::plan::{self, Plan};
use crate::remote::Remotes;
use crate::state;
use crate::trust::Trust;

/// How a successful command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `plan --detailed-exitcode` found changes (exit 2).
    ChangesPending,
}

/// The async runtime of one command, and the `--timeout` that bounds the whole run.
struct Session {
    runtime: tokio::runtime::Runtime,
    deadline: Option<(tokio::time::Instant, std::time::Duration)>,
}

impl Session {
    fn new(timeout: Option<std::time::Duration>) -> Session {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        Session {
            runtime,
            deadline: timeout.map(|t| (tokio::time::Instant::now() + t, t)),
        }
    }

    fn block<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, Error> {
        match self.deadline {
            None => Ok(self.runtime.block_on(work)),
            Some((at, after)) => self
                .runtime
                .block_on(async { tokio::time::timeout_at(at, work).await })
                .map_err(|_| Error::Timeout { after }),
        }
    }
}

/// `--timeout` bounds the whole run, not only its network work: a backstop that ends the
/// process shortly after the deadline if anything (a file read, a lock) is still going. The
/// async deadline of [`Session`] normally ends the run first, with the same message.
fn watchdog(timeout: Option<std::time::Duration>) {
    let Some(after) = timeout else { return };
    std::thread::spawn(move || {
        std::thread::sleep(after + std::time::Duration::from_secs(1));
        let err = Error::Timeout { after };
        eprintln!("error: {err}");
        std::process::exit(err.exit_code());
    });
}

/// SIGINT/SIGTERM during apply: the first lets the request in flight finish and starts
/// nothing new (`apply::INTERRUPTED`); a second exits at once.
fn interrupt_handler() {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a signal runtime");
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            loop {
                let number = tokio::select! {
                    _ = interrupt.recv() => 2,
                    _ = terminate.recv() => 15,
                };
                if apply::INTERRUPTED.swap(number, std::sync::atomic::Ordering::SeqCst) != 0 {
                    eprintln!("interrupted again: stopping now");
                    std::process::exit(128 + number);
                }
                eprintln!("interrupted: letting the request in flight finish, then stopping (again to stop at once)");
            }
        });
    });
}

/// One OS lock per manifest, held for the whole apply.
fn lock_all(loaded: &[Loaded], wait: std::time::Duration) -> Result<Vec<std::fs::File>, Error> {
    loaded
        .iter()
        .map(|l| match state::lock(&l.path, wait) {
            Ok(Ok(file)) => Ok(file),
            Ok(Err((path, holder))) => Err(Error::Locked {
                path: path.display().to_string(),
                holder,
            }),
            Err(source) => Err(Error::Io {
                path: state::path_for(&l.path).display().to_string(),
                action: "lock",
                source,
            }),
        })
        .collect()
}

fn out(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Output { source })
}

/// Where the full plan is, for a Markdown plan that had to be cut.
fn full_plan_where(out: Option<&Path>) -> String {
    match out {
        Some(path) => format!("saved in `{}`", path.display()),
        None => "in the job's log (`algodeploy plan`)".into(),
    }
}

/// Under GitHub Actions, the plan's Markdown is appended to the job's step summary.
fn step_summary(plan: &Plan, out: Option<&Path>) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let text = plan.render_markdown(&full_plan_where(out));
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot append the plan to GITHUB_STEP_SUMMARY `{}`: {e}",
            std::path::Path::new(&path).display()
        );
    }
}

/// `CLICOLOR_FORCE` (set, not `0`): colour even when not writing to a terminal.
pub fn color_forced() -> bool {
    std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A plan's text, coloured by each line's action (from the step, never from the text) when
/// colour is on and stdout is a terminal.
pub(crate) fn paint(plan: &Plan, color: bool) -> String {
    use anstyle::{AnsiColor, Style};
    use plan::{Action, LineKind};
    let color = color && (color_forced() || std::io::stdout().is_terminal());
    plan.lines()
        .into_iter()
        .map(|line| {
            let paint = match line.kind {
                LineKind::Step(Action::Create) | LineKind::Added => Some(AnsiColor::Green),
                LineKind::Step(Action::Update) | LineKind::Drift | LineKind::Pending => {
                    Some(AnsiColor::Yellow)
                }
                LineKind::Step(Action::Push) => Some(AnsiColor::Cyan),
                LineKind::Step(Action::Test) => Some(AnsiColor::Blue),
                LineKind::Step(Action::Publish) => Some(AnsiColor::Magenta),
                LineKind::Removed => Some(AnsiColor::Red),
                LineKind::Heading => None,
                LineKind::Unchanged | LineKind::Note | LineKind::Plain => None,
            };
            match paint.filter(|_| color) {
                Some(c) => {
                    let style = Style::new().fg_color(Some(c.into()));
                    format!("{style}{}{style:#}\n", line.text)
                }
                None if color && line.kind == LineKind::Heading => {
                    let style = Style::new().bold();
                    format!("{style}{}{style:#}\n", line.text)
                }
                None => format!("{}\n", line.text),
            }
        })
        .collect()
}

/// Load every manifest; report all problems (stderr) and stop before anything is sent.
fn load_all(paths: &[PathBuf], color: bool) -> Result<Vec<Loaded>, Error> {
    load_selected(paths, None, color)
}

/// Load the manifests the run covers (`--changed-since`, `--shard`); problems of the others do
/// not stop it.
fn load_selected(
    paths: &[PathBuf],
    options: Option<&PlanOptions>,
    color: bool,
) -> Result<Vec<Loaded>, Error> {
    let (mut loaded, mut reports) = crate::manifest::load_paths(paths);
    if let Some(options) = options {
        if let Some(reference) = &options.changed_since {
            let mut since = crate::select::ChangedSince::default();
            let mut keep = |path: &Path, summary: Option<&Path>| -> Result<bool, Error> {
                let changes = since.of(reference, path).map_err(|e| match e {
                    crate::select::ChangedError::BadRef { .. } => Error::Usage {
                        message: e.to_string(),
                    },
                    other => Error::Usage {
                        message: other.to_string(),
                    },
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
                let extra = summary.map(|s| crate::select::Changes::join(&folder, s));
                Ok(changes.touches(&folder, extra.as_deref()))
            };
            let mut selected = Vec::new();
            for l in loaded {
                if keep(&l.path, l.manifest.details.summary_file.as_deref())? {
                    selected.push(l);
                }
            }
            loaded = selected;
            let mut kept_reports = Vec::new();
            for r in reports {
                if keep(&r.path, None)? {
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
                            "removed from the repository, left as is: {removed} (its algorithm is not deleted)"
                        );
                    }
                }
            }
            eprintln!(
                "--changed-since {reference}: {} manifest{} changed",
                loaded.len() + reports.len(),
                if loaded.len() + reports.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        if let Some(shard) = options.shard {
            loaded.retain(|l| shard.holds(&format!("{}/{}", l.manifest.owner, l.manifest.name)));
            reports.retain(|r| shard.holds(&r.path.to_string_lossy()));
        }
    }
    if reports.is_empty() {
        return Ok(loaded);
    }
    let text: String = reports.iter().map(|r| r.render_text(color)).collect();
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    Err(Error::ManifestInvalid {
        invalid: reports.len(),
        checked: loaded.len() + reports.len(),
        problems: reports.iter().map(|r| r.diagnostics.len()).sum(),
        diagnostics: diagnostics_json(&reports),
    })
}

/// Everything needed to talk to the API and the git host.
pub(crate) struct Connection {
    pub config: Config,
    pub client: Client,
    pub remotes: Arc<Remotes>,
}

/// The configuration, key and trusted roots; a missing key stops here, before any request.
pub(crate) fn connect(args: &ApiArgs) -> Result<Connection, Error> {
    if args
        .profile
        .as_deref()
        .is_some_and(crate::manifest::looks_like_api_key)
    {
        return Err(Error::Usage {
            message: "the --profile value looks like an API key; keys belong in ALGORITHMIA_API_KEY or a profile's `api_key`".into(),
        });
    }
    let inputs = config::Inputs::from_env(args.api.clone(), args.profile.clone())
        .map_err(|source| Error::Config { source })?;
    let config = config::resolve(inputs).map_err(|source| Error::Config { source })?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    let key = config.key.clone().ok_or_else(|| Error::NoKey {
        api: config.api.clone(),
    })?;
    let trust = Trust::load(config.ca_cert.as_deref()).map_err(|source| Error::Trust { source })?;
    let client = Client::new(&config, key.clone(), &trust).with_notify(|line| eprintln!("{line}"));
    let remotes = Arc::new(Remotes::new(&config.git, key.clone(), trust));
    Ok(Connection {
        config,
        client,
        remotes,
    })
}

fn inspect_git(
    inspections: &mut git::Inspections,
    loaded: &Loaded,
    allow_dirty: bool,
) -> Result<GitState, Error> {
    let (state, first) = inspections
        .of(&loaded.path)
        .map_err(|source| Error::Git { source })?;
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
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    if !allow_dirty && !state.dirty.is_empty() {
        return Err(Error::Git {
            source: git::GitError::Dirty {
                root: state.root.clone(),
                files: state.dirty.clone(),
            },
        });
    }
    Ok(state)
}

fn read_error(algorithm: &str, e: ReadError) -> Error {
    match e {
        ReadError::Api(source) => Error::Api {
            algorithm: algorithm.to_string(),
            source: Box::new(source),
        },
        ReadError::Git(source) => Error::Git { source },
    }
}

/// Everything a plan of one manifest needs, gathered.
struct Prepared {
    loaded: Loaded,
    git: GitState,
    record: Option<state::Record>,
}

fn prepare(
    loaded: Vec<Loaded>,
    options: &PlanOptions,
    color: bool,
) -> Result<Vec<Prepared>, Error> {
    let mut prepared = Vec::new();
    let mut reports = Vec::new();
    let mut inspections = git::Inspections::default();
    for mut loaded in loaded {
        let git = inspect_git(&mut inspections, &loaded, options.allow_dirty)?;
        // The summary that is deployed is the one committed in HEAD, not the work tree's.
        match crate::manifest::tracked_summary(&loaded, &git.root, true) {
            Ok(summary) => loaded.summary = summary,
            Err(report) => {
                reports.push(report);
                continue;
            }
        }
        let record = state::load(&loaded.path).map_err(|source| Error::State { source })?;
        prepared.push(Prepared {
            loaded,
            git,
            record,
        });
    }
    if !reports.is_empty() {
        let text: String = reports.iter().map(|r| r.render_text(color)).collect();
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        return Err(Error::ManifestInvalid {
            invalid: reports.len(),
            checked: prepared.len() + reports.len(),
            problems: reports.iter().map(|r| r.diagnostics.len()).sum(),
            diagnostics: diagnostics_json(&reports),
        });
    }
    Ok(prepared)
}

/// Read every algorithm's live state, `parallelism` at a time, results in input order.
async fn read_all(
    connection: &Connection,
    prepared: &[Prepared],
    parallelism: u16,
) -> Vec<Result<plan::Live, Error>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(parallelism)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, p) in prepared.iter().enumerate() {
        let (client, config, remotes, loaded, head, root) = (
            connection.client.clone(),
            connection.config.clone(),
            connection.remotes.clone(),
            p.loaded.clone(),
            p.git.head.clone(),
            p.git.root.clone(),
        );
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let algorithm = format!("{}/{}", loaded.manifest.owner, loaded.manifest.name);
            let live = live::read(&client, &config, &remotes, &root, &loaded, &head)
                .await
                .map_err(|e| read_error(&algorithm, e));
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
/// commit of the newest published version, when that commit is in the local history.
fn baseline_from_git(p: &Prepared, live: &plan::Live) -> Option<(state::Record, String)> {
    let newest = live.published.iter().max_by_key(|v| v.version)?;
    if !git::contains(&p.git.root, &p.git.head, &newest.commit) {
        return None;
    }
    let then = crate::manifest::load_at_commit(&p.loaded, &p.git.root, &newest.commit)?;
    let record = state::Record {
        format_version: state::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        algorithm: format!("{}/{}", then.manifest.owner, then.manifest.name),
        algorithm_id: String::new(),
        manifest_digest: String::new(),
        fields: crate::fields::desired(&then),
        version: Some(newest.version.to_string()),
        commit: Some(newest.commit.clone()),
        applied_at: String::new(),
    };
    Some((record, newest.commit.clone()))
}

async fn make_plans(
    connection: &Connection,
    prepared: &[Prepared],
    options: &PlanOptions,
) -> Result<Plan, Error> {
    let lives = read_all(connection, prepared, options.parallelism).await;
    let mut plans = Vec::new();
    let mut conflicts = Vec::new();
    for (p, live) in prepared.iter().zip(lives) {
        let live = live?;
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
        match plan::plan(
            &p.loaded,
            &p.git,
            &live,
            baseline,
            plan::Options {
                strict_version: options.strict_version,
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
                plans.push(plan)
            }
            Err(conflict) => conflicts.push(conflict),
        }
    }
    if !conflicts.is_empty() {
        return Err(Error::Conflict { conflicts });
    }
    let made_in = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    Ok(Plan::new(plans, made_in))
}

pub fn plan_command(args: &PlanArgs, color: bool) -> Result<Outcome, Error> {
    let result = plan_inner(args, color);
    if args.format == PlanFormat::Json
        && let Err(error) = &result
    {
        failure_document(error, serde_json::json!({"algorithms": []}));
    }
    result
}

/// With `--format json`, a failure is still exactly one JSON document on stdout:
/// `{format_version, ..., errors: [{algorithm, manifest, code, exit_code, message, hint}]}`.
fn failure_document(error: &Error, mut document: serde_json::Value) {
    document["format_version"] = plan::FORMAT_VERSION.into();
    document["errors"] = error.to_json().into();
    let _ = out(&(serde_json::to_string_pretty(&document).expect("a document serializes") + "\n"));
}

fn plan_inner(args: &PlanArgs, color: bool) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    let loaded = load_selected(&args.paths, Some(&args.options), color)?;
    let connection = connect(&args.api)?;
    let prepared = prepare(loaded, &args.options, color)?;
    let session = Session::new(args.api.timeout);
    let plan = session.block(make_plans(&connection, &prepared, &args.options))??;
    match args.format {
        PlanFormat::Text => out(&paint(&plan, color))?,
        PlanFormat::Json => {
            out(&(serde_json::to_string_pretty(&plan).expect("a plan serializes") + "\n"))?
        }
        PlanFormat::Markdown => out(&plan.render_markdown(&full_plan_where(args.out.as_deref())))?,
    }
    step_summary(&plan, args.out.as_deref());
    if let Some(path) = &args.out {
        let mut text = serde_json::to_vec_pretty(&plan).expect("a plan serializes");
        text.push(b'\n');
        state::write_atomic(path, &text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            action: "write the plan to",
            source,
        })?;
        eprintln!(
            "saved the plan to {}; review it with `algodeploy show {}`, apply it with `algodeploy apply {}`",
            path.display(),
            path.display(),
            path.display()
        );
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Outcome::ChangesPending
    } else {
        Outcome::Done
    })
}

fn confirm(yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::NeedsYes);
    }
    eprint!("Apply these changes? Only `yes` is accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| Error::Io {
            path: "standard input".into(),
            action: "read the answer from",
            source,
        })?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// `apply PLANFILE` (Terraform's habit): a single path whose content is a saved plan.
fn saved_plan_path(paths: &[PathBuf]) -> Option<PathBuf> {
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
fn plan_manifests(saved: &Plan, file: &Path) -> Result<Vec<PathBuf>, Error> {
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
                    path: file.display().to_string(),
                    reason: format!(
                        "it was made in `{}`, and its manifest `{}` is not there now; apply it from a checkout at that place",
                        saved.made_in, a.manifest
                    ),
                })
            }
        })
        .collect()
}

/// What apply can know before its first write: every push it needs is allowed. (Dirty trees,
/// version rules, stale plans and locks were checked while planning.)
fn preflight(plan: &Plan, push: bool) -> Result<(), Error> {
    if push {
        return Ok(());
    }
    let needed: Vec<(String, String, String)> = plan
        .algorithms
        .iter()
        .flat_map(|a| {
            a.steps.iter().filter_map(move |s| match s {
                plan::Step::Push { commit, remote, .. } => Some((
                    a.algorithm.clone(),
                    commit.clone(),
                    format!("git push {remote} HEAD:master"),
                )),
                _ => None,
            })
        })
        .collect();
    match needed.into_iter().next() {
        None => Ok(()),
        Some((algorithm, commit, command)) => Err(Error::NotPushed {
            algorithm,
            commit,
            command,
        }),
    }
}

pub fn apply_command(args: &ApplyArgs, color: bool) -> Result<Outcome, Error> {
    let mut done = Done::default();
    let result = apply_inner(args, color, &mut done);
    if args.format == PlanFormat::Json
        && let Err(error) = &result
    {
        // What was done before the failure is part of the document.
        failure_document(
            error,
            serde_json::json!({"plan": done.plan, "applied": done.records}),
        );
    }
    result
}

/// What an apply did, kept for its JSON document when it fails part-way.
#[derive(Default)]
struct Done {
    plan: Option<Plan>,
    records: Vec<state::Record>,
}

fn apply_inner(args: &ApplyArgs, color: bool, done: &mut Done) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    interrupt_handler();
    let session = Session::new(args.api.timeout);
    let plan_file = args.plan.clone().or_else(|| saved_plan_path(&args.paths));
    let (prepared, plan, connection, _locks) = match &plan_file {
        Some(file) => {
            let saved = read_plan_file(file)?;
            let paths = plan_manifests(&saved, file)?;
            let loaded = load_all(&paths, color)?;
            let connection = connect(&args.api)?;
            let locks = lock_all(&loaded, args.lock_timeout)?;
            let prepared = prepare(loaded, &args.options, color)?;
            let lives =
                session.block(read_all(&connection, &prepared, args.options.parallelism))?;
            check_fresh(&saved, &prepared, lives)?;
            if args.format == PlanFormat::Text {
                out(&paint(&saved, color))?;
            }
            step_summary(&saved, Some(file));
            preflight(&saved, args.push)?;
            (prepared, saved, connection, locks)
        }
        None => {
            let loaded = load_selected(&args.paths, Some(&args.options), color)?;
            let connection = connect(&args.api)?;
            let locks = lock_all(&loaded, args.lock_timeout)?;
            let prepared = prepare(loaded, &args.options, color)?;
            let plan = session.block(make_plans(&connection, &prepared, &args.options))??;
            if args.format == PlanFormat::Text {
                out(&paint(&plan, color))?;
            }
            step_summary(&plan, None);
            preflight(&plan, args.push)?;
            if plan.has_changes() {
                confirm(args.yes)?;
            }
            (prepared, plan, connection, locks)
        }
    };
    let reporter = Reporter::new(color && std::io::stderr().is_terminal());
    done.plan = Some(plan.clone());
    for (p, algorithm_plan) in prepared.iter().zip(&plan.algorithms) {
        let ctx = apply::Context {
            client: &connection.client,
            remotes: &connection.remotes,
            manifest: &p.loaded.path,
            git_root: &p.git.root,
            push: args.push,
            build_timeout: args.build_timeout,
            reporter: &reporter,
            previous: p.record.as_ref(),
        };
        let record = session.block(apply::apply(&ctx, algorithm_plan))??;
        state::save(&p.loaded.path, &record).map_err(|source| Error::State { source })?;
        done.records.push(record);
    }
    let records = &done.records;
    // Every step ran (any failure returned above), so the plan's counts are what was done.
    let s = &plan.summary;
    match args.format {
        PlanFormat::Json => {
            let result = serde_json::json!({"format_version": plan::FORMAT_VERSION, "plan": plan, "applied": records});
            out(&(serde_json::to_string_pretty(&result).expect("a result serializes") + "\n"))?;
        }
        PlanFormat::Markdown => out(&plan.render_markdown("in the job's log"))?,
        PlanFormat::Text if plan.has_changes() => eprintln!(
            "Apply complete: {} created, {} updated, {} pushed, {} published.",
            s.create, s.update, s.push, s.publish
        ),
        PlanFormat::Text => {}
    }
    Ok(Outcome::Done)
}

/// `algodeploy show PLANFILE`: a saved plan, as text or JSON.
pub fn show_command(args: &ShowArgs, color: bool) -> Result<Outcome, Error> {
    let saved = parse_plan_file(&args.plan)?;
    if saved.tool_version != env!("CARGO_PKG_VERSION") {
        eprintln!(
            "note: the plan was made by algodeploy {}; this is {} (apply would refuse it)",
            saved.tool_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    match args.format {
        PlanFormat::Text => out(&paint(&saved, color))?,
        PlanFormat::Json => {
            out(&(serde_json::to_string_pretty(&saved).expect("a plan serializes") + "\n"))?
        }
        PlanFormat::Markdown => out(&saved.render_markdown(&format!("`{}`", args.plan.display())))?,
    }
    Ok(Outcome::Done)
}

fn parse_plan_file(path: &Path) -> Result<Plan, Error> {
    use std::io::Read;
    let bad = |reason: String| Error::PlanFile {
        path: path.display().to_string(),
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

fn read_plan_file(path: &Path) -> Result<Plan, Error> {
    let saved = parse_plan_file(path)?;
    if saved.tool_version != env!("CARGO_PKG_VERSION") {
        return Err(Error::Stale {
            reasons: vec![format!(
                "it was made by algodeploy {}, this is {}",
                saved.tool_version,
                env!("CARGO_PKG_VERSION")
            )],
        });
    }
    Ok(saved)
}

/// A saved plan may be applied only if nothing it was made from has moved.
fn check_fresh(
    saved: &Plan,
    prepared: &[Prepared],
    lives: Vec<Result<plan::Live, Error>>,
) -> Result<(), Error> {
    let mut reasons = Vec::new();
    for ((algorithm, p), live) in saved.algorithms.iter().zip(prepared).zip(lives) {
        let live = live?;
        let name = &algorithm.algorithm;
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
        if plan::live_digest(&live) != algorithm.live_digest {
            reasons.push(format!("{name}: the live algorithm changed (fields, published versions or the remote `master`)"));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Error::Stale { reasons })
    }
}

pub fn import_command(args: &ImportArgs) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    let Some((owner, name)) = args
        .algorithm
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        return Err(Error::Usage {
            message: format!("`{}` is not OWNER/NAME", args.algorithm),
        });
    };
    if let Some(path) = &args.out
        && std::fs::symlink_metadata(path).is_ok()
    {
        return Err(Error::Exists {
            path: path.display().to_string(),
        });
    }
    let client = connect(&args.api)?.client;
    let algorithm_name = args.algorithm.clone();
    let (algorithm, published) = Session::new(args.api.timeout).block(async {
        tokio::join!(
            client.algorithm(owner, name),
            client.published_versions(owner, name)
        )
    })?;
    let api = |source| Error::Api {
        algorithm: algorithm_name.clone(),
        source: Box::new(source),
    };
    let algorithm = algorithm.map_err(api)?.ok_or_else(|| Error::NoAlgorithm {
        algorithm: algorithm_name.clone(),
    })?;
    let published = published.map_err(api)?;
    let text =
        crate::import::manifest_text(owner, name, &algorithm, &published).map_err(|reason| {
            Error::Import {
                algorithm: algorithm_name.clone(),
                reason,
            }
        })?;
    match &args.out {
        Some(path) => {
            state::write_new(path, text.as_bytes()).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    Error::Io {
                        path: path.display().to_string(),
                        action: "write",
                        source,
                    }
                }
            })?;
            eprintln!("wrote {}", path.display());
        }
        None => out(&text)?,
    }
    Ok(Outcome::Done)
}

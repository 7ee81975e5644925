//! The commands that talk to a cluster — `plan`, `apply`, `show`, `import` — and what they
//! print. This is the only layer that decides what goes to stdout (plans, JSON, manifests) and
//! what to stderr. Plans are computed by the pure `plan::plan`; apply executes them through
//! `apply.rs`.
//!
//! - `session.rs`: the async runtime, `--timeout` (and its watchdog), signals, locks.
//! - `gather.rs`: the manifests a run covers, git and deploy sources, live reads, the plans;
//!   a failing manifest is reported beside the others, never instead of them.
//! - `plan_cmd.rs`, `apply_cmd.rs`, `saved.rs` (saved plans and `show`), `import_cmd.rs`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::Client;
use crate::cli::{ApiArgs, PlanFormat, PlanOptions};
use crate::config::{self, Config};
use crate::error::{About, At, Error, print as out};
use crate::git::{self, GitState};
use crate::live;
use crate::manifest::Loaded;
use crate::plan::{self, Plan};
use crate::remote::Remotes;
use crate::state;
use crate::trust::Trust;

mod apply_cmd;
mod destroy_cmd;
mod gather;
mod history_cmd;
mod import_cmd;
mod load;
mod plan_cmd;
mod rollback_cmd;
mod saved;
mod session;

pub use apply_cmd::apply_command;
pub use destroy_cmd::destroy_command;
pub use history_cmd::history_command;
pub use import_cmd::import_command;
pub use plan_cmd::plan_command;
pub use rollback_cmd::rollback_command;
pub use saved::show_command;

use load::{load_all, load_selected};
use session::{Session, interrupt_handler, lock_all, watchdog};

pub use crate::error::Outcome;

/// With `--format json`, a failure is still exactly one JSON document on stdout:
/// `{format_version, ..., errors: [{algorithm, manifest, code, exit_code, message, hint}]}`.
fn failure_document(error: &Error, mut document: serde_json::Value) {
    document["format_version"] = plan::FORMAT_VERSION.into();
    document["errors"] = error.to_json().into();
    let _ = out(&(serde_json::to_string_pretty(&document).expect("a document serializes") + "\n"));
}

/// Where the full plan is, for a Markdown plan that had to be cut.
fn full_plan_where(out: Option<&Path>) -> String {
    match out {
        Some(path) => format!("saved in `{}`", path.display()),
        None => "in the job's log (`algodeploy plan`)".into(),
    }
}

/// Under GitHub Actions, a plan's Markdown is appended to the job's step summary.
fn step_summary(plan: &Plan, out: Option<&Path>, failure: Option<&Error>) {
    step_summary_text(&(plan.render_markdown(&full_plan_where(out)) + &errors_markdown(failure)));
}

/// The failures of a run as a Markdown section (nothing when there are none), so a reviewer
/// of a plan or apply summary sees the algorithms that could not be planned or applied.
fn errors_markdown(failure: Option<&Error>) -> String {
    let Some(failure) = failure else {
        return String::new();
    };
    let mut text =
        String::from("\n### Errors\n\n| algorithm or manifest | code | problem |\n|---|---|---|\n");
    for entry in failure.to_json() {
        let name = entry_name(&entry);
        let mut problem = entry["message"].as_str().unwrap_or("").to_string();
        if let Some(line) = entry["line"].as_u64() {
            problem = format!("line {line}: {problem}");
        }
        if let Some(hint) = entry["hint"].as_str() {
            problem.push_str(&format!(" (hint: {hint})"));
        }
        text.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            plan::markdown_cell(&crate::sanitize::inert(name)),
            plan::markdown_cell(entry["code"].as_str().unwrap_or("")),
            plan::markdown_cell(&crate::sanitize::inert(&problem))
        ));
    }
    text
}

/// What an `errors[]` entry is about: its algorithm, else its manifest.
fn entry_name(entry: &serde_json::Value) -> &str {
    entry["algorithm"]
        .as_str()
        .or(entry["manifest"].as_str())
        .unwrap_or("")
}

/// One row per algorithm (or manifest) of a failure, for the Results table: `failed (code,
/// exit N)`.
fn failure_rows(failure: &Error) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for entry in failure.to_json() {
        let name = entry_name(&entry).to_string();
        if rows.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let result = format!(
            "failed ({}, exit {})",
            entry["code"].as_str().unwrap_or(""),
            entry["exit_code"]
        );
        rows.push((name, result));
    }
    rows
}

/// Under GitHub Actions, append `text` to the job's step summary.
fn step_summary_text(text: &str) {
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return;
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
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

/// Whether stdout takes colour (anstream's choice: `--color`, NO_COLOR, CLICOLOR,
/// CLICOLOR_FORCE, TERM, a terminal).
pub fn stdout_color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// A plan's text, coloured by each line's action (from the step, never from the text) when
/// colour is on and stdout is a terminal.
pub(crate) fn paint(plan: &Plan, color: bool) -> String {
    use anstyle::{AnsiColor, Style};
    use plan::{Action, LineKind};
    let color = color && stdout_color();
    plan.lines()
        .into_iter()
        .map(|line| {
            let paint = match line.kind {
                LineKind::Step(Action::Create) | LineKind::Added => Some(AnsiColor::Green),
                LineKind::Step(Action::Update) | LineKind::Drift | LineKind::Pending => {
                    Some(AnsiColor::Yellow)
                }
                LineKind::Step(Action::Push) => Some(AnsiColor::Cyan),
                LineKind::Step(Action::Secret) => Some(AnsiColor::Yellow),
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
    let inputs = config::Inputs::from_env(args.api.clone(), args.profile.clone())?;
    let config = config::resolve(inputs)?;
    for warning in &config.warnings {
        eprintln!("warning: {}", crate::sanitize::inert(&warning.to_string()));
    }
    let key = config.key.clone().ok_or_else(|| Error::NoKey {
        api: config.api.clone(),
    })?;
    let trust = Trust::load(config.ca_cert.as_deref())?;
    let client = Client::new(&config, key.clone(), &trust).with_notify(|line| eprintln!("{line}"));
    let remotes = Arc::new(Remotes::new(&config.git, key.clone(), trust));
    Ok(Connection {
        config,
        client,
        remotes,
    })
}

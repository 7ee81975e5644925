//! The one error type of the program: what went wrong, with the names the user needs, a hint
//! where there is something to do, and the exit code it maps to (README, "Exit codes").

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::api::ApiError;
use crate::config::ConfigError;
use crate::git::GitError;
use crate::plan::Conflict;
use crate::state::StateError;

/// What a failed smoke test called and got.
#[derive(Debug)]
pub struct SmokeFailure {
    pub algorithm: String,
    pub commit: String,
    pub input: String,
    pub expected: Option<String>,
    pub actual: String,
    /// The algorithm's error message, when it raised.
    pub message: Option<String>,
    pub stacktrace: String,
}

#[derive(Debug)]
pub enum Error {
    /// One algorithm's error in a run of many: shown as the error itself, with its manifest
    /// in JSON documents and annotations.
    In {
        manifest: String,
        algorithm: Option<String>,
        source: Box<Error>,
    },
    /// Several algorithms failed (each an [`Error::In`]); the others were planned or applied.
    /// The exit code is the most severe class present ([`Error::severity`]).
    Several {
        errors: Vec<Error>,
    },
    /// The deploy commit of a manifest cannot be derived (shallow clone, folder not in HEAD).
    Deploy {
        manifest: String,
        source: crate::deploy::DeployError,
    },
    /// A secret's `from_env` variable is not set where apply runs.
    SecretMissing {
        algorithm: String,
        name: String,
        from_env: String,
    },
    /// `destroy` of an algorithm with published versions, without `--delete-published`.
    HasPublished {
        algorithm: String,
        versions: Vec<String>,
    },
    /// The deploy tree lacks what the runtime's build needs.
    EntryPoint {
        algorithm: String,
        commit: String,
        folders: String,
        missing: Vec<String>,
    },
    /// One or more manifests are invalid; their diagnostics were already reported.
    ManifestInvalid {
        invalid: usize,
        checked: usize,
        problems: usize,
        /// Every problem, as `validate --format json` shows it (for JSON error documents and
        /// annotations).
        diagnostics: Vec<serde_json::Value>,
    },
    /// Writing output failed (a closed pipe is not an error: see `main`).
    Output {
        source: std::io::Error,
    },
    /// The command line is valid for clap but not usable (exit 64).
    Usage {
        message: String,
    },
    /// The emulator could not start or stopped with an error.
    #[cfg(feature = "emulator")]
    Emulator {
        source: crate::emulator::Error,
    },
    Config {
        source: ConfigError,
    },
    NoKey {
        api: String,
    },
    Api {
        algorithm: String,
        source: Box<ApiError>,
    },
    Git {
        source: GitError,
    },
    /// A CA file the user named cannot be used.
    Trust {
        source: crate::trust::TrustError,
    },
    Conflict {
        conflicts: Vec<Conflict>,
    },
    State {
        source: StateError,
    },
    NotPushed {
        algorithm: String,
        commit: String,
        /// How to push it by hand; `None` when the algorithm does not exist yet (its repository
        /// is made by the create, with a starter commit only apply replaces).
        command: Option<String>,
    },
    BuildFailed {
        algorithm: String,
        commit: String,
        log_tail: String,
    },
    BuildTimeout {
        algorithm: String,
        commit: String,
        waited: Duration,
    },
    NewerBuild {
        algorithm: String,
        head: String,
        newest: String,
    },
    PublishMismatch {
        algorithm: String,
        expected: String,
        got: String,
    },
    Stale {
        reasons: Vec<String>,
    },
    PlanFile {
        path: PathBuf,
        reason: String,
    },
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    Cancelled,
    NeedsYes,
    /// Another run changed the algorithm between the plan and this write.
    Moved {
        algorithm: String,
        what: String,
    },
    /// SIGINT or SIGTERM: nothing new was started.
    Interrupted {
        signal: i32,
    },
    /// Another apply holds the lock on this manifest.
    Locked {
        path: PathBuf,
        holder: String,
    },
    /// `--timeout` ran out.
    Timeout {
        after: Duration,
    },
    /// The build failed its smoke test: nothing was published.
    SmokeTest {
        failure: Box<SmokeFailure>,
    },
    /// A file that would be overwritten.
    Exists {
        path: PathBuf,
    },
    /// The algorithm is not visible to the key (missing, or another owner's private one).
    NoAlgorithm {
        algorithm: String,
    },
    /// The live algorithm cannot be written as a manifest.
    Import {
        algorithm: String,
        reason: String,
    },
    /// `doctor` found failures (its report is on stdout); `exit` is the first one's class.
    Doctor {
        failed: usize,
        exit: i32,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::In { source, .. } => source.exit_code(),
            Error::Several { errors } => errors
                .iter()
                .map(Error::exit_code)
                .max_by_key(|&code| Error::severity(code))
                .unwrap_or(1),
            Error::Deploy { source, .. } => source.exit_code(),
            Error::EntryPoint { .. } => 4,
            Error::HasPublished { .. } | Error::SecretMissing { .. } => 4,
            Error::ManifestInvalid { .. } => 3,
            Error::Usage { .. } | Error::NeedsYes => 64,
            Error::Config {
                source:
                    ConfigError::BadUrl {
                        from: crate::config::Source::Flag,
                        ..
                    },
            } => 64,
            Error::NoKey { .. } => 5,
            Error::Api { source, .. }
                if matches!(
                    **source,
                    ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }
                ) =>
            {
                5
            }
            Error::Git { source } => source.exit_code(),
            Error::Trust { .. } => 1,
            Error::Conflict { .. }
            | Error::NotPushed { .. }
            | Error::BuildFailed { .. }
            | Error::SmokeTest { .. }
            | Error::NewerBuild { .. }
            | Error::Stale { .. }
            | Error::Moved { .. }
            | Error::Locked { .. } => 4,
            Error::Interrupted { signal } => 128 + signal,
            Error::Doctor { exit, .. } => *exit,
            _ => 1,
        }
    }

    /// How severe an exit code is when several algorithms failed, most severe highest: an
    /// interruption, then a rejected key (nothing will work), a runtime failure (network, API,
    /// I/O), an invalid manifest, a precondition of one algorithm.
    pub fn severity(code: i32) -> u8 {
        match code {
            c if c >= 128 => 6,
            5 => 5,
            1 => 4,
            64 => 3,
            3 => 2,
            4 => 1,
            _ => 0,
        }
    }

    /// An API call about `algorithm` failed (see [`About`] for results).
    pub fn api(algorithm: &str, source: ApiError) -> Error {
        Error::Api {
            algorithm: algorithm.to_string(),
            source: Box::new(source),
        }
    }

    /// `checked` manifests were read and `reports` are the invalid ones (each with its
    /// diagnostics, already shown to the user).
    pub fn manifest_invalid(reports: &[crate::diagnostic::FileReport], checked: usize) -> Error {
        Error::ManifestInvalid {
            invalid: reports.len(),
            checked,
            problems: reports.iter().map(|r| r.diagnostics.len()).sum(),
            diagnostics: reports
                .iter()
                .flat_map(crate::diagnostic::FileReport::to_json)
                .map(|d| serde_json::to_value(d).expect("a diagnostic serializes"))
                .collect(),
        }
    }

    /// Wrap the error of one manifest of many.
    pub fn located(self, manifest: &str, algorithm: Option<&str>) -> Error {
        match self {
            located @ (Error::In { .. } | Error::Several { .. }) => located,
            other => Error::In {
                manifest: manifest.to_string(),
                algorithm: algorithm
                    .map(str::to_owned)
                    .or_else(|| other.algorithm().map(str::to_owned)),
                source: Box::new(other),
            },
        }
    }

    /// One error for many: none, the only one, or [`Error::Several`].
    pub fn combine(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Several { errors }),
        }
    }

    /// A stable name of the error's class, for JSON documents (`errors[].code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::In { source, .. } => source.code(),
            Error::Several { .. } => "several",
            Error::Deploy { source, .. } => match source {
                crate::deploy::DeployError::Shallow { .. } => "shallow-clone",
                crate::deploy::DeployError::NotInHead { .. } => "not-in-head",
                crate::deploy::DeployError::Git { .. } => "git",
            },
            Error::EntryPoint { .. } => "entry-point-missing",
            Error::HasPublished { .. } => "has-published-versions",
            Error::SecretMissing { .. } => "secret-missing",
            Error::ManifestInvalid { .. } => "manifest-invalid",
            Error::Output { .. } => "output",
            Error::Usage { .. } => "usage",
            #[cfg(feature = "emulator")]
            Error::Emulator { .. } => "emulator",
            Error::Config { .. } => "config",
            Error::NoKey { .. } => "no-key",
            Error::Api { source, .. } => match source.as_ref() {
                ApiError::Unauthorized { .. } => "key-rejected",
                ApiError::Forbidden { .. } => "forbidden",
                ApiError::Certificate { .. } => "certificate",
                ApiError::Transport { .. } => "network",
                _ => "api",
            },
            Error::Git { .. } => "git",
            Error::Trust { .. } => "trust",
            Error::Conflict { .. } => "version-conflict",
            Error::State { .. } => "state",
            Error::NotPushed { .. } => "push-needed",
            Error::BuildFailed { .. } => "build-failed",
            Error::BuildTimeout { .. } => "build-timeout",
            Error::NewerBuild { .. } => "newer-build",
            Error::PublishMismatch { .. } => "publish-mismatch",
            Error::Stale { .. } => "stale-plan",
            Error::PlanFile { .. } => "plan-file",
            Error::Io { .. } => "io",
            Error::Cancelled => "cancelled",
            Error::NeedsYes => "needs-yes",
            Error::Moved { .. } => "moved",
            Error::Interrupted { .. } => "interrupted",
            Error::Locked { .. } => "locked",
            Error::Timeout { .. } => "timeout",
            Error::SmokeTest { .. } => "smoke-test-failed",
            Error::Exists { .. } => "exists",
            Error::NoAlgorithm { .. } => "no-algorithm",
            Error::Import { .. } => "import",
            Error::Doctor { .. } => "doctor",
        }
    }

    /// The algorithm the error is about, when it is about one.
    pub fn algorithm(&self) -> Option<&str> {
        match self {
            Error::In {
                algorithm, source, ..
            } => algorithm.as_deref().or_else(|| source.algorithm()),
            Error::EntryPoint { algorithm, .. }
            | Error::HasPublished { algorithm, .. }
            | Error::SecretMissing { algorithm, .. } => Some(algorithm),
            Error::Api { algorithm, .. }
            | Error::NotPushed { algorithm, .. }
            | Error::BuildFailed { algorithm, .. }
            | Error::BuildTimeout { algorithm, .. }
            | Error::NewerBuild { algorithm, .. }
            | Error::PublishMismatch { algorithm, .. }
            | Error::Moved { algorithm, .. }
            | Error::NoAlgorithm { algorithm }
            | Error::Import { algorithm, .. } => Some(algorithm),
            Error::SmokeTest { failure } => Some(&failure.algorithm),
            _ => None,
        }
    }

    /// The error as `errors[]` entries of a JSON document: `{algorithm, manifest, code,
    /// exit_code, message, hint}` (plus `line` and `column` for manifest problems; one entry per
    /// problem or conflict).
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        let exit_code = self.exit_code();
        match self {
            Error::In {
                manifest,
                algorithm,
                source,
            } => source
                .to_json()
                .into_iter()
                .map(|mut entry| {
                    if entry["manifest"].is_null() {
                        entry["manifest"] = manifest.clone().into();
                    }
                    if entry["algorithm"].is_null()
                        && let Some(algorithm) = algorithm
                    {
                        entry["algorithm"] = algorithm.clone().into();
                    }
                    entry
                })
                .collect(),
            Error::Several { errors } => errors.iter().flat_map(Error::to_json).collect(),
            Error::Deploy { manifest, .. } => {
                let mut entry = self.plain_json();
                entry["manifest"] = manifest.clone().into();
                vec![entry]
            }
            Error::ManifestInvalid { diagnostics, .. } if !diagnostics.is_empty() => diagnostics
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "algorithm": null,
                        "manifest": d["file"],
                        "code": d["code"],
                        "exit_code": exit_code,
                        "message": d["message"],
                        "hint": d["help"],
                        "line": d["line"],
                        "column": d["column"],
                    })
                })
                .collect(),
            Error::Conflict { conflicts } => conflicts
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "algorithm": c.algorithm,
                        "manifest": null,
                        "code": self.code(),
                        "exit_code": exit_code,
                        "message": c.message,
                        "hint": c.hint,
                    })
                })
                .collect(),
            _ => vec![self.plain_json()],
        }
    }

    fn plain_json(&self) -> serde_json::Value {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(&format!("; caused by: {cause}"));
            source = cause.source();
        }
        serde_json::json!({
            "algorithm": self.algorithm(),
            "manifest": null,
            "code": self.code(),
            "exit_code": self.exit_code(),
            "message": message,
            "hint": self.hint(),
        })
    }

    /// What to do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::In { source, .. } => source.hint(),
            Error::Several { errors } if errors.iter().all(|e| e.code() == "key-rejected") => {
                errors[0].hint()
            }
            Error::Several { .. } => None,
            Error::Deploy { source, .. } => source.hint(),
            Error::SecretMissing { from_env, .. } => Some(format!("set {from_env} in the environment algodeploy runs in (a CI secret, for instance); its value is sent to the API only")),
            Error::HasPublished { .. } => Some("callers of these versions break when it is deleted: pass --delete-published if that is what you want".into()),
            Error::EntryPoint { .. } => Some("add them to the algorithm's folder (or to `repository.include`), commit, and plan again".into()),
            Error::NoKey { .. } => Some(
                "set ALGORITHMIA_API_KEY, or `api_key` in a profile of ~/.algorithmia/config; `algodeploy emulator` prints a key for local use".into(),
            ),
            Error::Api { source, .. } if matches!(**source, ApiError::Unauthorized { .. }) => {
                Some("check ALGORITHMIA_API_KEY (or the profile's `api_key`) and the API address".into())
            }
            Error::Api { source, .. } if matches!(**source, ApiError::Certificate { .. }) => Some(
                "trust the server's CA: set `ca_cert = \"/path/to/ca.pem\"` in the profile of ~/.algorithmia/config, or SSL_CERT_FILE=/path/to/ca.pem; `algodeploy doctor` shows what is trusted".into(),
            ),
            Error::Git { source: GitError::Remote { source } } => source.hint(),
            Error::Api { source, .. } if matches!(**source, ApiError::Transport { .. }) => {
                Some("check the API address (--api, ALGORITHMIA_API) and the network".into())
            }
            Error::Conflict { conflicts } => Some(conflicts.iter().map(|c| c.hint.clone()).collect::<Vec<_>>().join("; ")),
            Error::NotPushed { command: Some(command), .. } => Some(format!("run apply with --push, or push it yourself with `{command}` (the key is the password)")),
            Error::NotPushed { command: None, .. } => Some("run apply with --push: the algorithm does not exist yet, so its repository is made by the create and only apply can push to it".into()),
            Error::Exists { .. } => Some("choose another --out, or remove the file first".into()),
            Error::SmokeTest { .. } => Some("fix the code (or sample_output), commit, push and apply again; --skip-smoke-test publishes without the test".into()),
            Error::NoAlgorithm { .. } => Some("check OWNER/NAME and that the key belongs to the owner (or may read the algorithm)".into()),
            Error::NewerBuild { .. } => Some("the service publishes its newest successful build; push HEAD again (or merge the newer commit) and re-run".into()),
            Error::Stale { .. } => Some("make a new plan with `algodeploy plan --out FILE` and review it".into()),
            Error::BuildTimeout { .. } => Some("raise --build-timeout, or check the build on the service and re-run: apply continues where it stopped".into()),
            Error::Moved { .. } => Some("plan again: another run (or a person) changed the algorithm".into()),
            Error::Locked { .. } => Some("wait for it to finish, or pass --lock-timeout DURATION to wait".into()),
            Error::NeedsYes => Some("review the plan, then pass --yes (or apply a saved plan with --plan FILE)".into()),
            _ => None,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::In { source, .. } => write!(f, "{source}"),
            // A rejected key fails every algorithm the same way: said once, not once each.
            Error::Several { errors } if errors.iter().all(|e| e.code() == "key-rejected") => {
                let first = &errors[0];
                let text = first.to_string();
                let text = match first.algorithm() {
                    Some(name) => text
                        .strip_prefix(&format!("{name}: "))
                        .unwrap_or(&text)
                        .to_string(),
                    None => text,
                };
                write!(f, "all {} algorithms failed alike: {text}", errors.len())
            }
            Error::Several { errors } => {
                write!(
                    f,
                    "{} failures (each stopped only its own algorithm):",
                    errors.len()
                )?;
                for error in errors {
                    let name = match error {
                        Error::In {
                            manifest,
                            algorithm,
                            ..
                        } => Some(algorithm.clone().unwrap_or_else(|| manifest.clone())),
                        other => other.algorithm().map(str::to_owned),
                    };
                    let text = error.to_string();
                    // Most messages start with their algorithm already: not twice.
                    let text = match &name {
                        Some(name) if !text.starts_with(&format!("{name}: ")) => {
                            format!("{name}: {text}")
                        }
                        _ => text,
                    };
                    // Continuation lines (a log tail, a diff) stay under their item.
                    write!(f, "\n  - {}", text.replace('\n', "\n    "))?;
                    if let Some(hint) = error.hint() {
                        write!(f, "\n    hint: {hint}")?;
                    }
                }
                Ok(())
            }
            Error::Deploy { manifest, source } => write!(f, "{manifest}: {source}"),
            Error::SecretMissing {
                algorithm,
                name,
                from_env,
            } => write!(
                f,
                "{algorithm}: the secret {name} is read from the environment variable {from_env}, which is not set"
            ),
            Error::HasPublished {
                algorithm,
                versions,
            } => write!(
                f,
                "{algorithm} has published versions ({}); destroying it deletes them",
                versions.join(", ")
            ),
            Error::EntryPoint {
                algorithm,
                commit,
                folders,
                missing,
            } => write!(
                f,
                "{algorithm}: the deploy commit {} ({folders}) lacks what the runtime's build needs: {}",
                crate::git::short(commit),
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::ManifestInvalid {
                invalid,
                checked,
                problems,
                ..
            } => {
                write!(
                    f,
                    "{invalid} of {} invalid ({})",
                    plural(*checked, "manifest"),
                    plural(*problems, "problem")
                )
            }
            Error::Output { .. } => write!(f, "cannot write output"),
            Error::Usage { message } => f.write_str(message),
            #[cfg(feature = "emulator")]
            Error::Emulator { source } => write!(f, "{source}"),
            Error::Config { source } => write!(f, "{source}"),
            Error::NoKey { api } => write!(f, "no API key for {api}: nothing was sent"),
            Error::Api { algorithm, source } => write!(f, "{algorithm}: {source}"),
            Error::Git { source } => write!(f, "{source}"),
            Error::Trust { source } => write!(f, "{source}"),
            Error::Conflict { conflicts } => {
                let lines: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
                write!(f, "{}", lines.join("\n"))
            }
            Error::State { source } => write!(f, "{source}"),
            Error::NotPushed {
                algorithm, commit, ..
            } => write!(
                f,
                "{algorithm}: the commit to deploy, {}, is not on the algorithm's `master` and apply may not push it (no --push); nothing was changed",
                crate::git::short(commit)
            ),
            Error::BuildFailed {
                algorithm,
                commit,
                log_tail,
            } => write!(
                f,
                "{algorithm}: the build of {} failed; the end of its log:\n{}",
                crate::git::short(commit),
                log_tail
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Error::BuildTimeout {
                algorithm,
                commit,
                waited,
            } => write!(
                f,
                "{algorithm}: the build of {} did not finish within {}",
                crate::git::short(commit),
                humantime::format_duration(*waited)
            ),
            Error::NewerBuild {
                algorithm,
                head,
                newest,
            } => write!(
                f,
                "{algorithm}: the newest successful build is of {}, not HEAD {}; publishing now would publish that commit",
                crate::git::short(newest),
                crate::git::short(head)
            ),
            Error::PublishMismatch {
                algorithm,
                expected,
                got,
            } => {
                write!(
                    f,
                    "{algorithm}: the service published {got}, not {expected}"
                )
            }
            Error::Stale { reasons } => write!(
                f,
                "the saved plan is stale: {}; nothing was changed",
                reasons.join("; ")
            ),
            Error::PlanFile { path, reason } => {
                write!(
                    f,
                    "cannot use the plan file `{}`: {reason}",
                    crate::diagnostic::display_path(path)
                )
            }
            Error::Io { path, action, .. } => write!(
                f,
                "cannot {action} `{}`",
                crate::diagnostic::display_path(path)
            ),
            Error::Cancelled => write!(f, "apply cancelled; nothing was changed"),
            Error::Moved { algorithm, what } => write!(
                f,
                "{algorithm}: the algorithm changed since the plan ({what}); nothing more was sent"
            ),
            Error::Interrupted { signal } => write!(
                f,
                "interrupted by {}; the request in flight finished and nothing new was started: run again to finish",
                if *signal == 2 { "SIGINT" } else { "SIGTERM" }
            ),
            Error::Locked { path, holder } => write!(
                f,
                "another apply holds `{}` ({holder})",
                crate::diagnostic::display_path(path)
            ),
            Error::Timeout { after } => write!(
                f,
                "gave up after --timeout {}; run again to finish",
                humantime::format_duration(*after)
            ),
            Error::SmokeTest { failure } => {
                let SmokeFailure {
                    algorithm,
                    commit,
                    input,
                    expected,
                    actual,
                    message,
                    stacktrace,
                } = failure.as_ref();
                let short = crate::git::short(commit);
                match message {
                    Some(message) => write!(
                        f,
                        "{algorithm}: the smoke test of {short} failed: the algorithm raised an error; nothing was published\n  input: {input:?}\n  error: {message}"
                    )?,
                    None => write!(
                        f,
                        "{algorithm}: the smoke test of {short} failed: the result is not sample_output; nothing was published\n  input: {input:?}"
                    )?,
                }
                if message.is_none() {
                    let want = expected.as_deref().unwrap_or("");
                    if want.len() + actual.len() > 120
                        || want.contains('\n')
                        || actual.contains('\n')
                    {
                        write!(f, "\n  expected (-) against actual (+):")?;
                        let diff = similar::TextDiff::from_lines(want, actual.as_str());
                        for change in diff.iter_all_changes() {
                            let sign = match change.tag() {
                                similar::ChangeTag::Delete => "-",
                                similar::ChangeTag::Insert => "+",
                                similar::ChangeTag::Equal => " ",
                            };
                            write!(f, "\n    {sign} {}", change.value().trim_end_matches('\n'))?;
                        }
                    } else {
                        write!(f, "\n  expected: {want:?}\n  actual:   {actual:?}")?;
                    }
                }
                if !stacktrace.is_empty() {
                    write!(f, "\n  stacktrace:")?;
                    for line in stacktrace.lines() {
                        write!(f, "\n      {line}")?;
                    }
                }
                Ok(())
            }
            Error::Exists { path } => {
                write!(
                    f,
                    "`{}` exists; algodeploy does not overwrite it",
                    crate::diagnostic::display_path(path)
                )
            }
            Error::NoAlgorithm { algorithm } => {
                write!(f, "no algorithm {algorithm} visible to this key")
            }
            Error::Import { algorithm, reason } => write!(f, "{algorithm}: {reason}"),
            Error::Doctor { failed, .. } => write!(
                f,
                "{} failed; the report above says how to fix {}",
                plural(*failed, "check"),
                if *failed == 1 { "it" } else { "them" }
            ),
            Error::NeedsYes => write!(
                f,
                "apply needs confirmation, and there is no terminal to ask on: nothing was changed"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::In { source, .. } => std::error::Error::source(source.as_ref()),
            Error::Output { source } | Error::Io { source, .. } => Some(source),
            #[cfg(feature = "emulator")]
            Error::Emulator { source } => std::error::Error::source(source),
            Error::Config { source } => std::error::Error::source(source),
            Error::Api { source, .. } => std::error::Error::source(source.as_ref()),
            Error::State { source } => std::error::Error::source(source),
            _ => None,
        }
    }
}

/// How a successful command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `plan --detailed-exitcode` found changes (exit 2).
    ChangesPending,
}

impl From<ConfigError> for Error {
    fn from(source: ConfigError) -> Self {
        Error::Config { source }
    }
}

impl From<GitError> for Error {
    fn from(source: GitError) -> Self {
        Error::Git { source }
    }
}

/// A remote read or push (through the user's `git`) is a git failure.
impl From<crate::remote::RemoteError> for Error {
    fn from(source: crate::remote::RemoteError) -> Self {
        Error::Git {
            source: GitError::Remote { source },
        }
    }
}

impl From<StateError> for Error {
    fn from(source: StateError) -> Self {
        Error::State { source }
    }
}

impl From<crate::trust::TrustError> for Error {
    fn from(source: crate::trust::TrustError) -> Self {
        Error::Trust { source }
    }
}

#[cfg(feature = "emulator")]
impl From<crate::emulator::Error> for Error {
    fn from(source: crate::emulator::Error) -> Self {
        Error::Emulator { source }
    }
}

/// Attaches the algorithm a call was about to its error: `client.algorithm(..).await.about(&name)?`.
pub trait About<T> {
    fn about(self, algorithm: &str) -> Result<T, Error>;
}

impl<T> About<T> for Result<T, ApiError> {
    fn about(self, algorithm: &str) -> Result<T, Error> {
        self.map_err(|source| Error::api(algorithm, source))
    }
}

impl<T> About<T> for Result<T, crate::live::ReadError> {
    fn about(self, algorithm: &str) -> Result<T, Error> {
        self.map_err(|e| match e {
            crate::live::ReadError::Api(source) => Error::api(algorithm, source),
            crate::live::ReadError::Git(source) => Error::Git { source },
        })
    }
}

/// Names the file an I/O error is about and what was being done to it:
/// `std::fs::create_dir_all(&dir).at("create", &dir)?`.
pub trait At<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, Error>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            action,
            source,
        })
    }
}

/// Writes data to stdout (and flushes it): the one place a command's output is written, so a
/// failed write is always [`Error::Output`] (a closed pipe ends the program quietly: `main`).
pub fn print(data: impl AsRef<[u8]>) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(data.as_ref())
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Output { source })
}

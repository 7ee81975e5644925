//! The algorithm's git remote, through the user's own `git` program: what the remote `master`
//! points to (a read) and pushing HEAD there. Running git (rather than libgit2) means the
//! user's `url.<base>.insteadOf` / `pushInsteadOf`, `http.proxy` / `HTTPS_PROXY`,
//! `http.sslCAInfo`, `http.extraHeader`, credential helpers for other hosts and SSH remotes
//! behave exactly as `git push` would, and the read and the push use the same rewritten URL.
//!
//! Every run of git: the API key only through [`crate::credential::Lender`] (never argv, env,
//! URL or `.git/config`), `GIT_TERMINAL_PROMPT=0`, the trusted roots of [`crate::trust`] when
//! they go beyond the system's, its own process group killed on timeout or when the caller
//! gives up, stderr captured and sanitised, and the program's version checked once.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::config::ApiKey;
use crate::credential::{Asked, Lender, Origin};
use crate::sanitize;
use crate::trust::Trust;

/// The oldest git whose behaviour is relied on (URL-scoped credential helpers that an empty
/// value resets, `--force-with-lease`, `push --porcelain`).
pub const MIN_GIT: (u32, u32, u32) = (2, 20, 0);

/// How long one remote read may take; a push gets longer (it uploads the history).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const PUSH_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What git was asked to do, for messages that say "read" or "push" correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Push,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Push => "push to",
        }
    }
}

#[derive(Debug)]
pub enum RemoteError {
    /// No `git` program, or one older than [`MIN_GIT`].
    Program { problem: String },
    /// The certificate of the git host is not trusted.
    Certificate {
        op: Op,
        url: String,
        host: String,
        message: String,
    },
    /// The git host refused the key (401 after it was given).
    KeyRejected {
        op: Op,
        url: String,
        message: String,
    },
    /// The git host answered that this key may not do this (403).
    Forbidden {
        op: Op,
        url: String,
        message: String,
    },
    /// git asked for credentials of another origin (a redirect or rewrite), which algodeploy
    /// does not give the key to, and nothing else answered.
    NoCredentials {
        op: Op,
        url: String,
        asked: Vec<String>,
        origin: String,
        message: String,
    },
    /// A rewrite sends the key's origin over plain http to a host that is not loopback.
    Insecure { url: String, rewritten: String },
    /// The push was refused: not a fast-forward, or the lease did not hold.
    Rejected { url: String, reason: String },
    /// git did not finish in time.
    Timeout {
        op: Op,
        url: String,
        after: Duration,
    },
    /// The git host is busy (503, 429) and stayed so through the retries.
    Busy {
        op: Op,
        url: String,
        message: String,
    },
    /// The repository does not exist (yet).
    NotFound {
        op: Op,
        url: String,
        /// Whether the key was given (so the host accepted it before saying "not found").
        credentials_given: bool,
        message: String,
    },
    /// Anything else git reported.
    Failed {
        op: Op,
        url: String,
        message: String,
    },
    /// git answered something that is not what was asked for.
    Garbled { op: Op, url: String, what: String },
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

impl RemoteError {
    /// Exit 4 for a refused push (the user merges or bumps), 5 for a key problem, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            RemoteError::Rejected { .. } => 4,
            RemoteError::KeyRejected { .. } | RemoteError::Forbidden { .. } => 5,
            _ => 1,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            RemoteError::Program { .. } => Some(format!(
                "install git {}.{} or newer (https://git-scm.com) and make sure `git` is on PATH",
                MIN_GIT.0, MIN_GIT.1
            )),
            RemoteError::Certificate { .. } => Some(
                "trust the host's CA: set `ca_cert = \"/path/to/ca.pem\"` in the profile of ~/.algorithmia/config, or SSL_CERT_FILE=/path/to/ca.pem".into(),
            ),
            RemoteError::KeyRejected { .. } => Some(
                "check ALGORITHMIA_API_KEY (or the profile's `api_key`); the git host takes the algorithm's owner as user and the key as password".into(),
            ),
            RemoteError::Forbidden { .. } => Some(
                "pushing needs a key that may manage the owner's algorithms (\"manage my algorithms\")".into(),
            ),
            RemoteError::NoCredentials { origin, .. } => Some(format!(
                "algodeploy gives the key only to the configured git origin {origin}; remove the redirect or `insteadOf` rule, or set `git_server` in the profile to the host that serves the repositories"
            )),
            RemoteError::Insecure { .. } => Some(
                "make the rewrite point at an https:// URL (plain http is allowed only to loopback)".into(),
            ),
            RemoteError::Timeout { .. } => Some("check the network and the git host, then run again".into()),
            RemoteError::Busy { .. } => Some("the git host is overloaded: run again later, or with a lower --parallelism".into()),
            _ => None,
        }
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Program { problem } => f.write_str(problem),
            RemoteError::Certificate {
                op,
                url,
                host,
                message,
            } => write!(
                f,
                "cannot {} the git remote `{url}`: the certificate of `{host}` is not trusted ({message})",
                op.verb()
            ),
            RemoteError::KeyRejected { op, url, message } => write!(
                f,
                "cannot {} the git remote `{url}`: the git host rejected the API key ({message})",
                op.verb()
            ),
            RemoteError::Forbidden { op, url, message } => write!(
                f,
                "cannot {} the git remote `{url}`: the API key may not do this ({message})",
                op.verb()
            ),
            RemoteError::NoCredentials {
                op,
                url,
                asked,
                message,
                ..
            } => write!(
                f,
                "cannot {} the git remote `{url}`: git asked for credentials of {} ({message})",
                op.verb(),
                asked.join(", ")
            ),
            RemoteError::Insecure { url, rewritten } => write!(
                f,
                "the git remote `{url}` is rewritten to `{rewritten}`, plain http to a host that is not loopback; the key is not sent there"
            ),
            RemoteError::Rejected { url, reason } => {
                write!(f, "the push to `{url}` was rejected: {reason}")
            }
            RemoteError::Timeout { op, url, after } => write!(
                f,
                "cannot {} the git remote `{url}`: git did not finish within {}",
                op.verb(),
                humantime::format_duration(*after)
            ),
            RemoteError::Failed { op, url, message } => {
                write!(f, "cannot {} the git remote `{url}`: {message}", op.verb())
            }
            RemoteError::Busy { op, url, message } => write!(
                f,
                "cannot {} the git remote `{url}`: the git host stayed busy through every retry ({message})",
                op.verb()
            ),
            RemoteError::NotFound {
                op, url, message, ..
            } => write!(
                f,
                "cannot {} the git remote `{url}`: no such repository ({message})",
                op.verb()
            ),
            RemoteError::Garbled { op, url, what } => write!(
                f,
                "cannot {} the git remote `{url}`: git answered {what}",
                op.verb()
            ),
            RemoteError::Io { what, source } => write!(f, "cannot {what}: {source}"),
        }
    }
}

impl std::error::Error for RemoteError {}

/// The `git` program's version, checked once per process.
pub fn git_version() -> Result<(u32, u32, u32), RemoteError> {
    static VERSION: OnceLock<Result<(u32, u32, u32), String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let output = std::process::Command::new("git")
                .arg("--version")
                .env_remove("ALGORITHMIA_API_KEY")
                .env("LC_ALL", "C")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| {
                    format!(
                        "the `git` program is needed for remote reads and pushes, and it could not be run ({e})"
                    )
                })?;
            let text = String::from_utf8_lossy(&output.stdout);
            let version = parse_version(&text).ok_or_else(|| {
                format!(
                    "`git --version` answered `{}`, not a version",
                    sanitize::line(&text, None, 80)
                )
            })?;
            if version < MIN_GIT {
                return Err(format!(
                    "git {}.{}.{} is too old: algodeploy needs git {}.{} or newer",
                    version.0, version.1, version.2, MIN_GIT.0, MIN_GIT.1
                ));
            }
            Ok(version)
        })
        .clone()
        .map_err(|problem| RemoteError::Program { problem })
}

/// `git version 2.47.3` (and vendor suffixes such as `2.39.2.windows.1` or `(Apple Git-143)`).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().nth(2)?;
    let mut parts = word.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
    });
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor, patch))
}

/// How to reach the algorithms' git host: its origin, the key to lend it, the trusted roots.
/// One per run, shared by every manifest.
pub struct Remotes {
    origin: Option<Origin>,
    key: ApiKey,
    trust: Trust,
    /// A remote name no user configuration can have (`algodeploy-<random>`): git is given the
    /// URL as `remote.<name>.url`, so that it applies the user's rewrites itself and reports
    /// the URL it will really use (`git remote get-url`).
    name: String,
    /// The PEM bundle for `GIT_SSL_CAINFO`, written once when the trust goes beyond the system.
    bundle: OnceLock<Result<Option<Arc<tempfile::NamedTempFile>>, String>>,
    /// Each repository's URL rewrites, read once (a monorepo has one for all its manifests).
    rules: std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Arc<Rules>>>,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remotes")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The URL git will use, and the rule that made it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub url: String,
    pub rule: Option<String>,
}

impl Remotes {
    pub fn new(git_server: &str, key: ApiKey, trust: Trust) -> Remotes {
        Remotes {
            origin: Origin::of_url(git_server),
            key,
            trust,
            name: format!("algodeploy-{}", uuid::Uuid::new_v4().simple()),
            bundle: OnceLock::new(),
            rules: Default::default(),
        }
    }

    /// `-c remote.<name>.url=<url>`: the configured URL as a remote of this run.
    fn remote_config(&self, url: &str) -> String {
        format!("remote.{}.url={url}", self.name)
    }

    /// The URL git will really use for `url`, after the user's `url.<base>.insteadOf` (and,
    /// for a push, `pushInsteadOf`) rules, by git's own rule (remote.c `alias_url`: the first of
    /// the longest matching prefixes; a push prefers `pushInsteadOf`). The rules are read once
    /// per repository; git applies them itself to the URL it is given, this names the result.
    pub async fn effective(
        &self,
        root: &Path,
        url: &str,
        op: Op,
    ) -> Result<Effective, RemoteError> {
        let rules = self.rules(root, url).await?;
        if op == Op::Push
            && let Some(pushed) = alias(url, &rules.push)
        {
            return Ok(Effective {
                url: pushed,
                rule: Some("a url.<base>.pushInsteadOf rule of your git configuration".into()),
            });
        }
        Ok(match alias(url, &rules.read) {
            Some(read) => Effective {
                url: read,
                rule: Some("a url.<base>.insteadOf rule of your git configuration".into()),
            },
            None => Effective {
                url: url.to_string(),
                rule: None,
            },
        })
    }

    /// The repository's `insteadOf` and `pushInsteadOf` rules, read once.
    async fn rules(&self, root: &Path, url: &str) -> Result<Arc<Rules>, RemoteError> {
        if let Some(rules) = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(root)
        {
            return Ok(rules.clone());
        }
        let args = [
            "config",
            "-z",
            "--get-regexp",
            r"^url\..*\.(push)?insteadof$",
        ];
        let output = self
            .git(root, &args, None, READ_TIMEOUT, Op::Read, url)
            .await?;
        // Exit 1: no such configuration.
        let rules = Arc::new(if output.status == Some(0) {
            parse_rewrites(&output.stdout)
        } else {
            Rules::default()
        });
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(root.to_path_buf(), rules.clone());
        Ok(rules)
    }

    /// The commit the remote's `master` points to, or `None` for an empty repository.
    pub async fn master(
        &self,
        root: &Path,
        url: &str,
        user: &str,
    ) -> Result<Option<String>, RemoteError> {
        let effective = self.effective(root, url, Op::Read).await?;
        self.check_insecure(url, &effective)?;
        let config = self.remote_config(url);
        let args = [
            "-c",
            config.as_str(),
            "ls-remote",
            "--refs",
            self.name.as_str(),
            "refs/heads/master",
        ];
        let output = self
            .git_with_key(root, &args, user, Op::Read, &effective, READ_TIMEOUT)
            .await?;
        let text = String::from_utf8_lossy(&output.stdout);
        let mut found = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (sha, name) = line.split_once('\t').ok_or_else(|| RemoteError::Garbled {
                op: Op::Read,
                url: effective.url.clone(),
                what: format!(
                    "`{}` instead of a ref",
                    sanitize::line(line, Some(&self.key), 80)
                ),
            })?;
            if name == "refs/heads/master" {
                if !crate::git::is_object_name(sha) {
                    return Err(RemoteError::Garbled {
                        op: Op::Read,
                        url: effective.url.clone(),
                        what: format!(
                            "`{}`, not a commit hash, for `master`",
                            sanitize::line(sha, Some(&self.key), 80)
                        ),
                    });
                }
                found = Some(sha.to_ascii_lowercase());
            }
        }
        Ok(found)
    }

    /// Push `commit` to the remote's `master`: a fast-forward, or with `lease` (the commit the
    /// remote `master` must still be on) a forced push that fails if anyone moved it.
    pub async fn push(
        &self,
        root: &Path,
        url: &str,
        user: &str,
        commit: &str,
        lease: Option<&str>,
    ) -> Result<Effective, RemoteError> {
        // Only object names reach git's command line: nothing a saved plan holds can become
        // refspec syntax (`+…` forces, `:…` deletes).
        for sha in std::iter::once(commit).chain(lease) {
            if !crate::git::is_object_name(sha) {
                return Err(RemoteError::Garbled {
                    op: Op::Push,
                    url: url.to_string(),
                    what: format!(
                        "`{}` where a commit's object name belongs",
                        sanitize::line(sha, Some(&self.key), 80)
                    ),
                });
            }
        }
        let effective = self.effective(root, url, Op::Push).await?;
        self.check_insecure(url, &effective)?;
        let config = self.remote_config(url);
        let lease_arg = lease.map(|sha| format!("--force-with-lease=refs/heads/master:{sha}"));
        let refspec = format!("{commit}:refs/heads/master");
        let mut args = vec![
            "-c",
            config.as_str(),
            "push",
            "--porcelain",
            "--no-progress",
        ];
        if let Some(lease) = &lease_arg {
            args.push(lease);
        }
        args.extend([self.name.as_str(), refspec.as_str()]);
        // A refused ref makes git exit 1; `git_with_key` hands that output back, and the
        // porcelain lines say why.
        let output = self
            .git_with_key(root, &args, user, Op::Push, &effective, PUSH_TIMEOUT)
            .await?;
        let text = String::from_utf8_lossy(&output.stdout);
        if let Some(reason) = porcelain_rejection(&text) {
            return Err(RemoteError::Rejected {
                url: effective.url.clone(),
                reason: sanitize::line(&reason, Some(&self.key), 300),
            });
        }
        Ok(effective)
    }

    fn check_insecure(&self, url: &str, effective: &Effective) -> Result<(), RemoteError> {
        if let Ok(parsed) = reqwest::Url::parse(&effective.url)
            && parsed.scheme() == "http"
            && !parsed.host_str().is_some_and(crate::config::is_loopback)
        {
            return Err(RemoteError::Insecure {
                url: url.to_string(),
                rewritten: effective.url.clone(),
            });
        }
        Ok(())
    }

    /// The bundle of trusted roots for git, when there is more than the system store.
    fn bundle(
        &self,
        root: &Path,
        url: &str,
    ) -> Result<Option<Arc<tempfile::NamedTempFile>>, RemoteError> {
        self.bundle
            .get_or_init(|| {
                if !self.trust.extra {
                    return Ok(None);
                }
                // What git itself was told to trust stays trusted: GIT_SSL_CAINFO and the
                // user's http.sslCAInfo (for this URL) join the bundle that replaces them.
                let mut more = Vec::new();
                let configured = std::process::Command::new("git")
                    .args(["config", "--get-urlmatch", "http.sslcainfo", url])
                    .current_dir(root)
                    .env_remove("ALGORITHMIA_API_KEY")
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
                for path in [std::env::var("GIT_SSL_CAINFO").ok(), configured]
                    .into_iter()
                    .flatten()
                {
                    if let Ok(certs) = crate::trust::read_pem(Path::new(&path)) {
                        more.extend(certs);
                    }
                }
                self.trust
                    .git_bundle(&more)
                    .map(|f| Some(Arc::new(f)))
                    .map_err(|e| format!("cannot write the CA bundle for git: {e}"))
            })
            .clone()
            .map_err(|problem| RemoteError::Program { problem })
    }

    /// Run git with the key lent for the configured origin only.
    async fn git_with_key(
        &self,
        root: &Path,
        args: &[&str],
        user: &str,
        op: Op,
        effective: &Effective,
        timeout: Duration,
    ) -> Result<GitOutput, RemoteError> {
        // A busy git host (503 "too many git requests at once", 429) answers before git does
        // anything, so the same command is run again after a pause, with backon as API reads
        // are retried: 0.5 s doubling to 8 s, 7 retries (0.5 + 1 + 2 + 4 + 8 + 8 + 8 s, about
        // 30 s in all).
        use backon::Retryable;
        let policy = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(8))
            .with_factor(2.0)
            .with_max_times(7);
        (|| self.git_with_key_once(root, args, user, op, effective, timeout))
            .retry(policy)
            .when(|e| matches!(e, RemoteError::Busy { .. }))
            .notify(|_, pause| tracing::info!("the git host is busy; trying again in {pause:?}"))
            .await
    }

    async fn git_with_key_once(
        &self,
        root: &Path,
        args: &[&str],
        user: &str,
        op: Op,
        effective: &Effective,
        timeout: Duration,
    ) -> Result<GitOutput, RemoteError> {
        let lender = match &self.origin {
            Some(origin) => Some(
                Lender::start(origin.clone(), user.to_string(), self.key.clone()).map_err(
                    |source| RemoteError::Io {
                        what: "start the credential helper for git",
                        source,
                    },
                )?,
            ),
            None => None,
        };
        let output = self
            .git(root, args, lender.as_ref(), timeout, op, &effective.url)
            .await?;
        if output.status == Some(0) {
            return Ok(output);
        }
        if op == Op::Push && porcelain_rejection(&String::from_utf8_lossy(&output.stdout)).is_some()
        {
            return Ok(output);
        }
        let asked = lender.as_ref().map(Lender::asked).unwrap_or_default();
        Err(self.classify(op, effective, &output.stderr, &asked))
    }

    /// What a failed git run means, from git's own error lines (not its progress or trace
    /// output, and not the URL, which can hold any digits).
    fn classify(&self, op: Op, effective: &Effective, stderr: &[u8], asked: &Asked) -> RemoteError {
        let message = git_message(stderr, &self.key);
        let text = String::from_utf8_lossy(stderr);
        let errors: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("fatal:") || l.starts_with("error:"))
            .map(str::to_ascii_lowercase)
            .collect();
        let any = |needles: &[&str]| errors.iter().any(|l| needles.iter().any(|n| l.contains(n)));
        let url = effective.url.clone();
        let host = reqwest::Url::parse(&effective.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| effective.url.clone());
        // "could not read Username for 'URL'": git needed credentials that nobody gave. For
        // another origin than the configured one, that is by design.
        let wanted = errors.iter().find_map(|l| {
            let rest = l.split("could not read username for '").nth(1)?;
            Origin::of_url(rest.split('\'').next()?)
        });
        if any(&[
            "ssl certificate problem",
            "certificate verify failed",
            "server certificate verification failed",
            "unable to get local issuer certificate",
            "self-signed certificate",
            "self signed certificate",
            "certificate is not trusted",
        ]) {
            RemoteError::Certificate {
                op,
                url,
                host,
                message,
            }
        } else if asked.rejected || (asked.given > 0 && any(&["authentication failed"])) {
            RemoteError::KeyRejected { op, url, message }
        } else if any(&[
            "returned error: 503",
            "returned error: 429",
            "http 503",
            "http 429",
        ]) {
            RemoteError::Busy { op, url, message }
        } else if any(&["returned error: 403", "http 403"]) {
            RemoteError::Forbidden { op, url, message }
        } else if any(&["returned error: 404", "http 404", "not found"]) {
            RemoteError::NotFound {
                op,
                url,
                credentials_given: asked.given > 0,
                message,
            }
        } else if let Some(wanted) = wanted.filter(|w| Some(w) != self.origin.as_ref()) {
            RemoteError::NoCredentials {
                op,
                url,
                asked: vec![wanted.url()],
                origin: self.origin.as_ref().map_or_else(String::new, Origin::url),
                message,
            }
        } else {
            RemoteError::Failed { op, url, message }
        }
    }

    /// Run git in `root` (its own process group, killed on timeout or when this future is
    /// dropped), with the lender's helper configured for the origin when given.
    async fn git(
        &self,
        root: &Path,
        args: &[&str],
        lender: Option<&Lender>,
        timeout: Duration,
        op: Op,
        shown: &str,
    ) -> Result<GitOutput, RemoteError> {
        git_version()?;
        let mut command = tokio::process::Command::new("git");
        command
            .current_dir(root)
            // The key is lent through the socket only, never inherited by git, its hooks,
            // helpers for other hosts or ssh.
            .env_remove("ALGORITHMIA_API_KEY")
            .env("GIT_TERMINAL_PROMPT", "0")
            // No prompt program either: a rewrite or redirect elsewhere must not pop up a
            // password dialog for another host (GIT_ASKPASS wins over core.askPass and
            // SSH_ASKPASS for git's own prompts).
            .env("GIT_ASKPASS", "false")
            .env("GCM_INTERACTIVE", "never")
            // Whatever the user's trace settings, git redacts credentials in its traces.
            .env("GIT_TRACE_REDACT", "1")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(origin) = &self.origin {
            let scope = origin.url();
            if origin.scheme == "http" {
                // Plain http goes only to loopback, and never through a proxy, where the key
                // would travel in the clear (an empty http.proxy turns proxying off).
                command.arg("-c").arg(format!("http.{scope}.proxy="));
                for name in ["NO_PROXY", "no_proxy"] {
                    let mut list = std::env::var(name).unwrap_or_default();
                    if !list.is_empty() {
                        list.push(',');
                    }
                    list.push_str(&origin.host);
                    command.env(name, list);
                }
            }
            if let Some(lender) = lender {
                let exe = std::env::current_exe().map_err(|source| RemoteError::Io {
                    what: "find the algodeploy program for git's credential helper",
                    source,
                })?;
                // An empty helper resets the list for this origin: the user's helpers (a
                // `store` helper would write the key to disk on success) never see it.
                command
                    .arg("-c")
                    .arg(format!("credential.{scope}.helper="))
                    .arg("-c")
                    .arg(format!(
                        "credential.{scope}.helper=!{} git-credential",
                        shell_quote(&exe.to_string_lossy())
                    ))
                    .envs(lender.env());
            }
        }
        if let Some(bundle) = self.bundle(root, shown)? {
            command.env("GIT_SSL_CAINFO", bundle.path());
        }
        command.args(args);
        let mut child = command.spawn().map_err(|e| RemoteError::Program {
            problem: format!("cannot run `git`: {e}"),
        })?;
        let guard = GroupGuard(child.id());
        let stdout = read_capped(child.stdout.take());
        let stderr = read_capped(child.stderr.take());
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => {
                return Err(RemoteError::Io {
                    what: "run git",
                    source,
                });
            }
            Err(_) => {
                drop(guard);
                return Err(RemoteError::Timeout {
                    op,
                    url: shown.to_string(),
                    after: timeout,
                });
            }
        };
        std::mem::forget(guard);
        // git has exited; a process it left behind (a hook's `sleep &`) may still hold the
        // pipes open, so their ends are not waited for long.
        let grace = Duration::from_secs(2);
        let stdout = tokio::time::timeout(grace, stdout)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let stderr = tokio::time::timeout(grace, stderr)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok(GitOutput {
            status: status.code(),
            stdout,
            stderr,
        })
    }
}

/// Read a child's pipe to its end in a task of its own, keeping at most 4 MiB.
fn read_capped<R>(pipe: Option<R>) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut kept = Vec::new();
        let Some(mut pipe) = pipe else { return kept };
        let mut buffer = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            if kept.len() < 4 * 1024 * 1024 {
                kept.extend_from_slice(&buffer[..n]);
            }
        }
        kept
    })
}

struct GitOutput {
    status: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Kills git's whole process group (git, git-remote-https, ssh, helpers) unless forgotten.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals the group the child leads; the
            // child was started with process_group(0), so the group is git's own.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// git's messages, sanitised: its `fatal:`, `error:` and `remote:` lines from the whole of
/// stderr (trace and progress lines left out), the last few of them.
fn git_message(stderr: &[u8], key: &ApiKey) -> String {
    let text = sanitize::lines(&String::from_utf8_lossy(stderr), Some(key), usize::MAX);
    let all: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .collect();
    let important: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.starts_with("remote:"))
        .collect();
    let chosen = if important.is_empty() { all } else { important };
    if chosen.is_empty() {
        return "git gave no message".into();
    }
    let mut shown: Vec<&str> = chosen.iter().rev().take(6).copied().collect();
    shown.reverse();
    sanitize::line(&shown.join("; "), Some(key), 1000)
}

/// The reason of a refused ref in `git push --porcelain` output (`!\tsrc:dst\t[rejected] (…)`).
fn porcelain_rejection(stdout: &str) -> Option<String> {
    let line = stdout.lines().find(|l| l.starts_with('!'))?;
    let summary = line.split('\t').nth(2).unwrap_or(line).trim();
    Some(
        if summary.contains("non-fast-forward") || summary.contains("fetch first") {
            "the remote `master` has commits that HEAD does not contain (not a fast-forward); merge them first".to_string()
        } else if summary.contains("stale info") {
            "the remote `master` moved since it was read (someone pushed); plan again".to_string()
        } else {
            summary.to_string()
        },
    )
}

/// One `url.<base>.insteadOf` (or `pushInsteadOf`) rule, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rewrite {
    base: String,
    prefix: String,
}

/// A repository's rewrites: for every URL git uses, and for pushes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Rules {
    read: Vec<Rewrite>,
    push: Vec<Rewrite>,
}

/// `git config -z --get-regexp` output: `key\nvalue\0` entries.
fn parse_rewrites(stdout: &[u8]) -> Rules {
    let mut rules = Rules::default();
    for entry in String::from_utf8_lossy(stdout).split('\0') {
        let Some((key, value)) = entry.split_once('\n') else {
            continue;
        };
        let lower = key.to_ascii_lowercase();
        let (suffix, list) = if lower.ends_with(".pushinsteadof") {
            (".pushinsteadof".len(), &mut rules.push)
        } else if lower.ends_with(".insteadof") {
            (".insteadof".len(), &mut rules.read)
        } else {
            continue;
        };
        // The base keeps its case: only the section and variable names are case-blind.
        if let Some(base) = key.get(4..key.len() - suffix) {
            list.push(Rewrite {
                base: base.to_string(),
                prefix: value.to_string(),
            });
        }
    }
    rules
}

/// git's `alias_url`: the first of the longest matching prefixes wins, and an empty prefix
/// matches every URL.
fn alias(url: &str, rules: &[Rewrite]) -> Option<String> {
    let mut best: Option<&Rewrite> = None;
    for rule in rules.iter().filter(|r| url.starts_with(&r.prefix)) {
        if best.is_none_or(|b| rule.prefix.len() > b.prefix.len()) {
            best = Some(rule);
        }
    }
    best.map(|rule| format!("{}{}", rule.base, &url[rule.prefix.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_vendor_suffixes() {
        assert_eq!(parse_version("git version 2.47.3\n"), Some((2, 47, 3)));
        assert_eq!(
            parse_version("git version 2.39.2.windows.1"),
            Some((2, 39, 2))
        );
        assert_eq!(
            parse_version("git version 2.37.1 (Apple Git-137.1)"),
            Some((2, 37, 1))
        );
        assert_eq!(parse_version("git version 2.9"), Some((2, 9, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn rewrites_follow_gits_first_longest_match() {
        let rules = parse_rewrites(
            b"url.ssh://one/.pushinsteadof\nhttps://git.example/\0url.ssh://two/.pushinsteadof\nhttps://git.example/\0url.ssh://deep/.pushinsteadof\nhttps://git.example/git/\0url.https://mirror/.insteadof\nhttps://git.example/\0",
        );
        assert_eq!((rules.push.len(), rules.read.len()), (3, 1));
        assert_eq!(
            alias("https://git.example/git/a.git", &rules.push).as_deref(),
            Some("ssh://deep/a.git")
        );
        assert_eq!(
            alias("https://git.example/x.git", &rules.push).as_deref(),
            Some("ssh://one/x.git"),
            "the first of equally long prefixes wins"
        );
        assert_eq!(
            alias("https://git.example/x.git", &rules.read).as_deref(),
            Some("https://mirror/x.git")
        );
        let empty = parse_rewrites(b"url.http://all/.insteadof\n\0");
        assert_eq!(
            alias("https://a/b", &empty.read).as_deref(),
            Some("http://all/https://a/b")
        );
        assert_eq!(alias("https://a/b", &[]), None);
    }

    #[test]
    fn porcelain_rejections_are_explained() {
        let out = "To http://x/git/a/b.git\n!\tabc:refs/heads/master\t[rejected] (non-fast-forward)\nDone\n";
        assert!(
            porcelain_rejection(out)
                .unwrap()
                .contains("not a fast-forward")
        );
        let out = "To http://x\n!\tabc:refs/heads/master\t[rejected] (stale info)\nDone\n";
        assert!(porcelain_rejection(out).unwrap().contains("moved since"));
        assert_eq!(
            porcelain_rejection("To x\n*\tabc:refs/heads/master\t[new branch]\nDone\n"),
            None
        );
    }
}

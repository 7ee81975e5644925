//! `algodeploy emulator`: a local Algorithmia, faithful enough that Algorithmia's own official
//! clients work against it. One listener serves three things:
//!
//! - `/v1/...`: the algorithm-management API (`api.rs`), written from
//!   `docs/api/openapispec.yml` and the decisions in `docs/api/decisions.md`.
//!   It shares no wire types with the client (`src/api.rs`), so a field-name mistake on one side
//!   is caught by the other.
//! - `/git/{owner}/{name}.git`: each algorithm's repository over git's smart HTTP protocol
//!   (`git.rs`, through `git http-backend`); a push to `master` starts a build (`builds.rs`).
//! - `/_emulator/...`: what the real service does not have: health, the request log and fault
//!   injection (`control.rs`), guarded by an admin token.
//!
//! State lives in `store.rs` (SQLite) and bare repositories under the data folder.

mod api;
mod builds;
mod console;
mod control;
mod git;
mod runtime;
mod store;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use store::Store;

/// `algodeploy emulator`'s flags (the command line is algodeploy's; the flags are the
/// emulator's own).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: std::net::SocketAddr,
    /// Allow listening on an address other than loopback (anyone who can reach it can use the
    /// keys you give)
    #[arg(long)]
    pub allow_remote: bool,
    /// Keep state in this folder (SQLite plus bare git repositories) across restarts; without
    /// it, a temporary folder removed on exit
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// A key that may manage OWNER's algorithms, as OWNER=KEY (repeatable); with no key at
    /// all, one is made for owner `demo` and printed
    #[arg(long = "key", value_name = "OWNER=KEY")]
    pub keys: Vec<String>,
    /// A key that may only read OWNER's algorithms, as OWNER=KEY (repeatable)
    #[arg(long = "read-only-key", value_name = "OWNER=KEY")]
    pub read_only_keys: Vec<String>,
    /// Keys from a file readable by its owner only (mode 600): one `OWNER=KEY` per line, or
    /// `read-only OWNER=KEY`; `#` comments. Unlike --key, keeps keys out of the process list
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<std::path::PathBuf>,
    /// How long a build takes
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub build_seconds: f64,
    /// Delay added to every /v1 response
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,
    /// Share of /v1 requests answered 503 with Retry-After: 1, before any state changes
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// The token for /_emulator endpoints; without it, one is made and printed. Visible to
    /// local users in the process list: prefer --admin-token-file or the environment
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ALGODEPLOY_EMULATOR_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Read the /_emulator token from a file readable by its owner only (mode 600)
    #[arg(long, value_name = "PATH", conflicts_with = "admin_token")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs
    /// --tls-key
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Let builds pip-install requirements.txt into a virtualenv per build (needs PyPI);
    /// without it, calls run with the emulator's python3
    #[arg(long)]
    pub install_requirements: bool,
}

/// What `algodeploy emulator` was asked to do, already checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    /// (owner, key, may manage algorithms)
    pub keys: Vec<(String, String, bool)>,
    pub build_delay: Duration,
    pub latency: Duration,
    pub fail_rate: f64,
    pub admin_token: Option<String>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--install-requirements`: builds pip-install `requirements.txt` into a virtualenv.
    pub install_requirements: bool,
}

impl Options {
    /// Check the command line: a usage error names the flag and the fix.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        if !args.listen.ip().is_loopback() && !args.allow_remote {
            return Err(format!(
                "`--listen {}` is not a loopback address; add `--allow-remote` to serve other machines",
                args.listen
            ));
        }
        let mut keys = Vec::new();
        for (list, manage, flag) in [
            (&args.keys, true, "--key"),
            (&args.read_only_keys, false, "--read-only-key"),
        ] {
            for pair in list {
                keys.push(key_pair(pair, manage, &format!("`{flag}`"))?);
            }
        }
        if let Some(path) = &args.key_file {
            let text = private_file(path, "--key-file")?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (pair, manage) = match line.strip_prefix("read-only ") {
                    Some(rest) => (rest.trim(), false),
                    None => (line, true),
                };
                let at = format!("`{}` line {}", path.display(), number + 1);
                keys.push(key_pair(pair, manage, &at)?);
            }
        }
        let admin_token = match &args.admin_token_file {
            Some(path) => {
                let token = private_file(path, "--admin-token-file")?.trim().to_string();
                if token.is_empty() || token.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "`--admin-token-file` `{}`: the token must be one word on one line",
                        path.display()
                    ));
                }
                Some(token)
            }
            None => args.admin_token.clone(),
        };
        if !(0.0..=1.0).contains(&args.fail_rate) {
            return Err(format!(
                "`--fail-rate {}` must be between 0 and 1",
                args.fail_rate
            ));
        }
        if !(args.build_seconds >= 0.0 && args.build_seconds.is_finite()) {
            return Err(format!(
                "`--build-seconds {}` must be 0 or more",
                args.build_seconds
            ));
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => {
                return Err(
                    "`--tls-cert` and `--tls-key` go together: the certificate chain and its private key, both PEM".into(),
                );
            }
        };
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for (owner, key, _) in &keys {
            if let Some(first) = owners.insert(key.as_str(), owner.as_str())
                && first != owner
            {
                return Err(format!(
                    "one key is given for two owners, `{first}` and `{owner}`; each key belongs to one owner"
                ));
            }
        }
        Ok(Options {
            install_requirements: args.install_requirements,
            tls,
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            keys,
            build_delay: Duration::from_secs_f64(args.build_seconds),
            latency: Duration::from_millis(args.latency),
            fail_rate: args.fail_rate,
            admin_token,
        })
    }
}

/// `OWNER=KEY` from a flag or a key file (`at` says where, for errors).
fn key_pair(pair: &str, manage: bool, at: &str) -> Result<(String, String, bool), String> {
    let Some((owner, key)) = pair.split_once('=') else {
        return Err(format!("{at} takes OWNER=KEY, such as `demo=simXXXX`"));
    };
    let owner_ok = owner
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && owner.len() <= 30
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !owner_ok {
        return Err(format!(
            "{at}: `{owner}` is not a valid owner (a letter, then letters, digits or _; at most 30)"
        ));
    }
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(format!(
            "{at} for `{owner}`: the key must be non-empty and without spaces"
        ));
    }
    Ok((owner.to_string(), key.to_string(), manage))
}

/// A file of secrets: a regular file that only its owner may read (no link followed), at
/// most 1 MiB.
fn private_file(path: &std::path::Path, flag: &str) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("`{flag}` `{shown}` cannot be read: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("`{flag}` `{shown}` cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{flag}` `{shown}` is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "`{flag}` `{shown}` may be read by other users (mode {mode:o}); make it private: chmod 600 {shown}"
        ));
    }
    let mut text = String::new();
    file.take(1024 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| format!("`{flag}` `{shown}` is not UTF-8 text: {e}"))?;
    Ok(text)
}

#[derive(Debug)]
pub enum Error {
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    GitMissing,
    Runtime {
        source: std::io::Error,
    },
    /// A `--tls-cert` or `--tls-key` file that cannot be used.
    Tls {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Bind { addr, .. } => write!(f, "cannot listen on `{addr}`"),
            Error::DataDir { path, .. } => {
                write!(f, "cannot use the data folder `{}`", path.display())
            }
            Error::Database { path, .. } => write!(
                f,
                "cannot open the emulator database in `{}`",
                path.display()
            ),
            Error::GitMissing => write!(
                f,
                "the emulator's git host needs the `git` command, which is not on PATH"
            ),
            Error::Runtime { .. } => write!(f, "cannot start the async runtime"),
            Error::Tls { path, reason } => {
                write!(f, "cannot serve TLS with `{}`: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. }
            | Error::DataDir { source, .. }
            | Error::Runtime { source } => Some(source),
            Error::Database { source, .. } => Some(source),
            Error::GitMissing | Error::Tls { .. } => None,
        }
    }
}

/// What one key may do.
#[derive(Debug, Clone)]
pub struct Grant {
    pub owner: String,
    pub manage: bool,
}

pub struct State {
    pub store: Mutex<Store>,
    pub grants: HashMap<String, Grant>,
    pub data_dir: PathBuf,
    pub build_delay: Duration,
    pub latency: Duration,
    pub fail_rate: f64,
    pub admin_token: String,
    pub control: Mutex<control::Control>,
    /// `http` or `https`, for the links the API answers with.
    pub scheme: &'static str,
    /// The listening address, for links when a request's `Host` is missing or malformed.
    pub local: SocketAddr,
    /// Git reads (clone, fetch, ls-remote) served at once (each runs a git process).
    pub git_slots: Arc<tokio::sync::Semaphore>,
    /// Git pushes served at once, apart from reads.
    pub git_push_slots: Arc<tokio::sync::Semaphore>,
    /// The Python runtime that runs published code.
    pub runtime: runtime::Runtime,
    /// Call bodies in memory at once, in KiB (a 16 MiB input takes 16,384): large calls queue
    /// instead of growing the emulator without bound.
    pub call_memory: Arc<tokio::sync::Semaphore>,
}

/// The call-body budget: four 16 MiB inputs at once.
pub const CALL_MEMORY_KIB: usize = 64 * 1024;

impl State {
    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.data_dir
            .join("repos")
            .join(owner)
            .join(format!("{name}.git"))
    }

    /// Run `f` in one database transaction. A database failure is a 500 for the request.
    pub fn tx<T>(
        &self,
        f: impl FnOnce(&store::Tx<'_>) -> Result<T, api::ApiError>,
    ) -> Result<T, api::ApiError> {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut outcome = None;
        let result = store.transaction(|tx| {
            match f(tx) {
                Ok(v) => {
                    outcome = Some(Ok(v));
                    Ok(())
                }
                // Roll back on an API error too: nothing half-done is kept.
                Err(e) => {
                    outcome = Some(Err(e));
                    Err(rusqlite::Error::InvalidQuery)
                }
            }
        });
        match (result, outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(api::ApiError::internal(&e)),
            (Ok(()), None) => unreachable!("the closure ran"),
        }
    }
}

/// Response bodies: whole (`full`) for the API, streamed for the git host.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A whole response body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// How many requests `/_emulator/requests` remembers.
const MAX_LOGGED_REQUESTS: usize = 100_000;

/// A marker a handler returns to have the connection closed without an answer (fault
/// injection: "commit, then drop").
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (fault injection)")
    }
}

impl std::error::Error for DropConnection {}

/// Start the emulator and serve until SIGINT or SIGTERM.
pub fn run(options: Options) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<(), Error> {
    if std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(Error::GitMissing);
    }
    // Without --data-dir everything lives in a temporary folder removed on exit.
    let temp = match &options.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("algodeploy-emulator-")
                .tempdir()
                .map_err(|source| Error::DataDir {
                    path: std::env::temp_dir(),
                    source,
                })?,
        ),
    };
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());
    std::fs::create_dir_all(data_dir.join("repos")).map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    // Absolute from here on: git and the Python workers run in other folders (a relative
    // `--data-dir data` would name nothing from a build's folder).
    let data_dir = data_dir.canonicalize().map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    // The folder holds the keys: only its user may read it.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| Error::DataDir {
                path: data_dir.clone(),
                source,
            },
        )?;
    }
    let store = Store::open(&data_dir).map_err(|source| Error::Database {
        path: data_dir.clone(),
        source,
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            data_dir.join("emulator.sqlite3"),
            std::fs::Permissions::from_mode(0o600),
        );
    }

    let mut store = store;
    let grants = settle_keys(&mut store, &options.keys).map_err(|source| Error::Database {
        path: data_dir.clone(),
        source,
    })?;
    let acceptor = match &options.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let admin_token = options
        .admin_token
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Bind {
        addr: options.listen,
        source,
    })?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let owners: std::collections::HashSet<&str> =
        grants.values().map(|g| g.owner.as_str()).collect();
    let runtime = runtime::Runtime::new(&data_dir, options.install_requirements, owners.len())
        .map_err(|source| Error::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    eprintln!("{}", runtime.confinement.describe());
    let state = Arc::new(State {
        runtime,
        call_memory: Arc::new(tokio::sync::Semaphore::new(CALL_MEMORY_KIB)),
        git_slots: Arc::new(tokio::sync::Semaphore::new(MAX_GIT_REQUESTS)),
        git_push_slots: Arc::new(tokio::sync::Semaphore::new(MAX_GIT_PUSHES)),
        scheme,
        local,
        store: Mutex::new(store),
        grants,
        data_dir,
        build_delay: options.build_delay,
        latency: options.latency,
        fail_rate: options.fail_rate,
        admin_token: admin_token.clone(),
        control: Mutex::new(control::Control::default()),
    });
    if options.admin_token.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "admin token for /_emulator: {admin_token}"
        );
    }

    // Builds that were running when the emulator last stopped are finished now, and a push
    // that landed in a repository without its build starting (killed in between) gets one.
    builds_resume(&state);
    reconcile_pushes(&state);

    // Handlers are installed before `listening on` is printed, so that a signal sent as soon
    // as the line appears stops the emulator gracefully rather than killing it.
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|source| Error::Runtime { source })?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|source| Error::Runtime { source })?;

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {scheme}://{local}");
        // For a shell: `eval` of the lines after the first points algodeploy at this emulator.
        let _ = writeln!(out, "export ALGORITHMIA_API={scheme}://{local}");
        let _ = out.flush();
    }
    {
        // Jupyter-style: the console's address with the token, for people (stderr, so that
        // stdout stays `eval`-able). A token the user chose is theirs to add.
        let host = if local.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port())
        } else {
            local
        };
        let token = if options.admin_token.is_none() {
            admin_token.as_str()
        } else {
            "<your admin token>"
        };
        let _ = writeln!(
            std::io::stderr(),
            "console: {scheme}://{host}/?token={token}"
        );
    }
    tracing::info!(%local, "emulator listening");

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let per_address: Arc<Mutex<HashMap<std::net::IpAddr, usize>>> = Arc::default();
    loop {
        // At the cap no connection is accepted: new clients wait in the kernel's backlog.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore stays open"),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        // One address may hold at most a quarter of the connections: past it, its new ones
        // are closed at once, and everyone else is still served.
        let Some(slot) = AddressSlot::take(&per_address, peer.ip()) else {
            tracing::info!(%peer, "too many connections from one address; closed");
            drop(stream);
            continue;
        };
        let permit = (permit, slot);
        let state = state.clone();
        let service = hyper::service::service_fn(move |request| {
            let state = state.clone();
            async move { handle(state, request).await }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .keep_alive(true)
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        match &acceptor {
            None => {
                let connection = graceful
                    .watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let connection = watcher.watch(
                        builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service),
                    );
                    let _ = connection.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    let _ = writeln!(std::io::stderr(), "stopping: finishing requests in flight");
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    drop(temp);
    Ok(())
}

fn builds_resume(state: &Arc<State>) {
    let running = state.tx(|tx| {
        tx.in_progress_builds()
            .map_err(|e| api::ApiError::internal(&e))
    });
    for build in running.unwrap_or_default() {
        let state = state.clone();
        tokio::spawn(async move { run_build(state, build.seq).await });
    }
}

/// Git reads and pushes served at once; past it, 503 with `Retry-After`.
const MAX_GIT_REQUESTS: usize = 8;
const MAX_GIT_PUSHES: usize = 4;

/// Open connections served at once; past it, new ones wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;
/// Open connections from one client address.
const PER_ADDRESS: usize = MAX_CONNECTIONS / 4;

/// One connection counted against its client address while it is open.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
    address: std::net::IpAddr,
}

impl AddressSlot {
    fn take(
        counts: &Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
        address: std::net::IpAddr,
    ) -> Option<AddressSlot> {
        let mut map = counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(address).or_default();
        if *count >= PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: counts.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.address);
            }
        }
    }
}

/// How long a client may take to send a request's headers (or the TLS handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The keys of this data folder: those stored by earlier starts, plus the ones given now (a
/// given key replaces a stored one). With none at all, one is made for `demo` and stored; a
/// key made earlier is printed again, not replaced.
fn settle_keys(
    store: &mut Store,
    given: &[(String, String, bool)],
) -> rusqlite::Result<HashMap<String, Grant>> {
    let keys = store.transaction(|tx| {
        let stored = tx.keys()?;
        for (owner, key, manage) in given {
            if let Some(old) = stored.iter().find(|s| s.key == *key && s.owner != *owner) {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: a key stored for owner `{}` is now given for `{owner}`",
                    old.owner
                );
            }
            tx.put_key(&store::StoredKey {
                key: key.clone(),
                owner: owner.clone(),
                manage: *manage,
                generated: false,
            })?;
        }
        if given.is_empty() {
            match stored.iter().find(|s| s.generated) {
                Some(made) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "no --key given: using the key made earlier for owner `{}`\nexport ALGORITHMIA_API_KEY={}",
                        made.owner, made.key
                    );
                }
                None if stored.is_empty() => {
                    let key = new_key();
                    let _ = writeln!(
                        std::io::stderr(),
                        "no --key given: made a key for owner `demo`\nexport ALGORITHMIA_API_KEY={key}"
                    );
                    tx.put_key(&store::StoredKey {
                        key,
                        owner: "demo".into(),
                        manage: true,
                        generated: true,
                    })?;
                }
                None => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "no --key given: using the {} stored in the data folder",
                        if stored.len() == 1 { "key".to_string() } else { format!("{} keys", stored.len()) }
                    );
                }
            }
        }
        tx.keys()
    })?;
    Ok(keys
        .into_iter()
        .map(|k| {
            (
                k.key,
                Grant {
                    owner: k.owner,
                    manage: k.manage,
                },
            )
        })
        .collect())
}

/// The TLS acceptor for `--tls-cert` (a chain, leaf first) and `--tls-key`, checked before
/// anything listens: unreadable files, no certificate, no key, or a key of another
/// certificate are errors naming the file.
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &std::path::Path, reason: String| Error::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(cert).map_err(|e| bad(cert, e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not valid PEM ({e})")))?;
    if chain.is_empty() {
        return Err(bad(
            cert,
            "it holds no `-----BEGIN CERTIFICATE-----` section".into(),
        ));
    }
    let text = std::fs::read(key).map_err(|e| bad(key, e.to_string()))?;
    let private = PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        bad(
            key,
            format!("no private key in it (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            bad(
                key,
                format!(
                    "it cannot be used with the certificate in `{}` ({e})",
                    cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Each repository's `master` against the recorded builds: a head without any build (the
/// emulator was killed after git moved `master` and before the build row was written) starts
/// one now, as the push would have.
fn reconcile_pushes(state: &Arc<State>) {
    let algorithms = state
        .tx(|tx| tx.all_algorithms().map_err(|e| api::ApiError::internal(&e)))
        .unwrap_or_default();
    for algorithm in algorithms {
        git::sweep(&state.repo_path(&algorithm.owner, &algorithm.name));
        let head = git2::Repository::open_bare(state.repo_path(&algorithm.owner, &algorithm.name))
            .ok()
            .and_then(|r| r.refname_to_id("refs/heads/master").ok())
            .map(|oid| oid.to_string());
        let Some(head) = head else { continue };
        let built = state.tx(|tx| {
            tx.has_build(&algorithm.id, &head)
                .map_err(|e| api::ApiError::internal(&e))
        });
        if matches!(built, Ok(false)) {
            tracing::info!(algorithm = %algorithm.name, %head, "starting the build a push left behind");
            let _ = state.tx(|tx| {
                let mut updated = algorithm.clone();
                updated.pushed_sha = Some(head.clone());
                tx.update_algorithm(&updated)
                    .map_err(|e| api::ApiError::internal(&e))
            });
            if let Err(e) = start_build(state, &algorithm.id, &head) {
                tracing::error!(?e, "could not start a reconciling build");
            }
        }
    }
}

/// A new standard-format key: 28 characters starting `sim`.
pub fn new_key() -> String {
    let random =
        uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
    format!("sim{}", &random[..25])
}

/// A random number in [0, 1) for the fail rate.
fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A new `in-progress` build row of `commit`.
pub fn insert_build(
    state: &State,
    algorithm_id: &str,
    commit: &str,
) -> Result<store::Build, api::ApiError> {
    state.tx(|tx| {
        tx.insert_build(
            algorithm_id,
            &uuid::Uuid::new_v4().to_string(),
            commit,
            &now(),
        )
        .map_err(|e| api::ApiError::internal(&e))
    })
}

/// Start a build of `commit`: the row now, the result after the build delay.
pub fn start_build(
    state: &Arc<State>,
    algorithm_id: &str,
    commit: &str,
) -> Result<store::Build, api::ApiError> {
    let build = insert_build(state, algorithm_id, commit)?;
    let task_state = state.clone();
    let seq = build.seq;
    tokio::spawn(async move { run_build(task_state, seq).await });
    Ok(build)
}

/// Finish one build: wait the build delay, check the tree, record the result.
pub async fn run_build(state: Arc<State>, seq: i64) -> Option<store::Build> {
    tokio::time::sleep(state.build_delay).await;
    let (build, algorithm) = state
        .tx(|tx| {
            let build = tx
                .build_by_seq(seq)
                .map_err(|e| api::ApiError::internal(&e))?;
            let algorithm = match &build {
                Some(b) => tx
                    .algorithm_by_id(&b.algorithm_id)
                    .map_err(|e| api::ApiError::internal(&e))?,
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
        let (mut ok, mut logs) = builds::check(&repo, &commit, &checked, forced);
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
            tx.finish_build(seq, status, &now(), &logs)
                .map_err(|e| api::ApiError::internal(&e))?;
            if ok {
                tx.record_built_version(
                    &algorithm.id,
                    &build.commit_sha,
                    seq,
                    algorithm.sample_input.as_deref(),
                )
                .map_err(|e| api::ApiError::internal(&e))?;
            }
            tx.build_by_seq(seq)
                .map_err(|e| api::ApiError::internal(&e))
        })
        .ok()
        .flatten()
}

pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(full(Bytes::new()))
        .expect("a valid response")
}

/// Read a request body, refusing more than `limit` bytes or a client slower than
/// [`HEADER_TIMEOUT`] to send it.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, api::ApiError> {
    let refused = || {
        api::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            2015,
            "request body too large, too slow or interrupted",
        )
    };
    match tokio::time::timeout(HEADER_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        _ => Err(refused()),
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let (response, owner) = if path.starts_with("/_emulator/") || path == "/_emulator" {
        (control::handle(&state, request).await, None)
    } else if path == "/" || path == "/console" || path.starts_with("/console/") {
        return Ok(console::handle(&state, request).await);
    } else if path.starts_with("/git/") {
        git::handle(&state, request).await
    } else if path == "/v1" || path.starts_with("/v1/") {
        match api_with_faults(&state, request).await {
            Ok(answer) => answer,
            Err(drop) => {
                record(&state, &method, &path, 0, None, started);
                return Err(drop);
            }
        }
    } else {
        (
            api::ApiError::new(
                StatusCode::NOT_FOUND,
                1000,
                format!("no such endpoint `{path}`"),
            )
            .response(),
            None,
        )
    };
    if !path.starts_with("/_emulator") {
        record(
            &state,
            &method,
            &path,
            response.status().as_u16(),
            owner,
            started,
        );
    }
    Ok(response)
}

fn record(
    state: &State,
    method: &hyper::Method,
    path: &str,
    status: u16,
    owner: Option<String>,
    started: Instant,
) {
    // Bounded: a client could send paths of any length.
    let path = match path.char_indices().nth(256) {
        Some((end, _)) => format!("{}…", &path[..end]),
        None => path.to_string(),
    };
    let entry = control::RequestRecord {
        method: method.to_string(),
        path,
        status,
        owner,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    // `-v`: one line per request (never a header, a body or a key: paths hold no keys).
    tracing::info!(
        "{} {} {} {:.1}ms {}",
        entry.method,
        algodeploy_platform::text::line(&entry.path, None, 300),
        entry.status,
        entry.duration_ms,
        entry.owner.as_deref().unwrap_or("-")
    );
    let mut control = state
        .control
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A long-running emulator keeps the newest entries only.
    if control.requests.len() >= MAX_LOGGED_REQUESTS {
        control.requests.drain(..MAX_LOGGED_REQUESTS / 10);
    }
    control.requests.push(entry);
}

/// `/v1` with `--latency`, `--fail-rate` and scripted faults around the API itself.
async fn api_with_faults(
    state: &Arc<State>,
    request: Request<Incoming>,
) -> Result<(Response<Body>, Option<String>), DropConnection> {
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    if state.fail_rate > 0.0 && random_unit() < state.fail_rate {
        let mut response = api::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            5001,
            "service unavailable (--fail-rate)",
        )
        .response();
        response
            .headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        return Ok((response, None));
    }
    let fault = state
        .control
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take_fault(request.method().as_str(), request.uri().path());
    let mut drop_after = false;
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if let Some(response) = fault.response() {
            return Ok((response, None));
        }
        drop_after = fault.drop_after_commit;
    }
    let answer = api::handle(state, request).await;
    if drop_after {
        return Err(DropConnection);
    }
    Ok(answer)
}

//! `algodeploy emulator`: a local Algorithmia, faithful enough that Algorithmia's own official
//! clients work against it. One listener (`server.rs`) serves four things:
//!
//! - `/v1/...`: the algorithm-management API and the call API (`api/`), written from
//!   `docs/api/openapispec.yml` and the decisions in `docs/api/decisions.md`.
//!   It shares no wire types with the client (`src/api/`), so a field-name mistake on one side
//!   is caught by the other.
//! - `/git/{owner}/{name}.git`: each algorithm's repository over git's smart HTTP protocol
//!   (`git.rs`, through `git http-backend`); a push to `master` starts a build (`builds.rs`).
//! - `/` and `/console/...`: the browser console, server-rendered pages behind the admin
//!   token (`console.rs`).
//! - `/_emulator/...`: what the real service does not have: health, the request log and fault
//!   injection (`control.rs`), guarded by an admin token.
//!
//! The files:
//!
//! - this file: the start-up [`Error`], the shared [`State`], and the response helpers every
//!   handler uses;
//! - `options.rs`: the flags ([`Args`]) and their checked form ([`Options`]);
//! - `server.rs`: start-up, the accept loop and its limits, routing, faults and the request log;
//! - `api/`: the `/v1` API (`mod.rs` routes; `settings.rs`, `versions.rs`, `secrets.rs`,
//!   `call.rs`, `answers.rs`);
//! - `git.rs`: the git host;
//! - `builds.rs`: what a build checks, and starting, running and resuming builds;
//! - `runtime.rs`: running published Python code in sandboxed workers (`worker.py`);
//! - `console.rs`: the browser console;
//! - `control.rs`: the `/_emulator` endpoints;
//! - `store.rs`: the durable state, in SQLite.
//!
//! State lives in `store.rs` (SQLite), bare repositories and the Python builds under the data
//! folder.

mod api;
mod builds;
mod console;
mod control;
mod git;
mod options;
mod runtime;
mod server;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};

pub use options::{Args, Options};
pub use server::run;
use store::Store;

/// Why the emulator could not start or stopped.
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

/// What every handler shares: the database, the keys, the flags and the limits.
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
    /// Each owner's share of the git slots and the call memory: one owner (one key) holding
    /// its share cannot stall the others.
    pub shares: Mutex<HashMap<String, Share>>,
}

/// One owner's half of each shared limit.
#[derive(Clone)]
pub struct Share {
    pub git: Arc<tokio::sync::Semaphore>,
    pub git_push: Arc<tokio::sync::Semaphore>,
    pub call_memory: Arc<tokio::sync::Semaphore>,
}

/// Compare secrets (tokens) in time that does not depend on where they differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Git reads and pushes served at once; past it, 503 with `Retry-After`.
pub(crate) const MAX_GIT_REQUESTS: usize = 8;
pub(crate) const MAX_GIT_PUSHES: usize = 4;

/// The call-body budget: four 16 MiB inputs at once.
pub const CALL_MEMORY_KIB: usize = 64 * 1024;

impl State {
    /// `owner`'s share of the git slots and the call memory (half of each).
    pub fn share(&self, owner: &str) -> Share {
        self.shares
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(owner.to_string())
            .or_insert_with(|| Share {
                git: Arc::new(tokio::sync::Semaphore::new(MAX_GIT_REQUESTS / 2)),
                git_push: Arc::new(tokio::sync::Semaphore::new(MAX_GIT_PUSHES / 2)),
                call_memory: Arc::new(tokio::sync::Semaphore::new(CALL_MEMORY_KIB / 2)),
            })
            .clone()
    }

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
            (Err(e), _) => Err(api::ApiError::from(e)),
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

/// A JSON answer.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}

/// An answer without a body.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(full(Bytes::new()))
        .expect("a valid response")
}

/// Read a request body, refusing more than `limit` bytes or a client slower than
/// `server::HEADER_TIMEOUT` to send it.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, api::ApiError> {
    let refused = || {
        api::ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            2015,
            "request body too large, too slow or interrupted",
        )
    };
    match tokio::time::timeout(server::HEADER_TIMEOUT, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        _ => Err(refused()),
    }
}

/// The time now, as the API answers it: RFC 3339 with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

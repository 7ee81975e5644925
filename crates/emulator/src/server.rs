//! The HTTP server: start-up (data folder, database, keys, TLS, resuming builds), the accept
//! loop with its connection limits, and routing each request to the API, the git host, the
//! console or the control endpoints, with `--latency`, `--fail-rate` and scripted faults
//! around `/v1` and every request recorded in the request log.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::store::{self, Store};
use crate::{
    Body, CALL_MEMORY_KIB, Error, Grant, Options, State, api, builds, console, control, git,
    runtime,
};

use crate::{MAX_GIT_PUSHES, MAX_GIT_REQUESTS};

/// Open connections served at once; past it, new ones wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;
/// Open connections from one client address.
const PER_ADDRESS: usize = MAX_CONNECTIONS / 4;

/// How long a client may take to send a request's headers (or the TLS handshake).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How many requests `/_emulator/requests` remembers.
const MAX_LOGGED_REQUESTS: usize = 100_000;

/// Start the emulator and serve until SIGINT or SIGTERM.
pub fn run(options: Options) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })?;
    runtime.block_on(serve(options))
}

/// Start up (data folder, database, keys, TLS, resumed builds), print the addresses, then
/// serve until SIGINT or SIGTERM and finish the requests in flight (at most 10 seconds).
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
    let data_dir = (|| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(data_dir.join("repos"))?;
        // Absolute from here on: git and the Python workers run in other folders (a relative
        // `--data-dir data` would name nothing from a build's folder).
        let absolute = data_dir.canonicalize()?;
        // The folder holds the keys: only its user may read it.
        std::fs::set_permissions(&absolute, std::fs::Permissions::from_mode(0o700))?;
        Ok(absolute)
    })()
    .map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
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
    let runtime = runtime::Runtime::new(
        &data_dir,
        options.install_requirements,
        options.algorithm_network,
        owners.len(),
    )
    .map_err(|source| Error::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    eprintln!("{}", runtime.confinement.describe());
    for warning in &options.warnings {
        eprintln!("warning: {warning}");
    }
    let state = Arc::new(State {
        runtime,
        call_memory: Arc::new(tokio::sync::Semaphore::new(CALL_MEMORY_KIB)),
        shares: Mutex::new(HashMap::new()),
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
    builds::builds_resume(&state);
    reconcile_pushes(&state);
    // Warm workers idle for ten minutes stop, with whatever they left running.
    {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                state.runtime.reap_idle(Duration::from_secs(600));
            }
        });
    }

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
        // Keys given are the whole set: one stored by an earlier start and not given now is
        // revoked (rotating a leaked key is a restart without it).
        if !given.is_empty() {
            let mut revoked: std::collections::BTreeMap<&str, usize> = Default::default();
            for old in &stored {
                if !given.iter().any(|(_, key, _)| *key == old.key) {
                    tx.delete_key(&old.key)?;
                    *revoked.entry(old.owner.as_str()).or_default() += 1;
                }
            }
            for (owner, n) in revoked {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: revoked {n} key{} of owner `{owner}` stored by an earlier start and not given now",
                    if n == 1 { "" } else { "s" }
                );
            }
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

/// A new standard-format key: 28 characters starting `sim`.
fn new_key() -> String {
    let random =
        uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
    format!("sim{}", &random[..25])
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
    let algorithms = state.tx(|tx| Ok(tx.all_algorithms()?)).unwrap_or_default();
    for algorithm in algorithms {
        git::sweep(&state.repo_path(&algorithm.owner, &algorithm.name));
        let head = git2::Repository::open_bare(state.repo_path(&algorithm.owner, &algorithm.name))
            .ok()
            .and_then(|r| r.refname_to_id("refs/heads/master").ok())
            .map(|oid| oid.to_string());
        let Some(head) = head else { continue };
        let built = state.tx(|tx| Ok(tx.has_build(&algorithm.id, &head)?));
        if matches!(built, Ok(false)) {
            tracing::info!(algorithm = %algorithm.name, %head, "starting the build a push left behind");
            let _ = state.tx(|tx| {
                let mut updated = algorithm.clone();
                updated.pushed_sha = Some(head.clone());
                Ok(tx.update_algorithm(&updated)?)
            });
            if let Err(e) = builds::start_build(state, &algorithm.id, &head) {
                tracing::error!(?e, "could not start a reconciling build");
            }
        }
    }
}

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

/// One request, routed by its path; all but the console's and `/_emulator`'s go into the
/// request log.
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

/// Add one request to the request log (and, with `-v`, the log lines).
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

/// A marker a handler returns to have the connection closed without an answer (fault
/// injection: "commit, then drop").
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose (fault injection)")
    }
}

impl std::error::Error for DropConnection {}

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

/// A random number in [0, 1) for the fail rate.
fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

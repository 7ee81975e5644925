//! The git host: `/git/{owner}/{name}.git` over git's smart HTTP protocol, served by running
//! `git http-backend` as a CGI program (git2 has no server side, so the emulator needs the
//! `git` command). HTTP Basic auth: user = the key's owner, password = the key; reading needs
//! any key of the owner, pushing a key that may manage algorithms.
//!
//! After a push, if `master` moved, a build of the new head starts before the push is answered,
//! so the build exists when `git push` returns.

use std::process::Stdio;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Body, State, api};

/// The largest git request body accepted (a push of the whole history).
const MAX_PUSH: u64 = 512 * 1024 * 1024;

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(super::full(format!("{message}\n")))
        .expect("a valid response");
    if status == StatusCode::UNAUTHORIZED {
        // git sends no credentials until asked for them.
        response.headers_mut().insert(
            "www-authenticate",
            hyper::header::HeaderValue::from_static("Basic realm=\"algodeploy emulator\""),
        );
    }
    response
}

/// `%XX` escapes decoded (for the `service` parameter).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn valid_name(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) async fn handle(
    state: &Arc<State>,
    request: Request<Incoming>,
) -> (Response<Body>, Option<String>) {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let rest = path.trim_start_matches("/git/");
    let mut parts = rest.splitn(3, '/');
    let (Some(owner), Some(repo), tail) = (parts.next(), parts.next(), parts.next().unwrap_or(""))
    else {
        return (plain(StatusCode::NOT_FOUND, "no such repository"), None);
    };
    let Some(name) = repo.strip_suffix(".git") else {
        return (
            plain(StatusCode::NOT_FOUND, "repository paths end in .git"),
            None,
        );
    };
    if !valid_name(owner) || !valid_name(name) {
        return (plain(StatusCode::NOT_FOUND, "no such repository"), None);
    }
    // Only git's own endpoints: http-backend routes on the end of PATH_INFO, so a deeper path
    // (`refs/heads/p/git-receive-pack`) could reach another "repository" inside this one.
    let known = matches!(
        tail,
        "info/refs" | "git-upload-pack" | "git-receive-pack" | "HEAD"
    ) || (tail.starts_with("objects/")
        && tail
            .split('/')
            .all(|p| !p.is_empty() && p != ".." && p != "."));
    if !known {
        return (plain(StatusCode::NOT_FOUND, "no such git endpoint"), None);
    }
    let service = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("service="))
        .map(percent_decode)
        .unwrap_or_default();
    if tail == "info/refs"
        && !service.is_empty()
        && !matches!(service.as_str(), "git-upload-pack" | "git-receive-pack")
    {
        return (plain(StatusCode::FORBIDDEN, "unknown git service"), None);
    }
    let push = tail == "git-receive-pack" || (tail == "info/refs" && service == "git-receive-pack");

    let credentials = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((user, key)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return (
            plain(
                StatusCode::UNAUTHORIZED,
                "authentication required: user = the key's owner, password = the API key",
            ),
            None,
        );
    };
    let Some(grant) = state.grants.get(key).filter(|g| g.owner == user) else {
        return (
            plain(
                StatusCode::UNAUTHORIZED,
                "unknown key, or the user is not the key's owner",
            ),
            None,
        );
    };
    let who = Some(grant.owner.clone());
    if grant.owner != owner || (push && !grant.manage) {
        return (
            plain(
                StatusCode::FORBIDDEN,
                "this key may not push to this repository",
            ),
            who,
        );
    }
    let exists = state.tx(|tx| Ok(tx.algorithm_by_name(owner, name)?));
    if !matches!(exists, Ok(Some(_))) || !state.repo_path(owner, name).exists() {
        return (plain(StatusCode::NOT_FOUND, "no such repository"), who);
    }

    // Bounded: each git request runs a git process; past the cap, clients are asked to retry.
    // Reads and pushes have slots of their own, so that readers cannot block every push.
    let share = state.share(owner);
    let (slots, mine) = if push {
        (&state.git_push_slots, share.git_push)
    } else {
        (&state.git_slots, share.git)
    };
    // The owner's share first (half the slots), then a slot: one owner cannot hold them all.
    let permit = mine
        .try_acquire_owned()
        .ok()
        .and_then(|mine| Some((mine, slots.clone().try_acquire_owned().ok()?)));
    let Some(permit) = permit else {
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many git requests at once; retry shortly",
        );
        response
            .headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        return (response, who);
    };
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let cgi = Cgi {
        method: request.method().to_string(),
        path_info: format!("/{owner}/{name}.git/{tail}"),
        query,
        content_type: header("content-type"),
        manage: grant.manage,
        content_length: request
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok()),
        encoding: header("content-encoding"),
        protocol: header("git-protocol"),
        owner: owner.to_string(),
    };
    // A compressed push would inflate past any cap inside git (packs are compressed already;
    // git itself never gzips a push).
    if push && !cgi.encoding.is_empty() && !cgi.encoding.eq_ignore_ascii_case("identity") {
        return (
            plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "compressed pushes are not accepted",
            ),
            who,
        );
    }
    if cgi.content_length.is_some_and(|n| n > MAX_PUSH) {
        return (CgiError::TooLarge.response(), who);
    }
    let after_push = (tail == "git-receive-pack").then(|| (owner.to_string(), name.to_string()));
    match run_cgi(state.clone(), cgi, request.into_body(), after_push, permit).await {
        Ok(response) => (response, who),
        Err(e) => {
            tracing::error!(error = %e, "git http-backend failed");
            (e.response(), who)
        }
    }
}

/// What `git http-backend` is told about one request (CGI variables).
struct Cgi {
    /// Whether the key may push (otherwise git is told to refuse receive-pack too).
    manage: bool,
    method: String,
    path_info: String,
    query: String,
    content_type: String,
    content_length: Option<u64>,
    encoding: String,
    protocol: String,
    owner: String,
}

/// How a git request failed before its answer started.
enum CgiError {
    Spawn(std::io::Error),
    TooLarge,
    Headers(&'static str),
    Timeout,
}

impl std::fmt::Display for CgiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CgiError::Spawn(e) => write!(f, "cannot run git http-backend: {e}"),
            CgiError::TooLarge => f.write_str("the request body is too large"),
            CgiError::Headers(what) => write!(f, "git http-backend {what}"),
            CgiError::Timeout => f.write_str("git http-backend took too long"),
        }
    }
}

impl CgiError {
    fn response(&self) -> Response<Body> {
        match self {
            CgiError::TooLarge => api::ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                2015,
                format!(
                    "a git request body may be at most {} MiB",
                    MAX_PUSH / 1024 / 1024
                ),
            )
            .response(),
            CgiError::Timeout => plain(
                StatusCode::GATEWAY_TIMEOUT,
                "git http-backend took too long",
            ),
            _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed"),
        }
    }
}

/// Kills the git process group when the request ends early (client gone, timeout, the
/// emulator stopping), unless disarmed after git exited by itself.
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            stop_group(pid);
        }
    }
}

/// SIGTERM to the group (git removes its incoming quarantine on a signal), then SIGKILL
/// two seconds later for whatever is left.
fn stop_group(pid: i32) {
    // SAFETY: kill(2) on the process group that the child leads (process_group(0)).
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
    }
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: as above; a group that is gone makes this a no-op (ESRCH).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    });
}

/// Remove what killed pushes left in a bare repository: incoming quarantines and temporary
/// packs (git removes them itself unless it was killed hard).
pub(crate) fn sweep(repo: &std::path::Path) {
    let objects = repo.join("objects");
    for dir in [objects.clone(), objects.join("pack")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("tmp_objdir-incoming-") {
                let _ = std::fs::remove_dir_all(entry.path());
            } else if name.starts_with("tmp_pack_") || name.starts_with("tmp_idx_") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// How long a client may send nothing of its body, or read nothing of the answer.
const STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// How long one git request may run in all.
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The largest CGI header block accepted from git.
const MAX_CGI_HEADERS: usize = 64 * 1024;

/// Run `git http-backend` for one request, streaming the request body into it and its output
/// back (nothing is buffered whole). The child runs in its own process group, dies with the
/// emulator (`PR_SET_PDEATHSIG`), and is killed when the request ends early or takes longer
/// than [`GIT_TIMEOUT`]. After a push (`after_push`), a build of the new `master` starts before
/// the end of the answer, so it exists when `git push` returns.
async fn run_cgi(
    state: Arc<State>,
    cgi: Cgi,
    body: Incoming,
    after_push: Option<(String, String)>,
    permit: (
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::OwnedSemaphorePermit,
    ),
) -> Result<Response<Body>, CgiError> {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", state.data_dir.join("repos"))
        .env("PATH_INFO", &cgi.path_info)
        .env("QUERY_STRING", &cgi.query)
        .env("REQUEST_METHOD", &cgi.method)
        .env("CONTENT_TYPE", &cgi.content_type)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        // Without REMOTE_USER http-backend refuses receive-pack.
        .env("REMOTE_USER", &cgi.owner)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("HTTP_CONTENT_ENCODING", &cgi.encoding)
        .env("HTTP_GIT_PROTOCOL", &cgi.protocol)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // A pack may not inflate past the push cap, and a key that may not push cannot,
        // whatever path it reached git by.
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "receive.maxInputSize")
        .env("GIT_CONFIG_VALUE_0", MAX_PUSH.to_string())
        .env("GIT_CONFIG_KEY_1", "http.receivepack")
        .env(
            "GIT_CONFIG_VALUE_1",
            if cgi.manage { "true" } else { "false" },
        )
        .env("GIT_HTTP_MAX_REQUEST_BUFFER", "10m")
        .env("HOME", &state.data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    // A chunked body has no length: http-backend then reads to the end of its input.
    if let Some(length) = cgi.content_length {
        command.env("CONTENT_LENGTH", length.to_string());
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches only the child. Linux
    // only: elsewhere the process group and kill-on-drop are what end the child.
    #[cfg(target_os = "linux")]
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let repo_dir = state.data_dir.join("repos").join(
        cgi.path_info
            .trim_start_matches('/')
            .split('/')
            .take(2)
            .collect::<Vec<_>>()
            .join("/"),
    );
    let mut child = command.spawn().map_err(CgiError::Spawn)?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let guard = GroupKill(child.id());
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let deadline = tokio::time::Instant::now() + GIT_TIMEOUT;

    // The request body goes in as it arrives, counted against the cap.
    // A client that stalls, goes away or sends too much ends git at once (not when git next
    // writes).
    let writer = tokio::spawn(async move {
        let mut body = body;
        let mut total: u64 = 0;
        let outcome = loop {
            let frame = match tokio::time::timeout(STALL, body.frame()).await {
                Err(_) => break Err(()),
                Ok(None) => break Ok(()),
                Ok(Some(Err(_))) => break Err(()),
                Ok(Some(Ok(frame))) => frame,
            };
            if let Ok(data) = frame.into_data() {
                total += data.len() as u64;
                if total > MAX_PUSH {
                    break Err(());
                }
                if stdin.write_all(&data).await.is_err() {
                    break Ok(());
                }
            }
        };
        if outcome.is_err() {
            if let Some(pid) = pid {
                stop_group(pid);
            }
        } else {
            let _ = stdin.shutdown().await;
        }
        outcome
    });

    // The CGI headers first (bounded), then the rest streams.
    let mut head = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let split = loop {
        if let Some(split) = header_end(&head) {
            break split;
        }
        if head.len() > MAX_CGI_HEADERS {
            return Err(CgiError::Headers("gave headers that are too long"));
        }
        let read = tokio::time::timeout_at(deadline, stdout.read(&mut chunk)).await;
        match read {
            Err(_) => return Err(CgiError::Timeout),
            Ok(Ok(0)) => {
                // git ended without headers: a body over the cap makes the writer stop.
                if matches!(writer.await, Ok(Err(()))) {
                    return Err(CgiError::TooLarge);
                }
                return Err(CgiError::Headers("gave no headers"));
            }
            Ok(Ok(n)) => head.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(CgiError::Spawn(e)),
        }
    };
    let (end, gap) = split;
    let rest = Bytes::copy_from_slice(&head[end + gap..]);
    let builder = cgi_headers(&head[..end])?;

    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::spawn(async move {
        let _permit = permit;
        let mut guard = guard;
        let repo_dir = repo_dir;
        let send = |item: Result<Bytes, std::io::Error>| {
            let sender = sender.clone();
            async move {
                matches!(
                    tokio::time::timeout(STALL, sender.send(item)).await,
                    Ok(Ok(()))
                )
            }
        };
        if !rest.is_empty() && !send(Ok(rest)).await {
            sweep_later(repo_dir);
            return;
        }
        loop {
            match tokio::time::timeout_at(deadline, stdout.read(&mut chunk)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    // The client went away or stopped reading: the guard stops git.
                    if !send(Ok(Bytes::copy_from_slice(&chunk[..n]))).await {
                        sweep_later(repo_dir);
                        return;
                    }
                }
                Ok(Err(e)) => {
                    let _ = send(Err(e)).await;
                    sweep_later(repo_dir);
                    return;
                }
                Err(_) => {
                    let _ =
                        send(Err(std::io::Error::other("git http-backend took too long"))).await;
                    sweep_later(repo_dir);
                    return;
                }
            }
        }
        let wrote = writer.await;
        let finished = tokio::time::timeout_at(deadline, child.wait()).await;
        if matches!(finished, Ok(Ok(_))) {
            guard.0 = None;
        }
        if !matches!(wrote, Ok(Ok(()))) {
            sweep_later(repo_dir.clone());
        }
        if let (Some((owner, name)), Ok(Ok(status))) = (after_push, finished)
            && status.success()
        {
            let head = git2::Repository::open_bare(state.repo_path(&owner, &name))
                .ok()
                .and_then(|r| r.refname_to_id("refs/heads/master").ok());
            if let Some(head) = head
                && let Err(e) = api::pushed(&state, &owner, &name, &head.to_string())
            {
                tracing::error!(?e, "could not start the build after a push");
            }
        }
    });
    builder
        .body(BodyExt::boxed(ChannelBody(receiver)))
        .map_err(|_| CgiError::Headers("gave bad headers"))
}

/// Sweep a repository once a stopped git has had time to go.
fn sweep_later(repo: std::path::PathBuf) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(3));
        sweep(&repo);
    });
}

/// A response body fed by a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(hyper::body::Frame::data)))
    }
}

/// Where the CGI header block ends: its length and the blank line's length.
fn header_end(output: &[u8]) -> Option<(usize, usize)> {
    output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
}

/// CGI headers: `Status:` only when not 200.
fn cgi_headers(head: &[u8]) -> Result<hyper::http::response::Builder, CgiError> {
    let head = String::from_utf8_lossy(head);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(500);
            builder = builder.status(code);
        } else {
            builder = builder.header(key.trim(), value);
        }
    }
    Ok(builder)
}

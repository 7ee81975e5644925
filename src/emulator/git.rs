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
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use super::{Body, State, api, read_body};

/// The largest push accepted.
const MAX_PUSH: usize = 512 * 1024 * 1024;

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(format!("{message}\n"))))
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

fn valid_name(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub async fn handle(
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
    let push = tail == "git-receive-pack"
        || (tail == "info/refs" && query.contains("service=git-receive-pack"));

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
    let exists = state.tx(|tx| {
        tx.algorithm_by_name(owner, name)
            .map_err(|e| api::ApiError::internal(&e))
    });
    if !matches!(exists, Ok(Some(_))) || !state.repo_path(owner, name).exists() {
        return (plain(StatusCode::NOT_FOUND, "no such repository"), who);
    }

    let method = request.method().to_string();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header("content-type");
    let encoding = header("content-encoding");
    let protocol = header("git-protocol");
    let body = match read_body(request.into_body(), MAX_PUSH).await {
        Ok(body) => body,
        Err(e) => return (e.response(), who),
    };
    let output = match cgi(
        state,
        &method,
        owner,
        name,
        tail,
        &query,
        &content_type,
        &encoding,
        &protocol,
        body,
    )
    .await
    {
        Ok(output) => output,
        Err(e) => {
            tracing::error!(error = %e, "git http-backend failed");
            return (
                plain(StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed"),
                who,
            );
        }
    };
    let response = cgi_response(&output);
    if tail == "git-receive-pack" && response.status().is_success() {
        let head = git2::Repository::open_bare(state.repo_path(owner, name))
            .ok()
            .and_then(|r| r.refname_to_id("refs/heads/master").ok());
        if let Some(head) = head
            && let Err(e) = api::pushed(state, owner, name, &head.to_string())
        {
            tracing::error!(?e, "could not start the build after a push");
        }
    }
    (response, who)
}

#[allow(clippy::too_many_arguments)]
async fn cgi(
    state: &State,
    method: &str,
    owner: &str,
    name: &str,
    tail: &str,
    query: &str,
    content_type: &str,
    encoding: &str,
    protocol: &str,
    body: Bytes,
) -> std::io::Result<Vec<u8>> {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", state.data_dir.join("repos"))
        .env("PATH_INFO", format!("/{owner}/{name}.git/{tail}"))
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", method)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        // Without REMOTE_USER http-backend refuses receive-pack.
        .env("REMOTE_USER", owner)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("HTTP_GIT_PROTOCOL", protocol)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", &state.data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
        let _ = stdin.shutdown().await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    if !output.stderr.is_empty() {
        tracing::debug!(stderr = %String::from_utf8_lossy(&output.stderr), "git http-backend");
    }
    Ok(output.stdout)
}

/// CGI output: headers, a blank line, the body; `Status:` only when not 200.
fn cgi_response(output: &[u8]) -> Response<Body> {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "git http-backend gave no headers",
        );
    };
    let head = String::from_utf8_lossy(&output[..end]);
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
    builder
        .body(Full::new(Bytes::copy_from_slice(&output[end + gap..])))
        .unwrap_or_else(|_| {
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "git http-backend gave bad headers",
            )
        })
}

//! The console: server-rendered pages for people, on the emulator's own port. What the
//! platform's web UI showed, offline: owners → algorithms → versions and builds (with their
//! logs), secrets by name (never their values), the request log, scripted faults, and a form
//! that calls a version.
//!
//! Access is the admin token's, Jupyter-style: the emulator prints
//! `console: http://HOST:PORT/?token=…`; opening it sets an `HttpOnly`, `SameSite=Strict`
//! session cookie (derived from the token, so it dies with it) and redirects to `/console`,
//! which drops the token from the address bar. Without the cookie or token every page
//! answers 401 and shows nothing. The one write (the call form) is a POST that also needs the
//! request to come from the console itself (`Origin` / `Sec-Fetch-Site`).
//!
//! Everything shown came from users (labels, notes, build logs, algorithm output, paths in the
//! request log): it is made inert ([`algodeploy_platform::text::inert`]) and HTML-escaped, and the pages
//! are served with a Content-Security-Policy that runs no script at all.
//!
//! | path | shows |
//! |---|---|
//! | `/` | with `?token=`: signs in; else 401 |
//! | `/console` | owners, with links to the request log and faults |
//! | `/console/owners/{owner}` | the owner's algorithms |
//! | `/console/owners/{owner}/{name}` | details, settings, versions, builds, secrets, call form |
//! | `/console/owners/{owner}/{name}/builds/{build_id}` | one build and its log |
//! | `POST /console/owners/{owner}/{name}/call` | calls a version, shows the answer |
//! | `/console/requests`, `/console/faults` | the request log, scripted faults |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use super::api::ApiError;
use super::store::{Algorithm, Build, Version};
use super::{Body, State, full, read_body};

const COOKIE: &str = "algodeploy_console";

/// How many rows the request log page shows (newest first).
const REQUEST_ROWS: usize = 500;

/// The session cookie's value: derived from the admin token, never the token itself.
fn session(state: &State) -> String {
    algodeploy_platform::hex(&Sha256::digest(format!(
        "algodeploy console session\0{}",
        state.admin_token
    )))
}

/// Equal without an early exit on the first difference.
fn signed_in(state: &State, request: &Request<Incoming>) -> bool {
    let want = session(state);
    request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && crate::same(value, &want))
}

/// One query or form field, decoded.
fn field(encoded: &[u8], key: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Whether the browser says this POST came from a console page (a cross-site form would
/// otherwise carry the cookie in browsers without SameSite).
fn same_origin(state: &State, request: &Request<Incoming>) -> bool {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(site) = header("sec-fetch-site") {
        return site == "same-origin";
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin == format!("{}://{host}", state.scheme),
        // Not a browser (curl): no ambient credentials to abuse.
        (None, _) => true,
        _ => false,
    }
}

pub(crate) async fn handle(state: &Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path == "/" {
        if let Some(token) = field(query.as_bytes(), "token")
            && crate::same(&token, &state.admin_token)
        {
            return Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header("location", "/console")
                .header(
                    "set-cookie",
                    format!(
                        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                        session(state),
                        if state.scheme == "https" {
                            "; Secure"
                        } else {
                            ""
                        }
                    ),
                )
                .header("cache-control", "no-store")
                .header("referrer-policy", "no-referrer")
                .body(full(""))
                .expect("a valid response");
        }
        if signed_in(state, &request) {
            return redirect("/console");
        }
        return refused();
    }
    if !signed_in(state, &request) {
        return refused();
    }
    let segments: Vec<String> = path
        .trim_start_matches("/console")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method().clone();
    let answer = match (&method, segments.as_slice()) {
        (&Method::GET, []) => owners(state),
        (&Method::GET, ["requests"]) => Ok(requests(state)),
        (&Method::GET, ["faults"]) => faults(state),
        (&Method::GET, ["owners", owner]) => algorithms(state, owner),
        (&Method::GET, ["owners", owner, name]) => algorithm(state, owner, name),
        (&Method::GET, ["owners", owner, name, "builds", id]) => build(state, owner, name, id),
        (&Method::POST, ["owners", owner, name, "call"]) => {
            if !same_origin(state, &request) {
                return page(
                    StatusCode::FORBIDDEN,
                    "Refused",
                    "<p>The call form only accepts posts from the console's own pages.</p>",
                );
            }
            let (owner, name) = ((*owner).to_string(), (*name).to_string());
            match read_body(request.into_body(), 1024 * 1024).await {
                Ok(body) => call(state, &owner, &name, &body).await,
                Err(e) => Err(e),
            }
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, 1000, "no such page")),
    };
    answer.unwrap_or_else(|e| {
        page(
            e.status(),
            "Not here",
            &format!(
                "<p>{}</p><p><a href=\"/console\">Owners</a></p>",
                esc(e.message())
            ),
        )
    })
}

type Page = Result<Response<Body>, ApiError>;

fn redirect(to: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", to)
        .body(full(""))
        .expect("a valid response")
}

fn refused() -> Response<Body> {
    page(
        StatusCode::UNAUTHORIZED,
        "Sign in",
        "<p>The console needs the admin token: open the address the emulator printed \
         (<code>console: http://HOST:PORT/?token=…</code>), or add <code>?token=</code> with the \
         token given to <code>--admin-token</code> / <code>--admin-token-file</code>.</p>",
    )
}

/// HTML-escaped, after control and invisible characters are made visible.
fn esc(text: &str) -> String {
    let text = algodeploy_platform::text::inert(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment for a link (owner and algorithm names are identifiers, but a link never
/// trusts that).
fn seg(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}\
header{background:#24292f;color:#fff;padding:.6em 1.2em}header a{color:#fff;margin-right:1em}\
main{padding:1em 1.2em;max-width:72em}table{border-collapse:collapse;background:#fff;margin:.5em 0 1.2em}\
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#eaeef2}pre{background:#fff;border:1px solid #d0d7de;padding:.6em;overflow:auto;white-space:pre-wrap}\
.ok{color:#1a7f37}.bad{color:#cf222e}.muted{color:#57606a}textarea{width:100%;font:13px monospace}\
code{background:#eaeef2;padding:0 .2em}";

fn page(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · algodeploy emulator</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/console\">algodeploy emulator</a><a href=\"/console/requests\">Requests</a>\
         <a href=\"/console/faults\">Faults</a></header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        .header("x-frame-options", "DENY")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
        .body(full(html))
        .expect("a valid response")
}

fn ok(title: &str, body: &str) -> Page {
    Ok(page(StatusCode::OK, title, body))
}

fn owners(state: &State) -> Page {
    let (algorithms, keys) = state.tx(|tx| Ok((tx.all_algorithms()?, tx.keys()?)))?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        counts.entry(key.owner).or_default();
    }
    for owner in state.grants.values().map(|g| g.owner.clone()) {
        counts.entry(owner).or_default();
    }
    for algorithm in &algorithms {
        *counts.entry(algorithm.owner.clone()).or_default() += 1;
    }
    let mut body = String::from("<table><tr><th>Owner</th><th>Algorithms</th></tr>");
    for (owner, count) in &counts {
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/owners/{}\">{}</a></td><td>{count}</td></tr>",
            seg(owner),
            esc(owner)
        );
    }
    body.push_str("</table>");
    if counts.is_empty() {
        body.push_str("<p class=\"muted\">No owners yet: start the emulator with a key.</p>");
    }
    ok("Owners", &body)
}

fn algorithms(state: &State, owner: &str) -> Page {
    let list = state.tx(|tx| {
        let mut rows = Vec::new();
        for algorithm in tx.algorithms_of(owner)? {
            let published = tx.latest_published(&algorithm.id)?;
            let built = tx.latest_build(&algorithm.id)?;
            rows.push((algorithm, published, built));
        }
        Ok(rows)
    })?;
    let mut body = format!(
        "<p><a href=\"/console\">Owners</a> / {}</p><table><tr><th>Algorithm</th><th>Label</th>\
         <th>Published</th><th>Latest build</th></tr>",
        esc(owner)
    );
    for (algorithm, published, built) in &list {
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/owners/{}/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            seg(owner),
            seg(&algorithm.name),
            esc(&algorithm.name),
            esc(detail(algorithm, "label")),
            published
                .as_ref()
                .and_then(|v| v.semantic_version.as_deref())
                .map_or_else(|| "—".to_string(), esc),
            built.as_ref().map_or_else(|| "—".to_string(), status),
        );
    }
    body.push_str("</table>");
    if list.is_empty() {
        body.push_str("<p class=\"muted\">No algorithms.</p>");
    }
    ok(&format!("Algorithms of {owner}"), &body)
}

fn detail<'a>(algorithm: &'a Algorithm, key: &str) -> &'a str {
    algorithm
        .details
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

fn status(build: &Build) -> String {
    let class = match build.status.as_str() {
        "succeeded" => "ok",
        "failed" => "bad",
        _ => "muted",
    };
    format!("<span class=\"{class}\">{}</span>", esc(&build.status))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn find(state: &State, owner: &str, name: &str) -> Result<Algorithm, ApiError> {
    state
        .tx(|tx| Ok(tx.algorithm_by_name(owner, name)?))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                1001,
                format!("No algorithm {owner}/{name}"),
            )
        })
}

fn algorithm(state: &State, owner: &str, name: &str) -> Page {
    let algorithm = find(state, owner, name)?;
    let (versions, builds, secrets) = state.tx(|tx| {
        let versions = tx.versions(&algorithm.id, None, None, 0, 200)?;
        let mut dated = Vec::new();
        for version in versions {
            let built = tx.build_by_seq(version.build_seq)?;
            dated.push((version, built));
        }
        Ok((
            dated,
            tx.builds(&algorithm.id, 0, 200)?,
            tx.secrets(&algorithm.id)?,
        ))
    })?;
    let base = format!("/console/owners/{}/{}", seg(owner), seg(name));
    let mut body = format!(
        "<p><a href=\"/console\">Owners</a> / <a href=\"/console/owners/{}\">{}</a> / {}</p>",
        seg(owner),
        esc(owner),
        esc(name)
    );
    let _ = write!(
        body,
        "<table><tr><th>Label</th><td id=\"label\">{}</td></tr><tr><th>Tagline</th><td>{}</td></tr>\
         <tr><th>Pushed</th><td><code>{}</code></td></tr></table>",
        esc(detail(&algorithm, "label")),
        esc(detail(&algorithm, "tagline")),
        esc(algorithm.pushed_sha.as_deref().unwrap_or("—"))
    );
    let settings = serde_json::to_string_pretty(&algorithm.settings).unwrap_or_default();
    let _ = write!(
        body,
        "<details><summary>Settings</summary><pre>{}</pre></details>",
        esc(&settings)
    );

    body.push_str(
        "<h2>Versions</h2><table id=\"versions\"><tr><th>Version</th><th>Commit</th><th>Built</th>\
         <th>Callability</th><th>Release notes</th></tr>",
    );
    for (version, built) in &versions {
        row_version(&mut body, &base, version, built.as_ref());
    }
    body.push_str("</table>");
    if versions.is_empty() {
        body.push_str("<p class=\"muted\">No version built yet.</p>");
    }

    body.push_str(
        "<h2>Builds</h2><table id=\"builds\"><tr><th>Build</th><th>Commit</th><th>Status</th>\
         <th>Started</th><th>Finished</th></tr>",
    );
    for build in &builds {
        let _ = write!(
            body,
            "<tr><td><a href=\"{base}/builds/{}\">{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            seg(&build.build_id),
            esc(&build.build_id),
            esc(short(&build.commit_sha)),
            status(build),
            esc(&build.started_at),
            esc(build.finished_at.as_deref().unwrap_or("—"))
        );
    }
    body.push_str("</table>");

    body.push_str("<h2>Secrets</h2>");
    if secrets.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        body.push_str(
            "<table><tr><th>Name</th><th>Environment variable</th><th>Description</th></tr>",
        );
        for secret in &secrets {
            let _ = write!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&secret.short_name),
                esc(&secret.secret_key),
                esc(&secret.description)
            );
        }
        body.push_str("</table><p class=\"muted\">Values are never shown.</p>");
    }

    call_form(&mut body, &base, &versions, "");
    ok(&format!("{owner}/{name}"), &body)
}

fn row_version(body: &mut String, base: &str, version: &Version, built: Option<&Build>) {
    let when = built.map_or("—", |b| b.finished_at.as_deref().unwrap_or(&b.started_at));
    let build_link = built.map_or_else(
        || esc(short(&version.git_hash)),
        |b| {
            format!(
                "<a href=\"{base}/builds/{}\">{}</a>",
                seg(&b.build_id),
                esc(short(&version.git_hash))
            )
        },
    );
    let _ = write!(
        body,
        "<tr><td>{}</td><td><code>{build_link}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        version.semantic_version.as_deref().map_or_else(
            || "<span class=\"muted\">unpublished</span>".to_string(),
            esc
        ),
        esc(when),
        esc(version.callability.as_deref().unwrap_or("—")),
        esc(version.release_notes.as_deref().unwrap_or(""))
    );
}

/// The call form: a version (published ones by number, any build by its commit) and an input.
fn call_form(body: &mut String, base: &str, versions: &[(Version, Option<Build>)], input: &str) {
    if versions.is_empty() {
        return;
    }
    let _ = write!(
        body,
        "<h2>Call</h2><form method=\"post\" action=\"{base}/call\"><p><label>Version \
         <select name=\"version\">"
    );
    for (version, _) in versions {
        let (value, text) = match &version.semantic_version {
            Some(semver) => (
                semver.clone(),
                format!("{semver} ({})", short(&version.git_hash)),
            ),
            None => (
                version.git_hash.clone(),
                format!("{} (unpublished)", short(&version.git_hash)),
            ),
        };
        let _ = write!(
            body,
            "<option value=\"{}\">{}</option>",
            esc(&value),
            esc(&text)
        );
    }
    let _ = write!(
        body,
        "</select></label> <label>Input as <select name=\"content_type\">\
         <option value=\"application/json\">JSON</option><option value=\"text/plain\">text</option>\
         </select></label></p><p><textarea name=\"input\" rows=\"6\">{}</textarea></p>\
         <p><button type=\"submit\" id=\"call\">Call</button></p></form>",
        esc(input)
    );
}

async fn call(state: &Arc<State>, owner: &str, name: &str, form: &[u8]) -> Page {
    let algorithm = find(state, owner, name)?;
    let version = field(form, "version").unwrap_or_default();
    let input = field(form, "input").unwrap_or_default();
    let content_type = match field(form, "content_type").as_deref() {
        Some("text/plain") => "text/plain",
        _ => "application/json",
    };
    let started = std::time::Instant::now();
    let response = super::api::console_call(
        state,
        &algorithm.owner,
        &algorithm.name,
        Some(version.as_str()).filter(|v| !v.is_empty()),
        content_type,
        input.as_bytes(),
    )
    .await;
    let code = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let shown = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.into_owned());
    let failed = !code.is_success() || shown.contains("\"error\"");
    let base = format!("/console/owners/{}/{}", seg(owner), seg(name));
    let mut body = format!(
        "<p><a href=\"/console\">Owners</a> / <a href=\"/console/owners/{}\">{}</a> / \
         <a href=\"{base}\">{}</a></p><p>Called version <code>{}</code> with a {} input: \
         <span class=\"{}\">HTTP {}</span> in {:.0} ms.</p><pre id=\"answer\">{}</pre>",
        seg(owner),
        esc(owner),
        esc(name),
        esc(if version.is_empty() {
            "latest"
        } else {
            &version
        }),
        esc(content_type),
        if failed { "bad" } else { "ok" },
        code.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0,
        esc(&shown)
    );
    let versions = state.tx(|tx| {
        Ok(tx
            .versions(&algorithm.id, None, None, 0, 200)?
            .into_iter()
            .map(|v| (v, None))
            .collect::<Vec<_>>())
    })?;
    call_form(&mut body, &base, &versions, &input);
    ok(&format!("Call {owner}/{name}"), &body)
}

fn build(state: &State, owner: &str, name: &str, build_id: &str) -> Page {
    let algorithm = find(state, owner, name)?;
    let build = state
        .tx(|tx| Ok(tx.build(&algorithm.id, build_id)?))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                1000,
                format!("No build {build_id} of {owner}/{name}"),
            )
        })?;
    let base = format!("/console/owners/{}/{}", seg(owner), seg(name));
    let body = format!(
        "<p><a href=\"/console\">Owners</a> / <a href=\"/console/owners/{}\">{}</a> / \
         <a href=\"{base}\">{}</a> / build</p><table><tr><th>Build</th><td>{}</td></tr>\
         <tr><th>Commit</th><td><code>{}</code></td></tr><tr><th>Status</th><td>{}</td></tr>\
         <tr><th>Started</th><td>{}</td></tr><tr><th>Finished</th><td>{}</td></tr></table>\
         <h2>Log</h2><pre id=\"log\">{}</pre>",
        seg(owner),
        esc(owner),
        esc(name),
        esc(&build.build_id),
        esc(&build.commit_sha),
        status(&build),
        esc(&build.started_at),
        esc(build.finished_at.as_deref().unwrap_or("—")),
        esc(if build.logs.is_empty() {
            "(no output)"
        } else {
            &build.logs
        })
    );
    ok(&format!("Build of {owner}/{name}"), &body)
}

fn requests(state: &State) -> Response<Body> {
    let rows: Vec<_> = state
        .control
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .requests
        .iter()
        .rev()
        .take(REQUEST_ROWS)
        .cloned()
        .collect();
    let mut body = format!(
        "<p class=\"muted\">The newest {REQUEST_ROWS} requests to the API and the git host, newest \
         first (status 0: the connection was dropped). Also <code>GET /_emulator/requests</code>.</p>\
         <table id=\"requests\"><tr><th>Method</th><th>Path</th><th>Status</th><th>Owner</th><th>ms</th></tr>"
    );
    for r in &rows {
        let _ = write!(
            body,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&r.method),
            esc(&r.path),
            r.status,
            esc(r.owner.as_deref().unwrap_or("—")),
            r.duration_ms
        );
    }
    body.push_str("</table>");
    page(StatusCode::OK, "Requests", &body)
}

fn faults(state: &State) -> Page {
    let (faults, failures) = {
        let control = state
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (control.faults.clone(), control.build_failures.clone())
    };
    let mut body = String::from(
        "<p class=\"muted\">Scripted with <code>POST /_emulator/faults</code>; cleared with \
         <code>DELETE /_emulator/faults</code>.</p>",
    );
    if faults.is_empty() {
        body.push_str("<p>No faults scripted.</p>");
    } else {
        body.push_str("<table id=\"faults\"><tr><th>Method</th><th>Path</th><th>Times left</th><th>Answer</th></tr>");
        for f in &faults {
            let answer = serde_json::json!({
                "status": f.status, "delay_ms": f.delay_ms, "body": f.body,
                "drop_after_commit": f.drop_after_commit,
            });
            let _ = write!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&f.method),
                esc(&f.path),
                f.times,
                esc(&answer.to_string())
            );
        }
        body.push_str("</table>");
    }
    if !failures.is_empty() {
        body.push_str(
            "<h2>Failing builds</h2><table><tr><th>Algorithm</th><th>Next builds to fail</th></tr>",
        );
        for (id, count) in &failures {
            let name = state
                .tx(|tx| Ok(tx.algorithm_by_id(id)?))?
                .map_or_else(|| id.clone(), |a| format!("{}/{}", a.owner, a.name));
            let _ = write!(body, "<tr><td>{}</td><td>{count}</td></tr>", esc(&name));
        }
        body.push_str("</table>");
    }
    ok("Faults", &body)
}

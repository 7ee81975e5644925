//! The `/v1` algorithm-management API. Request parsing, rules and the JSON answers are written
//! from the spec (`../shared/api/openapispec.yml`) and NOTES.md section 12, not from the
//! client: this module shares no types with `src/api.rs`.
//!
//! Where the official Python client and the spec disagree, this follows what the clients need
//! to work unchanged (NOTES.md section 12): `source.scm.name` and `insights_enabled` are always
//! sent, every algorithm object has a top-level `id`, empty objects in bodies count as absent,
//! a missing algorithm answers `No such algorithm`, and `marker` / `next_link` are `null` (not
//! absent) on the last page.

use std::sync::Arc;

use base64::Engine;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::store::{Algorithm, Build, Tx, Version};
use super::{Body, Grant, State, json_response, read_body, start_build};

/// An API error in the spec's shape `{"error":{"id","code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "emulator internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 5001, "internal error")
    }

    pub fn not_found_algorithm() -> Self {
        // The official Python client's `exists()` recognises exactly this text.
        ApiError::new(StatusCode::NOT_FOUND, 1001, "No such algorithm")
    }

    fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, 2015, message)
    }

    fn forbidden() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            2001,
            "Caller is not authorized to perform the operation",
        )
    }

    pub fn response(&self) -> Response<Body> {
        json_response(
            self.status,
            &json!({"error": {"id": uuid::Uuid::new_v4().to_string(), "code": self.code, "message": self.message}}),
        )
    }
}

type Answer = Result<Response<Body>, ApiError>;

const LICENSES: &[&str] = &["apl", "apache2", "gpl3", "mit"];
const VISIBILITIES: &[&str] = &["open", "closed"];
const NETWORK: &[&str] = &["isolated", "full"];
const LANGUAGES: &[&str] = &[
    "java",
    "javascript",
    "python2-langpack",
    "python3-1",
    "r",
    "ruby",
    "rust",
    "scala",
];
const ENVIRONMENTS: &[&str] = &["cpu", "gpu"];
const CALLABILITY: &[&str] = &["public", "private"];

/// Handle one `/v1` request; also returns the key's owner for the request log.
pub async fn handle(
    state: &Arc<State>,
    request: Request<Incoming>,
) -> (Response<Body>, Option<String>) {
    let grant = match authenticate(state, &request) {
        Ok(grant) => grant,
        Err(e) => return (e.response(), None),
    };
    let owner = Some(grant.owner.clone());
    let base = base_url(state, &request);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let body = if method == Method::POST || method == Method::PUT {
        match read_body(request.into_body(), 1024 * 1024).await {
            Ok(body) => body,
            Err(e) => return (e.response(), owner),
        }
    } else {
        bytes::Bytes::new()
    };
    let call = Call {
        state,
        grant: &grant,
        base: &base,
        query: &query,
        body: &body,
    };
    let segments: Vec<&str> = path
        .trim_start_matches("/v1")
        .trim_matches('/')
        .split('/')
        .collect();
    let answer = route(&call, &method, &segments).await;
    (answer.unwrap_or_else(|e| e.response()), owner)
}

struct Call<'a> {
    state: &'a Arc<State>,
    grant: &'a Grant,
    base: &'a str,
    query: &'a str,
    body: &'a [u8],
}

fn authenticate(state: &State, request: &Request<Incoming>) -> Result<Grant, ApiError> {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    // Documented form `Simple <key>`; the official Python client sends the bare key.
    let key = header.strip_prefix("Simple ").unwrap_or(header).trim();
    if key.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            2002,
            "authorization required: send `Authorization: Simple <API key>`",
        ));
    }
    state
        .grants
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, 2002, "unknown or invalid API key"))
}

/// The root for links in answers: the request's `Host` when it is a plain host[:port], else
/// the listening address (a `Host` is client input, never echoed unchecked).
fn base_url(state: &State, request: &Request<Incoming>) -> String {
    let host = request
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .map_or_else(|| state.local.to_string(), str::to_owned);
    format!("{}://{host}", state.scheme)
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
}

/// Which algorithm a path names.
enum Target<'p> {
    Name(&'p str, &'p str),
    Id(&'p str),
}

async fn route(call: &Call<'_>, method: &Method, segments: &[&str]) -> Answer {
    use Target::{Id, Name};
    match segments {
        ["algorithms", owner] if *method == Method::POST && !is_uuid(owner) => create(call, owner),
        ["algorithms", id] if is_uuid(id) => match *method {
            Method::GET => get(call, &Id(id)),
            Method::PUT => update(call, &Id(id)),
            _ => Err(not_allowed()),
        },
        ["algorithms", id, rest @ ..] if is_uuid(id) => {
            algorithm_route(call, method, &Id(id), rest).await
        }
        ["algorithms", owner, name] => match *method {
            Method::GET => get(call, &Name(owner, name)),
            Method::PUT => update(call, &Name(owner, name)),
            Method::DELETE => delete(call, owner, name),
            _ => Err(not_allowed()),
        },
        ["algorithms", owner, name, rest @ ..] => {
            algorithm_route(call, method, &Name(owner, name), rest).await
        }
        ["users", owner, "algorithms"] if *method == Method::GET => {
            list_user_algorithms(call, owner)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            1000,
            format!("no such endpoint `/v1/{}`", segments.join("/")),
        )),
    }
}

async fn algorithm_route(
    call: &Call<'_>,
    method: &Method,
    target: &Target<'_>,
    rest: &[&str],
) -> Answer {
    match (method.clone(), rest) {
        (Method::GET, ["builds"]) => builds(call, target),
        (Method::GET, ["builds", id]) => build(call, target, id),
        (Method::GET, ["builds", id, "logs"]) => build_logs(call, target, id),
        (Method::GET, ["versions"]) => versions(call, target),
        (Method::GET, ["versions", hash]) => version(call, target, hash),
        (Method::POST, ["versions" | "version"]) => publish(call, target),
        (Method::POST, ["compile"]) => compile(call, target).await,
        (Method::GET, ["scm", "status"]) => {
            resolve(call, target, false)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"scm_connection_status": "active"}),
            ))
        }
        (
            _,
            ["builds" | "versions" | "version" | "compile"]
            | ["builds", _]
            | ["builds", _, "logs"]
            | ["versions", _]
            | ["scm", "status"],
        ) => Err(not_allowed()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            1000,
            "no such endpoint",
        )),
    }
}

fn not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        2015,
        "method not allowed on this endpoint",
    )
}

/// Look the algorithm up and check the key may see it (and write it, for `write`).
fn resolve(call: &Call<'_>, target: &Target<'_>, write: bool) -> Result<Algorithm, ApiError> {
    if let Target::Name(owner, _) = target
        && *owner != call.grant.owner
    {
        return Err(ApiError::forbidden());
    }
    let found = call.state.tx(|tx| {
        match target {
            Target::Name(owner, name) => tx.algorithm_by_name(owner, name),
            Target::Id(id) => tx.algorithm_by_id(id),
        }
        .map_err(|e| ApiError::internal(&e))
    })?;
    let algorithm = match (found, target) {
        (Some(a), _) => a,
        (None, Target::Name(..)) => return Err(ApiError::not_found_algorithm()),
        (None, Target::Id(_)) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                1009,
                "No such algorithm with that ID",
            ));
        }
    };
    if algorithm.owner != call.grant.owner || (write && !call.grant.manage) {
        return Err(ApiError::forbidden());
    }
    Ok(algorithm)
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            2013,
            format!("malformed JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            2013,
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// A sub-object of a body; an empty object counts as absent (the official client sends
/// `details: {}` and friends by default).
fn section<'v>(
    body: &'v Value,
    key: &str,
) -> Result<Option<&'v serde_json::Map<String, Value>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::invalid(format!("`{key}` must be an object"))),
    }
}

fn one_of(
    map: &serde_json::Map<String, Value>,
    key: &str,
    allowed: &[&str],
    code: u32,
) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("`{key}` must be one of {}, not {other}", allowed.join(", ")),
        )),
    }
}

fn text_field(map: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("`{key}` must be a string"))),
    }
}

/// Sample input and output are strings on the wire; anything else is kept as its JSON text.
fn sample(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

fn name_ok(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validate and normalise settings: `current` for an update, empty for a create.
fn merge_settings(
    current: &Value,
    given: Option<&serde_json::Map<String, Value>>,
    create: bool,
) -> Result<Value, ApiError> {
    let mut settings = current.as_object().cloned().unwrap_or_default();
    if let Some(given) = given {
        for (key, allowed, code) in [
            ("license", LICENSES, 2015),
            ("source_visibility", VISIBILITIES, 2015),
            ("network_access", NETWORK, 2015),
            ("algorithm_callability", CALLABILITY, 2015),
        ] {
            if let Some(value) = one_of(given, key, allowed, code)? {
                settings.insert(key.into(), value.into());
            }
        }
        match given.get("pipeline_enabled") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => {
                settings.insert("pipeline_enabled".into(), (*b).into());
            }
            Some(_) => return Err(ApiError::invalid("`pipeline_enabled` must be a boolean")),
        }
        match given.get("royalty_microcredits") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                settings.insert("royalty_microcredits".into(), n.clone().into());
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "`royalty_microcredits` must be an integer of 0 or more",
                ));
            }
        }
        let language = one_of(given, "language", LANGUAGES, 4001)?;
        let environment = one_of(given, "environment", ENVIRONMENTS, 2015)?;
        let package_set = text_field(given, "package_set")?.filter(|p| !p.is_empty());
        let algorithm_environment = text_field(given, "algorithm_environment")?;
        if let Some(id) = &algorithm_environment
            && !is_uuid(id)
        {
            return Err(ApiError::invalid(
                "`algorithm_environment` must be an environment id (a UUID)",
            ));
        }
        let runtimes = [
            language.is_some() || environment.is_some(),
            package_set.is_some(),
            algorithm_environment.is_some(),
        ];
        if runtimes.iter().filter(|r| **r).count() > 1 {
            return Err(ApiError::invalid(
                "give one runtime: `language` with `environment`, `package_set`, or `algorithm_environment`",
            ));
        }
        if runtimes.iter().any(|r| *r) {
            for key in [
                "language",
                "environment",
                "package_set",
                "algorithm_environment",
            ] {
                settings.remove(key);
            }
            if language.is_some() != environment.is_some() {
                return Err(ApiError::invalid(
                    "`language` and `environment` go together",
                ));
            }
            for (key, value) in [
                ("language", language),
                ("environment", environment),
                ("package_set", package_set),
                ("algorithm_environment", algorithm_environment),
            ] {
                if let Some(value) = value {
                    settings.insert(key.into(), value.into());
                }
            }
        }
    }
    if create {
        for key in [
            "license",
            "source_visibility",
            "network_access",
            "pipeline_enabled",
        ] {
            if !settings.contains_key(key) {
                return Err(ApiError::invalid(format!("`settings.{key}` is required")));
            }
        }
        if !["language", "package_set", "algorithm_environment"]
            .iter()
            .any(|k| settings.contains_key(*k))
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                4001,
                "settings name no runtime: give `language` with `environment`, `package_set`, or `algorithm_environment`",
            ));
        }
        // Callability starts private; it changes only by publishing.
        settings.insert("algorithm_callability".into(), "private".into());
        settings.entry("royalty_microcredits").or_insert(0.into());
    }
    if settings.get("source_visibility").and_then(Value::as_str) == Some("closed")
        && settings.get("license").and_then(Value::as_str) != Some("apl")
    {
        return Err(ApiError::invalid("closed source needs license `apl`"));
    }
    Ok(Value::Object(settings))
}

fn merge_details(
    current: &Value,
    given: Option<&serde_json::Map<String, Value>>,
    create: bool,
) -> Result<Value, ApiError> {
    let mut details = current.as_object().cloned().unwrap_or_default();
    if let Some(given) = given {
        // The spec requires `label` whenever a Details object is sent.
        match given.get("label") {
            Some(Value::String(label)) if !label.trim().is_empty() => {
                details.insert("label".into(), label.clone().into());
            }
            _ => {
                return Err(ApiError::invalid(
                    "`details.label` is required and must be a non-empty string",
                ));
            }
        }
        for key in ["summary", "tagline"] {
            match given.get(key) {
                None => {}
                Some(Value::Null) => {
                    details.remove(key);
                }
                Some(Value::String(s)) => {
                    details.insert(key.into(), s.clone().into());
                }
                Some(_) => {
                    return Err(ApiError::invalid(format!(
                        "`details.{key}` must be a string"
                    )));
                }
            }
        }
    } else if create {
        return Err(ApiError::invalid("`details.label` is required"));
    }
    Ok(Value::Object(details))
}

fn create(call: &Call<'_>, owner: &str) -> Answer {
    if owner != call.grant.owner || !call.grant.manage {
        return Err(ApiError::forbidden());
    }
    let body = parse_body(call.body)?;
    let name = match body.get("name") {
        Some(Value::String(name)) if name_ok(name) => name.clone(),
        Some(Value::String(name)) => {
            return Err(ApiError::invalid(format!(
                "invalid algorithm name `{name}`: a letter first, then letters, digits and `_`"
            )));
        }
        _ => return Err(ApiError::invalid("`name` is required")),
    };
    let details = merge_details(&json!({}), section(&body, "details")?, true)?;
    let settings = merge_settings(&json!({}), section(&body, "settings")?, true)?;
    let sample_input = section(&body, "version_info")?.and_then(|v| sample(v, "sample_input"));
    let algorithm = Algorithm {
        id: uuid::Uuid::new_v4().to_string(),
        owner: owner.to_string(),
        name: name.clone(),
        details,
        settings,
        sample_input,
        pushed_sha: None,
    };
    let repo = call.state.repo_path(owner, &name);
    call.state.tx(|tx| {
        if tx
            .algorithm_by_name(owner, &name)
            .map_err(|e| ApiError::internal(&e))?
            .is_some()
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                1002,
                format!("an algorithm named `{owner}/{name}` already exists"),
            ));
        }
        tx.insert_algorithm(&algorithm)
            .map_err(|e| ApiError::internal(&e))?;
        // The repository exists right after create, empty (README: why no template commit).
        if repo.exists() {
            std::fs::remove_dir_all(&repo).map_err(|e| ApiError::internal(&e))?;
        }
        let mut options = git2::RepositoryInitOptions::new();
        options.bare(true).initial_head("master").mkpath(true);
        git2::Repository::init_opts(&repo, &options).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                1008,
                format!("failed to create the repository: {}", e.message()),
            )
        })?;
        Ok(())
    })?;
    let object = call
        .state
        .tx(|tx| algorithm_json(tx, call.base, &algorithm))?;
    Ok(json_response(StatusCode::CREATED, &object))
}

fn get(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let object = call
        .state
        .tx(|tx| algorithm_json(tx, call.base, &algorithm))?;
    Ok(json_response(StatusCode::OK, &object))
}

fn update(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let body = parse_body(call.body)?;
    let details = section(&body, "details")?;
    let settings = section(&body, "settings")?;
    let version_info = section(&body, "version_info")?;
    let object = call.state.tx(|tx| {
        let mut current = tx
            .algorithm_by_id(&algorithm.id)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(ApiError::not_found_algorithm)?;
        current.details = merge_details(&current.details, details, false)?;
        current.settings = merge_settings(&current.settings, settings, false)?;
        if let Some(info) = version_info
            && info.contains_key("sample_input")
        {
            current.sample_input = sample(info, "sample_input");
        }
        tx.update_algorithm(&current)
            .map_err(|e| ApiError::internal(&e))?;
        algorithm_json(tx, call.base, &current)
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

fn delete(call: &Call<'_>, owner: &str, name: &str) -> Answer {
    let algorithm = resolve(call, &Target::Name(owner, name), true)?;
    call.state.tx(|tx| {
        tx.delete_algorithm(&algorithm.id)
            .map_err(|e| ApiError::internal(&e))
    })?;
    let _ = std::fs::remove_dir_all(call.state.repo_path(owner, name));
    Ok(super::empty_response(StatusCode::NO_CONTENT))
}

fn list_user_algorithms(call: &Call<'_>, owner: &str) -> Answer {
    if owner != call.grant.owner {
        return Err(ApiError::forbidden());
    }
    let list = call
        .state
        .tx(|tx| tx.algorithms_of(owner).map_err(|e| ApiError::internal(&e)))?;
    let items: Vec<Value> = list
        .iter()
        .map(|a| json!({"id": a.id, "algoname": a.name, "username": a.owner}))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(items)))
}

// ------------------------------------------------------------------------------------------
// Paging

struct Page {
    offset: usize,
    limit: usize,
}

fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn page(query: &str) -> Result<Page, ApiError> {
    let limit = match query_param(query, "limit") {
        None | Some("") => 50,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    5003,
                    format!("limit `{text}` is out of range (1 to 500)"),
                ));
            }
        },
    };
    let offset = match query_param(query, "marker") {
        None | Some("") => 0,
        Some(marker) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(marker)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|v| v["offset"].as_u64())
            // SQLite takes an i64 offset: anything larger would wrap to the first page.
            .filter(|n| i64::try_from(*n).is_ok())
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, 5002, "invalid marker"))?,
    };
    Ok(Page { offset, limit })
}

fn bool_param(query: &str, key: &str) -> Result<Option<bool>, ApiError> {
    match query_param(query, key) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(ApiError::invalid(format!(
            "`{key}` must be true or false, not `{v}`"
        ))),
    }
}

/// The envelope: `marker` and `next_link` are null on the last page. One extra row is read to
/// know whether there is a next page.
fn paged(
    call: &Call<'_>,
    path: &str,
    page: &Page,
    mut results: Vec<Value>,
    extra: &str,
) -> Response<Body> {
    let more = results.len() > page.limit;
    results.truncate(page.limit);
    let (marker, next_link) = if more {
        let marker = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"offset": page.offset + page.limit}).to_string());
        let link = format!(
            "{}/v1/{path}?limit={}&marker={marker}{extra}",
            call.base, page.limit
        );
        (Value::from(marker), Value::from(link))
    } else {
        (Value::Null, Value::Null)
    };
    json_response(
        StatusCode::OK,
        &json!({"marker": marker, "next_link": next_link, "results": results}),
    )
}

fn target_path(algorithm: &Algorithm) -> String {
    format!("algorithms/{}/{}", algorithm.owner, algorithm.name)
}

fn builds(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let page = page(call.query)?;
    let results = call.state.tx(|tx| {
        let list = tx
            .builds(&algorithm.id, page.offset, page.limit + 1)
            .map_err(|e| ApiError::internal(&e))?;
        list.iter()
            .map(|b| build_json(tx, b))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(paged(
        call,
        &format!("{}/builds", target_path(&algorithm)),
        &page,
        results,
        "",
    ))
}

fn find_build(call: &Call<'_>, algorithm: &Algorithm, id: &str) -> Result<Build, ApiError> {
    call.state
        .tx(|tx| {
            tx.build(&algorithm.id, id)
                .map_err(|e| ApiError::internal(&e))
        })?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                1010,
                format!("build `{id}` not found"),
            )
        })
}

fn build(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let build = find_build(call, &algorithm, id)?;
    let object = call.state.tx(|tx| build_json(tx, &build))?;
    Ok(json_response(StatusCode::OK, &object))
}

fn build_logs(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let build = find_build(call, &algorithm, id)?;
    if build.status == "in-progress" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            1011,
            "build logs are not available until the build finishes",
        ));
    }
    Ok(json_response(StatusCode::OK, &json!({"logs": build.logs})))
}

fn versions(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let page = page(call.query)?;
    let published = bool_param(call.query, "published")?;
    let callable = bool_param(call.query, "callable")?;
    let results = call.state.tx(|tx| {
        let current = tx
            .algorithm_by_id(&algorithm.id)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(ApiError::not_found_algorithm)?;
        let list = tx
            .versions(
                &algorithm.id,
                published,
                callable,
                page.offset,
                page.limit + 1,
            )
            .map_err(|e| ApiError::internal(&e))?;
        list.iter()
            .map(|v| version_json(tx, call.base, &current, v))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut extra = String::new();
    for (key, value) in [("published", published), ("callable", callable)] {
        if let Some(value) = value {
            extra.push_str(&format!("&{key}={value}"));
        }
    }
    Ok(paged(
        call,
        &format!("{}/versions", target_path(&algorithm)),
        &page,
        results,
        &extra,
    ))
}

fn version(call: &Call<'_>, target: &Target<'_>, hash: &str) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let object = call.state.tx(|tx| {
        let version = tx
            .version(&algorithm.id, hash)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    1014,
                    format!("version `{hash}` does not exist"),
                )
            })?;
        version_json(tx, call.base, &algorithm, &version)
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

fn next_version(latest: Option<&str>, bump: &str) -> String {
    let (major, minor, patch) = latest
        .and_then(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
            Some((parts.next()??, parts.next()??, parts.next()??))
        })
        .unwrap_or((0, 0, 0));
    match bump {
        "major" => format!("{}.0.0", major + 1),
        "revision" => format!("{major}.{minor}.{}", patch + 1),
        _ => format!("{major}.{}.0", minor + 1),
    }
}

fn publish(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let body = parse_body(call.body)?;
    let info = section(&body, "version_info")?.cloned().unwrap_or_default();
    let settings = section(&body, "settings")?.cloned();
    let details = section(&body, "details")?.cloned();
    // `version_type` is the spec's name; `type` is the older dev-center page's.
    let bump = match info.get("version_type").or_else(|| info.get("type")) {
        None | Some(Value::Null) => "minor".to_string(),
        Some(Value::String(s)) if ["major", "minor", "revision"].contains(&s.as_str()) => s.clone(),
        Some(Value::String(s)) if s == "default" => "minor".to_string(),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "`version_info.version_type` must be major, minor or revision, not {other}"
            )));
        }
    };
    let git_hash = text_field(&info, "git_hash")?;
    let declared = text_field(&info, "semantic_version")?;
    let callability = match &settings {
        Some(s) => one_of(s, "algorithm_callability", CALLABILITY, 2015)?,
        None => None,
    };
    let object = call.state.tx(|tx| {
        let mut current = tx.algorithm_by_id(&algorithm.id).map_err(|e| ApiError::internal(&e))?.ok_or_else(ApiError::not_found_algorithm)?;
        let mut version = match &git_hash {
            Some(hash) => tx
                .version(&current.id, hash)
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| ApiError::invalid(format!("commit `{hash}` has no successful build to publish")))?,
            None => tx
                .latest_built_version(&current.id)
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| ApiError::invalid("the algorithm has no successful build to publish"))?,
        };
        if let Some(published) = &version.semantic_version {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                1007,
                format!("version already published (as {published} from commit {}), please compile", version.git_hash),
            ));
        }
        let previous = tx.latest_published(&current.id).map_err(|e| ApiError::internal(&e))?;
        let next = next_version(previous.as_ref().and_then(|p| p.semantic_version.as_deref()), &bump);
        if let Some(declared) = &declared
            && *declared != next
        {
            return Err(ApiError::invalid(format!(
                "semantic_version {declared} does not match the {bump} bump, which gives {next} (latest published: {})",
                previous.as_ref().and_then(|p| p.semantic_version.clone()).unwrap_or_else(|| "none".into())
            )));
        }
        let previous_callability = previous.as_ref().and_then(|p| p.callability.clone());
        let callability = callability
            .clone()
            .or_else(|| previous_callability.clone())
            .unwrap_or_else(|| current.settings["algorithm_callability"].as_str().unwrap_or("private").to_string());
        if let Some(before) = &previous_callability
            && *before != callability
            && bump != "major"
        {
            return Err(ApiError::invalid(format!(
                "changing callability from {before} to {callability} needs a major version, not {bump}"
            )));
        }
        if let Some(s) = &settings {
            let mut merged = s.clone();
            merged.remove("algorithm_callability");
            current.settings = merge_settings(&current.settings, Some(&merged), false)?;
        }
        current.settings["algorithm_callability"] = callability.clone().into();
        if let Some(d) = &details {
            current.details = merge_details(&current.details, Some(d), false)?;
        }
        tx.update_algorithm(&current).map_err(|e| ApiError::internal(&e))?;
        version.semantic_version = Some(next);
        version.callability = Some(callability);
        version.release_notes = text_field(&info, "release_notes")?;
        if info.contains_key("sample_input") {
            version.sample_input = sample(&info, "sample_input");
        }
        version.sample_output = sample(&info, "sample_output");
        tx.publish(&version).map_err(|e| ApiError::internal(&e))?;
        let stored = tx.version(&current.id, &version.git_hash).map_err(|e| ApiError::internal(&e))?.ok_or_else(|| ApiError::internal(&"published version vanished"))?;
        version_json(tx, call.base, &current, &stored)
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

async fn compile(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let repo = call.state.repo_path(&algorithm.owner, &algorithm.name);
    let head = git2::Repository::open_bare(&repo)
        .ok()
        .and_then(|r| r.refname_to_id("refs/heads/master").ok())
        .map(|oid| oid.to_string())
        .ok_or_else(|| ApiError::invalid("`master` has no commits yet: push first"))?;
    // A compile's build runs in the request, not in the background.
    let build = super::insert_build(call.state, &algorithm.id, &head)?;
    let finished = super::run_build(call.state.clone(), build.seq)
        .await
        .ok_or_else(|| ApiError::internal(&"the build vanished"))?;
    let object = call.state.tx(|tx| {
        let current = tx
            .algorithm_by_id(&algorithm.id)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(ApiError::not_found_algorithm)?;
        match tx
            .version(&current.id, &head)
            .map_err(|e| ApiError::internal(&e))?
        {
            Some(version) if finished.status == "succeeded" => {
                version_json(tx, call.base, &current, &version)
            }
            _ => {
                let mut object = algorithm_json(tx, call.base, &current)?;
                object["compilation"] = json!({"successful": false, "output": finished.logs});
                Ok(object)
            }
        }
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

/// Called by the git host after a push moved `master`.
pub fn pushed(state: &Arc<State>, owner: &str, name: &str, commit: &str) -> Result<(), ApiError> {
    let algorithm = state.tx(|tx| {
        let mut algorithm = tx
            .algorithm_by_name(owner, name)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(ApiError::not_found_algorithm)?;
        let moved = algorithm.pushed_sha.as_deref() != Some(commit);
        algorithm.pushed_sha = Some(commit.to_string());
        tx.update_algorithm(&algorithm)
            .map_err(|e| ApiError::internal(&e))?;
        Ok(moved.then_some(algorithm))
    })?;
    if let Some(algorithm) = algorithm {
        start_build(state, &algorithm.id, commit)?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// JSON answers

fn scm() -> Value {
    json!({"id": "internal", "provider": "internal", "name": "internal", "default": true, "enabled": true})
}

fn settings_json(settings: &Value) -> Value {
    let mut settings = settings.clone();
    settings["insights_enabled"] = false.into();
    settings
}

fn build_json(tx: &Tx<'_>, build: &Build) -> Result<Value, ApiError> {
    let mut object = json!({
        "build_id": build.build_id,
        "status": build.status,
        "commit_sha": build.commit_sha,
        "started_at": build.started_at,
        "resource_type": "algorithm_build",
    });
    if let Some(finished) = &build.finished_at {
        object["finished_at"] = finished.clone().into();
    }
    if let Some(version) = tx
        .version(&build.algorithm_id, &build.commit_sha)
        .map_err(|e| ApiError::internal(&e))?
        && version.build_seq == build.seq
        && let Some(semantic) = version.semantic_version
    {
        object["version_info"] = json!({"semantic_version": semantic});
    }
    Ok(object)
}

fn version_json(
    tx: &Tx<'_>,
    base: &str,
    algorithm: &Algorithm,
    version: &Version,
) -> Result<Value, ApiError> {
    let build = tx
        .build_by_seq(version.build_seq)
        .map_err(|e| ApiError::internal(&e))?;
    let mut info = json!({"git_hash": version.git_hash, "version_uuid": version.version_uuid, "insights_enabled": false});
    for (key, value) in [
        ("semantic_version", &version.semantic_version),
        ("release_notes", &version.release_notes),
        ("sample_input", &version.sample_input),
        ("sample_output", &version.sample_output),
    ] {
        if let Some(value) = value {
            info[key] = value.clone().into();
        }
    }
    let mut settings = settings_json(&algorithm.settings);
    if let Some(callability) = &version.callability {
        settings["algorithm_callability"] = callability.clone().into();
    }
    let mut object = json!({
        "id": algorithm.id,
        "name": algorithm.name,
        "details": algorithm.details,
        "settings": settings,
        "source": {"scm": scm()},
        "version_info": info,
        "self_link": format!("{base}/v1/algorithms/{}/{}/versions/{}", algorithm.owner, algorithm.name, version.git_hash),
        "resource_type": "algorithm",
    });
    if let Some(build) = build {
        object["compilation"] =
            json!({"successful": build.status == "succeeded", "output": build.logs});
        object["build"] = build_json(tx, &build)?;
    }
    Ok(object)
}

/// The algorithm's latest state: before any build, what create returned; after, the latest
/// build's version fields too.
fn algorithm_json(tx: &Tx<'_>, base: &str, algorithm: &Algorithm) -> Result<Value, ApiError> {
    let latest = tx
        .latest_build(&algorithm.id)
        .map_err(|e| ApiError::internal(&e))?;
    let version = match &latest {
        Some(build) => tx
            .version(&algorithm.id, &build.commit_sha)
            .map_err(|e| ApiError::internal(&e))?,
        None => None,
    };
    if let (Some(build), Some(version)) = (&latest, &version)
        && version.build_seq == build.seq
    {
        let mut object = version_json(tx, base, algorithm, version)?;
        object["settings"] = settings_json(&algorithm.settings);
        return Ok(object);
    }
    let mut object = json!({
        "id": algorithm.id,
        "name": algorithm.name,
        "details": algorithm.details,
        "settings": settings_json(&algorithm.settings),
        "source": {"scm": scm()},
        "resource_type": "algorithm",
    });
    if let Some(sample) = &algorithm.sample_input {
        object["version_info"] = json!({"sample_input": sample, "insights_enabled": false});
    }
    if let Some(build) = &latest {
        let mut info = json!({"git_hash": build.commit_sha, "insights_enabled": false});
        if let Some(sample) = &algorithm.sample_input {
            info["sample_input"] = sample.clone().into();
        }
        object["version_info"] = info;
        object["build"] = build_json(tx, build)?;
        object["compilation"] =
            json!({"successful": build.status == "succeeded", "output": build.logs});
        object["self_link"] = format!(
            "{base}/v1/algorithms/{}/{}/versions/{}",
            algorithm.owner, algorithm.name, build.commit_sha
        )
        .into();
    }
    Ok(object)
}

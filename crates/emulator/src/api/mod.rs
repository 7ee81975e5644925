//! The `/v1` algorithm-management API. Request parsing, rules and the JSON answers are written
//! from the spec (`docs/api/openapispec.yml`) and `docs/api/decisions.md`, not from the
//! client: this module shares no types with `src/api/`.
//!
//! - this file: the error shape, authentication, routing, and the algorithm's own endpoints
//!   (create, get, update, delete, list);
//! - `settings.rs`: the settings rules and merging request bodies;
//! - `versions.rs`: paging, builds, versions, publishing and compile;
//! - `answers.rs`: the JSON objects answered.
//!
//! Where the official Python client and the spec disagree, this follows what the clients need
//! to work unchanged (`docs/api/decisions.md`): `source.scm.name` and `insights_enabled` are always
//! sent, every algorithm object has a top-level `id`, empty objects in bodies count as absent,
//! a missing algorithm answers `No such algorithm`, and `marker` / `next_link` are `null` (not
//! absent) on the last page.

use std::sync::Arc;

use base64::Engine;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::store::{Algorithm, Build, Tx, Version};
use super::{Body, Grant, State, json_response, read_body};

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

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn response(&self) -> Response<Body> {
        json_response(
            self.status,
            &json!({"error": {"id": uuid::Uuid::new_v4().to_string(), "code": self.code, "message": self.message}}),
        )
    }
}

pub(super) type Answer = Result<Response<Body>, ApiError>;

/// A database failure is a 500 for the request (logged, never shown to the client).
impl From<rusqlite::Error> for ApiError {
    fn from(error: rusqlite::Error) -> ApiError {
        ApiError::internal(&error)
    }
}

/// A file-system failure is a 500 for the request (logged, never shown to the client).
impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> ApiError {
        ApiError::internal(&error)
    }
}

mod answers;
mod call;
mod secrets;
mod settings;
mod versions;

use answers::*;
use call::{call_algorithm, language_environments, languages};
use settings::*;
pub(crate) use versions::pushed;
use versions::*;

/// Handle one `/v1` request; also returns the key's owner for the request log.
pub(crate) async fn handle(
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
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // A call's input may be larger than a management request; calls hold their share of the
    // memory budget (by Content-Length, the cap when it is not given) until they are answered.
    let is_call = path.starts_with("/v1/algo/");
    let limit = if is_call {
        16 * 1024 * 1024
    } else {
        1024 * 1024
    };
    let _memory = if is_call && method == Method::POST {
        let declared = request
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(limit)
            .min(limit);
        let kib = u32::try_from(declared / 1024 + 1).unwrap_or(u32::MAX);
        // The caller's half of the budget first: one key cannot hold all of it.
        let mine = state
            .share(&grant.owner)
            .call_memory
            .acquire_many_owned(kib)
            .await
            .expect("the budget stays open");
        Some((
            mine,
            state
                .call_memory
                .clone()
                .acquire_many_owned(kib)
                .await
                .expect("the budget stays open"),
        ))
    } else {
        None
    };
    let body = if method == Method::POST || method == Method::PUT {
        match read_body(request.into_body(), limit).await {
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
        content_type: &content_type,
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

/// A call made from the console's form: the admin acts as the algorithm's owner (so
/// unpublished builds can be called too), with the default timeout.
pub(crate) async fn console_call(
    state: &Arc<State>,
    owner: &str,
    name: &str,
    version: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response<Body> {
    let grant = Grant {
        owner: owner.to_string(),
        manage: false,
    };
    let base = format!("{}://{}", state.scheme, state.local);
    let call = Call {
        state,
        grant: &grant,
        base: &base,
        query: "",
        content_type,
        body,
    };
    call_algorithm(&call, owner, name, version)
        .await
        .unwrap_or_else(|e| e.response())
}

pub(super) struct Call<'a> {
    pub(super) state: &'a Arc<State>,
    pub(super) grant: &'a Grant,
    pub(super) base: &'a str,
    pub(super) query: &'a str,
    pub(super) content_type: &'a str,
    pub(super) body: &'a [u8],
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

/// A UUID in its hyphenated form (`8-4-4-4-12` hex digits), the only form ids take.
fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

/// Which algorithm a path names.
pub(super) enum Target<'p> {
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
        ["secret-provider"] if *method == Method::GET => secrets::providers(),
        ["users", owner, "algorithms"] if *method == Method::GET => {
            list_user_algorithms(call, owner)
        }
        ["algo", owner, name] if *method == Method::POST => {
            call_algorithm(call, owner, name, None).await
        }
        ["algo", owner, name, version] if *method == Method::POST => {
            call_algorithm(call, owner, name, Some(version)).await
        }
        ["algorithm-environments", "edge", "languages"] if *method == Method::GET => languages(),
        [
            "algorithm-environments",
            "edge",
            "languages",
            language,
            "environments",
        ] if *method == Method::GET => language_environments(language),
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
        (Method::GET, ["secrets"]) => secrets::list(call, target),
        (Method::POST, ["secrets"]) => secrets::create(call, target),
        (Method::PUT, ["secrets", id]) => secrets::edit(call, target, id),
        (Method::DELETE, ["secrets", id]) => secrets::delete(call, target, id),
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
            | ["scm", "status"]
            | ["secrets"]
            | ["secrets", _],
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
        Ok(match target {
            Target::Name(owner, name) => tx.algorithm_by_name(owner, name)?,
            Target::Id(id) => tx.algorithm_by_id(id)?,
        })
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
    call.state
        .tx(|tx| {
            if tx.algorithm_by_name(owner, &name)?.is_some() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    1002,
                    format!("an algorithm named `{owner}/{name}` already exists"),
                ));
            }
            tx.insert_algorithm(&algorithm)?;
            // The repository exists right after create, with the platform's starter template.
            if repo.exists() {
                std::fs::remove_dir_all(&repo)?;
            }
            let mut options = git2::RepositoryInitOptions::new();
            options.bare(true).initial_head("master").mkpath(true);
            let failed = |e: git2::Error| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    1008,
                    format!("failed to create the repository: {}", e.message()),
                )
            };
            let repository = git2::Repository::init_opts(&repo, &options).map_err(failed)?;
            let template = crate::builds::template(&algorithm);
            crate::builds::commit_template(&repository, &template).map_err(failed)
        })
        .and_then(|commit| pushed(call.state, owner, &name, &commit.to_string()))?;
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
            .algorithm_by_id(&algorithm.id)?
            .ok_or_else(ApiError::not_found_algorithm)?;
        current.details = merge_details(&current.details, details, false)?;
        current.settings = merge_settings(&current.settings, settings, false)?;
        if let Some(info) = version_info
            && info.contains_key("sample_input")
        {
            current.sample_input = sample(info, "sample_input");
        }
        tx.update_algorithm(&current)?;
        algorithm_json(tx, call.base, &current)
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

fn delete(call: &Call<'_>, owner: &str, name: &str) -> Answer {
    let algorithm = resolve(call, &Target::Name(owner, name), true)?;
    call.state
        .tx(|tx| Ok(tx.delete_algorithm(&algorithm.id)?))?;
    let _ = std::fs::remove_dir_all(call.state.repo_path(owner, name));
    call.state.runtime.forget(&algorithm.id);
    Ok(super::empty_response(StatusCode::NO_CONTENT))
}

fn list_user_algorithms(call: &Call<'_>, owner: &str) -> Answer {
    if owner != call.grant.owner {
        return Err(ApiError::forbidden());
    }
    let list = call.state.tx(|tx| Ok(tx.algorithms_of(owner)?))?;
    let items: Vec<Value> = list
        .iter()
        .map(|a| json!({"id": a.id, "algoname": a.name, "username": a.owner}))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(items)))
}

//! `/_emulator/...`: what the real Algorithmia does not have. Everything but `health` needs
//! `Authorization: Bearer <admin token>` (printed at start, or set with `--admin-token`).
//!
//! | method and path | does |
//! |---|---|
//! | `GET /_emulator/health` | `{"status":"ok"}`, no token needed |
//! | `GET /_emulator/requests` | the request log: `[{method, path, status, owner, duration_ms}]` (status 0: dropped) |
//! | `DELETE /_emulator/requests` | clears the log |
//! | `POST /_emulator/faults` | scripts a fault for the next `times` requests matching `method` and `path` (a trailing `*` matches any rest): `{method, path, times, status?, delay_ms?, body?: "malformed-json" \| "html", drop_after_commit?}` |
//! | `GET /_emulator/faults`, `DELETE /_emulator/faults` | lists or clears scripted faults |
//! | `POST /_emulator/algorithms/{owner}/{name}/fail-next-build` | the next build of that algorithm fails |
//!
//! A fault with `status` or `body` answers instead of the API, before any state changes; with
//! `drop_after_commit` the API handles the request (and commits), then the connection is closed
//! without an answer; `delay_ms` waits first and combines with either.

use std::collections::HashMap;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Body, State, api::ApiError, json_response, read_body};

#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub owner: Option<String>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub method: String,
    pub path: String,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub body: Option<FaultBody>,
    #[serde(default)]
    pub drop_after_commit: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultBody {
    MalformedJson,
    Html,
    /// `{}`: valid JSON without any of the fields the spec promises.
    EmptyObject,
    /// A valid JSON string of 9 MiB.
    Huge,
}

impl Fault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && match self.path.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == self.path,
            }
    }

    /// The answer that replaces the API's, if this fault has one.
    pub fn response(&self) -> Option<Response<Body>> {
        let status = self.status.and_then(|s| StatusCode::from_u16(s).ok());
        match (self.body, status) {
            (Some(FaultBody::MalformedJson), status) => Some(raw(
                status.unwrap_or(StatusCode::OK),
                "application/json",
                "{\"error\": {\"code\": 5001, \"message\": \"trunc",
            )),
            (Some(FaultBody::EmptyObject), status) => Some(raw(
                status.unwrap_or(StatusCode::OK),
                "application/json",
                "{}",
            )),
            (Some(FaultBody::Huge), status) => Some(
                Response::builder()
                    .status(status.unwrap_or(StatusCode::OK))
                    .header("content-type", "application/json")
                    .body(super::full(format!("\"{}\"", "x".repeat(9 * 1024 * 1024))))
                    .expect("a valid response"),
            ),
            (Some(FaultBody::Html), status) => Some(raw(
                status.unwrap_or(StatusCode::BAD_GATEWAY),
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
            )),
            (None, Some(status)) => {
                let mut response = ApiError::new(
                    status,
                    5001,
                    format!("injected fault: status {}", status.as_u16()),
                )
                .response();
                if status == StatusCode::SERVICE_UNAVAILABLE
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    response
                        .headers_mut()
                        .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
                }
                Some(response)
            }
            (None, None) => None,
        }
    }
}

fn raw(status: StatusCode, content_type: &str, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(super::full(Bytes::from_static(body.as_bytes())))
        .expect("a valid response")
}

#[derive(Debug, Default)]
pub struct Control {
    pub requests: Vec<RequestRecord>,
    pub(super) faults: Vec<Fault>,
    /// Algorithm id → builds still to fail.
    pub(super) build_failures: HashMap<String, u32>,
}

impl Control {
    /// The first scripted fault matching the request, used up by one.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.times > 0 && f.matches(method, path))?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let taken = fault.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }

    pub fn take_build_failure(&mut self, algorithm_id: &str) -> bool {
        match self.build_failures.get_mut(algorithm_id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

pub(crate) async fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    if path == "/_emulator/health" {
        return json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}));
    }
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| crate::same(token, &state.admin_token));
    if !authorized {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            2002,
            "the /_emulator endpoints need `Authorization: Bearer <admin token>`",
        )
        .response();
    }
    let segments: Vec<&str> = path.trim_start_matches("/_emulator/").split('/').collect();
    let lock = || {
        state
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    match (method, segments.as_slice()) {
        (Method::GET, ["requests"]) => {
            json_response(StatusCode::OK, &serde_json::json!(lock().requests))
        }
        (Method::DELETE, ["requests"]) => {
            lock().requests.clear();
            super::empty_response(StatusCode::NO_CONTENT)
        }
        (Method::GET, ["faults"]) => {
            json_response(StatusCode::OK, &serde_json::json!(lock().faults))
        }
        (Method::DELETE, ["faults"]) => {
            let mut control = lock();
            control.faults.clear();
            control.build_failures.clear();
            super::empty_response(StatusCode::NO_CONTENT)
        }
        (Method::POST, ["faults"]) => {
            let body = match read_body(request.into_body(), 64 * 1024).await {
                Ok(body) => body,
                Err(e) => return e.response(),
            };
            match serde_json::from_slice::<Fault>(&body) {
                Ok(fault) => {
                    lock().faults.push(fault.clone());
                    json_response(StatusCode::CREATED, &serde_json::json!(fault))
                }
                Err(e) => ApiError::new(StatusCode::BAD_REQUEST, 2015, format!("bad fault: {e}"))
                    .response(),
            }
        }
        (Method::POST, ["algorithms", owner, name, "fail-next-build"]) => {
            let found = state.tx(|tx| Ok(tx.algorithm_by_name(owner, name)?));
            match found {
                Ok(Some(algorithm)) => {
                    *lock().build_failures.entry(algorithm.id).or_default() += 1;
                    super::empty_response(StatusCode::NO_CONTENT)
                }
                Ok(None) => ApiError::not_found_algorithm().response(),
                Err(e) => e.response(),
            }
        }
        _ => ApiError::new(
            StatusCode::NOT_FOUND,
            1000,
            format!("no such emulator endpoint `{path}`"),
        )
        .response(),
    }
}

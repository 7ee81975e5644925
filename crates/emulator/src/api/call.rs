//! The call API (`POST /v1/algo/{owner}/{name}[/{version}]`, the spec's `callAlgorithm`), as
//! the official clients use it: the version is a published semver (`1.2.3`, or `1.2.*` / `1.*`
//! for the newest match), a build's git hash (the owner's, before publishing, as on the
//! platform), or absent (the newest published version). Input by Content-Type: JSON, text
//! (`text/plain`, `application/text`) or bytes (`application/octet-stream`). Answers:
//! `{"result", "metadata": {"content_type", "duration"[, "stdout"]}}`; an algorithm's
//! exception is a 200 with `{"error": {"message", "stacktrace", "error_type"}}`, which the
//! official client turns into its `AlgorithmException` (it reads `stack_trace`, so both names
//! are sent). Query: `timeout` (seconds, default 300, at most 3000, enforced by killing the
//! run), `stdout=true` (the owner only), `output=raw` and `output=void`.
//!
//! Also the environments the official CLI lists (`algo languages`, `algo environment LANG`).

use std::time::Duration;

use super::*;
use crate::runtime::{CallError, Input, Outcome};
use crate::store::Version;

/// The default and the largest `timeout`, in seconds (the platform's).
const DEFAULT_TIMEOUT: f64 = 300.0;
const MAX_TIMEOUT: f64 = 3000.0;

fn not_found(owner: &str, name: &str, version: Option<&str>) -> ApiError {
    let path = match version {
        Some(v) => format!("algo://{owner}/{name}/{v}"),
        None => format!("algo://{owner}/{name}"),
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        1014,
        format!("algorithm {path} not found"),
    )
}

/// `1.2.3`, `1.2.*` or `1.*` against a published version.
fn matches(pattern: &str, version: &str) -> bool {
    let want: Vec<&str> = pattern.split('.').collect();
    let have: Vec<&str> = version.split('.').collect();
    match want.last() {
        Some(&"*") => want.len() <= have.len() && want[..want.len() - 1] == have[..want.len() - 1],
        _ => want == have,
    }
}

fn semver_key(version: &Version) -> (u64, u64, u64) {
    let text = version.semantic_version.as_deref().unwrap_or("0.0.0");
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The version a call names, and whether this key may call it.
fn resolve_version(
    call: &Call<'_>,
    algorithm: &Algorithm,
    version: Option<&str>,
) -> Result<Version, ApiError> {
    let owner_calls = call.grant.owner == algorithm.owner;
    let (owner, name) = (algorithm.owner.as_str(), algorithm.name.as_str());
    let chosen = call.state.tx(|tx| {
        let published = tx.versions(&algorithm.id, Some(true), None, 0, 10_000)?;
        let newest = |candidates: Vec<Version>| candidates.into_iter().max_by_key(semver_key);
        Ok(match version {
            None | Some("") | Some("latest") => newest(published),
            Some(text) if text.chars().all(|c| c.is_ascii_hexdigit()) && text.len() >= 7 => {
                // A build's hash: published or not (unpublished ones for the owner only).
                let all = tx.versions(&algorithm.id, None, None, 0, 10_000)?;
                all.into_iter()
                    .find(|v| v.git_hash.starts_with(&text.to_ascii_lowercase()))
            }
            Some(text) => newest(
                published
                    .into_iter()
                    .filter(|v| {
                        v.semantic_version
                            .as_deref()
                            .is_some_and(|s| matches(text, s))
                    })
                    .collect(),
            ),
        })
    })?;
    let Some(chosen) = chosen else {
        return Err(not_found(owner, name, version));
    };
    let public =
        chosen.semantic_version.is_some() && chosen.callability.as_deref() == Some("public");
    if !public && !owner_calls {
        // Private (or unpublished) versions exist only for their owner.
        return Err(not_found(owner, name, version));
    }
    Ok(chosen)
}

fn query_bool(query: &str, key: &str) -> bool {
    query_param(query, key).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The input as its Content-Type says.
fn input(content_type: &str, body: &[u8]) -> Result<Input, ApiError> {
    let kind = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match kind.as_str() {
        "application/octet-stream" => Ok(Input::Binary(body.to_vec())),
        "text/plain" | "application/text" => String::from_utf8(body.to_vec())
            .map(Input::Text)
            .map_err(|_| ApiError::invalid("the text input is not UTF-8")),
        // Checked to be JSON without building it (a 16 MiB input would take several times that).
        "application/json" => match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Ok(Input::Json(String::from_utf8_lossy(body).into_owned())),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                2013,
                format!("the input is not JSON: {e}"),
            )),
        },
        // No Content-Type: JSON if it is JSON, else text.
        _ => Ok(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => Input::Json(String::from_utf8_lossy(body).into_owned()),
                Err(_) => Input::Text(String::from_utf8_lossy(body).into_owned()),
            },
        ),
    }
}

fn error_answer(
    error_type: &str,
    message: &str,
    stacktrace: &str,
    metadata: Value,
) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "error": {
                "message": message,
                "stacktrace": stacktrace,
                "stack_trace": stacktrace,
                "error_type": error_type,
            },
            "metadata": metadata,
        }),
    )
}

pub(super) async fn call_algorithm(
    call: &Call<'_>,
    owner: &str,
    name: &str,
    version: Option<&str>,
) -> Answer {
    let algorithm = call
        .state
        .tx(|tx| Ok(tx.algorithm_by_name(owner, name)?))?
        .ok_or_else(|| not_found(owner, name, None))?;
    let chosen = resolve_version(call, &algorithm, version)?;
    let timeout = match query_param(call.query, "timeout") {
        None | Some("") => DEFAULT_TIMEOUT,
        Some(text) => match text.parse::<f64>() {
            Ok(t) if t > 0.0 && t.is_finite() => t.min(MAX_TIMEOUT),
            _ => {
                return Err(ApiError::invalid(format!(
                    "`timeout` {text} is not a number of seconds"
                )));
            }
        },
    };
    let stdout = query_bool(call.query, "stdout") && call.grant.owner == algorithm.owner;
    let output = query_param(call.query, "output").unwrap_or("");
    let value = input(call.content_type, call.body)?;
    let timeout = Duration::from_secs_f64(timeout);
    let secrets: Vec<(String, String)> = call
        .state
        .tx(|tx| Ok(tx.secrets(&algorithm.id)?))?
        .into_iter()
        .map(|s| (s.secret_key, s.value))
        .collect();
    if output == "void" {
        // Answered at once; the call runs on its own, holding its input's share of the call
        // memory budget until it ends (the request's share ends with the answer): from its
        // owner's half and from the whole, as every call body does (`api::handle`). No share
        // left: refused, not queued, so void calls cannot pile up inputs.
        let kib = u32::try_from(call.body.len() / 1024 + 1).unwrap_or(u32::MAX);
        let memory = call
            .state
            .share(&call.grant.owner)
            .call_memory
            .try_acquire_many_owned(kib)
            .ok()
            .and_then(|mine| {
                let all = call
                    .state
                    .call_memory
                    .clone()
                    .try_acquire_many_owned(kib)
                    .ok()?;
                Some((mine, all))
            });
        let Some(memory) = memory else {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                5001,
                "too many calls with output=void are running; retry shortly",
            )
            .response();
            response
                .headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
            return Ok(response);
        };
        let state = call.state.clone();
        let commit = chosen.git_hash.clone();
        // It counts against its caller's slots like any call.
        let caller = call.grant.owner.clone();
        tokio::spawn(async move {
            let _ = state
                .runtime
                .call(&algorithm, &commit, value, timeout, &caller, &secrets)
                .await;
            drop(memory);
        });
        return Ok(json_response(
            StatusCode::OK,
            &json!({"async": "void", "request_id": format!("req-{}", uuid::Uuid::new_v4())}),
        ));
    }
    let started = std::time::Instant::now();
    let answer = call
        .state
        .runtime
        .call(
            &algorithm,
            &chosen.git_hash,
            value,
            timeout,
            &call.grant.owner,
            &secrets,
        )
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let answer = match answer {
        Ok(answer) => answer,
        Err(CallError::Unsupported) => {
            return Ok(error_answer(
                "UnsupportedError",
                "the emulator runs Python algorithms only",
                "",
                json!({"content_type": "void", "duration": elapsed}),
            ));
        }
        Err(CallError::NotPrepared) => {
            return Ok(error_answer(
                "SystemError",
                "this build's files are not there to run (it was built before the emulator ran code): push again or compile",
                "",
                json!({"content_type": "void", "duration": elapsed}),
            ));
        }
        Err(CallError::Timeout(after)) => {
            return Ok(error_answer(
                "TimeoutError",
                &format!(
                    "Failed to run algorithm - may have timed-out or hit out-of-memory error (timeout {} s)",
                    after.as_secs_f64()
                ),
                "",
                json!({"content_type": "void", "duration": elapsed}),
            ));
        }
        Err(CallError::Refused(why)) => {
            return Ok(error_answer(
                "SystemError",
                &why,
                "",
                json!({"content_type": "void", "duration": elapsed}),
            ));
        }
        Err(CallError::Crashed(why)) => {
            return Ok(error_answer(
                "AlgorithmError",
                &format!("the algorithm crashed: {why}"),
                "",
                json!({"content_type": "void", "duration": elapsed}),
            ));
        }
    };
    let duration = answer.duration.as_secs_f64();
    let mut metadata = json!({"duration": duration});
    if stdout {
        metadata["stdout"] = answer.stdout.clone().into();
    }
    let (content_type, result): (&str, Box<serde_json::value::RawValue>) = match answer.outcome {
        Outcome::Error {
            message,
            stacktrace,
            error_type,
        } => {
            metadata["content_type"] = "void".into();
            return Ok(error_answer(&error_type, &message, &stacktrace, metadata));
        }
        Outcome::Json(raw) => ("json", raw),
        Outcome::Text(t) => {
            if output == "raw" {
                return Ok(raw_response("text/plain", t));
            }
            ("text", to_raw(&t))
        }
        Outcome::Binary(b) => {
            if output == "raw" {
                return Ok(Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/octet-stream")
                    .body(crate::full(b))
                    .expect("a valid response"));
            }
            (
                "binary",
                to_raw(&base64::engine::general_purpose::STANDARD.encode(b)),
            )
        }
    };
    if output == "raw" {
        return Ok(raw_response("application/json", result.get().to_string()));
    }
    metadata["content_type"] = content_type.into();
    // The result goes out as the worker wrote it, with no tree built in between.
    #[derive(serde::Serialize)]
    struct Success<'a> {
        result: &'a serde_json::value::RawValue,
        metadata: &'a Value,
    }
    let body = serde_json::to_vec(&Success {
        result: &result,
        metadata: &metadata,
    })
    .expect("an answer serializes");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(crate::full(body))
        .expect("a valid response"))
}

/// A string as a JSON value's text.
fn to_raw(text: &str) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(text).expect("a string serializes")
}

fn raw_response(mime: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", mime)
        .body(crate::full(body))
        .expect("a valid response")
}

/// A language the emulator knows: its name, display name and package sets (name, display).
type Language = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// The environments the emulator knows, by language (for `algo languages` and `algo
/// environment LANG`).
fn environments() -> Vec<Language> {
    vec![
        (
            "python3",
            "Python 3.x",
            vec![
                ("python38", "Python 3.8"),
                ("python39", "Python 3.9"),
                ("python311", "Python 3.11"),
            ],
        ),
        ("python2", "Python 2.x", vec![("python27", "Python 2.7")]),
        ("java", "Java", vec![("java11", "Java 11")]),
        ("scala", "Scala", vec![("scala213", "Scala 2.13")]),
        (
            "javascript",
            "JavaScript (Node.js)",
            vec![("node14", "Node.js 14")],
        ),
        ("r", "R", vec![("r36", "R 3.6")]),
        ("ruby", "Ruby", vec![("ruby27", "Ruby 2.7")]),
        ("rust", "Rust", vec![("rust", "Rust")]),
    ]
}

pub(super) fn languages() -> Answer {
    let list: Vec<Value> = environments()
        .into_iter()
        .map(|(name, display, _)| json!({"name": name, "display_name": display, "configuration": "{}"}))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(list)))
}

pub(super) fn language_environments(language: &str) -> Answer {
    let Some((name, display, sets)) = environments().into_iter().find(|(n, _, _)| *n == language)
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            4001,
            format!("unknown language `{language}`"),
        ));
    };
    let list: Vec<Value> = sets
        .into_iter()
        .map(|(set, set_display)| {
            // A stable id per package set, so that `algorithm_environment` can name it.
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, set.as_bytes()).to_string();
            json!({
                "id": id,
                "environment_specification_id": id,
                "display_name": set_display,
                "description": format!("{set_display} ({set})"),
                "created_at": "2020-12-21T21:47:53.239",
                "language": {"name": name, "display_name": display, "configuration": "{}"},
                "machine_type": "CPU",
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"environments": list}),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_patterns() {
        assert!(super::matches("1.2.3", "1.2.3"));
        assert!(super::matches("1.2.*", "1.2.9"));
        assert!(super::matches("1.*", "1.7.0"));
        assert!(!super::matches("1.*", "2.0.0"));
        assert!(!super::matches("1.2.3", "1.2.4"));
    }
}

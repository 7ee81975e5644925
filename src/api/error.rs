//! What a call of the API can fail with ([`ApiError`]), which failures are worth another try,
//! and how an answer's error body becomes one line a person can read (sanitised: no key, no
//! control characters, whatever the server sent).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::retry::MAX_RETRY_AFTER;
use crate::config::ApiKey;

#[derive(Debug)]
pub enum ApiError {
    /// No answer: connection refused, timeout, TLS, or the connection dropped.
    Transport {
        method: &'static str,
        url: String,
        source: reqwest::Error,
    },
    /// The server's certificate is not trusted (or not valid for the host): never retried.
    Certificate {
        method: &'static str,
        url: String,
        host: String,
        reason: String,
    },
    /// 401: the key is unknown or invalid.
    Unauthorized {
        url: String,
        code: Option<i64>,
        message: String,
    },
    /// 403: the key may not do this.
    Forbidden {
        url: String,
        code: Option<i64>,
        message: String,
    },
    /// Any other non-2xx answer.
    Status {
        method: &'static str,
        url: String,
        status: u16,
        code: Option<i64>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer that is not what the spec says.
    Decode {
        url: String,
        status: u16,
        reason: String,
        excerpt: String,
    },
}

impl ApiError {
    /// Faults worth another try: no answer, rate limiting, or a server-side failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// How long the server asked to wait, clamped.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status {
                retry_after: Some(wait),
                ..
            } => Some((*wait).min(MAX_RETRY_AFTER)),
            _ => None,
        }
    }

    /// The address the request went to.
    pub fn url(&self) -> &str {
        match self {
            ApiError::Transport { url, .. }
            | ApiError::Certificate { url, .. }
            | ApiError::Unauthorized { url, .. }
            | ApiError::Forbidden { url, .. }
            | ApiError::Status { url, .. }
            | ApiError::Decode { url, .. } => url,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::Status { status, .. } | ApiError::Decode { status, .. } => Some(*status),
            ApiError::Transport { .. } | ApiError::Certificate { .. } => None,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Unauthorized { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Status { code, .. } => *code,
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transport { method, url, .. } => write!(f, "{method} {url} got no answer"),
            ApiError::Certificate {
                method,
                url,
                host,
                reason,
            } => write!(
                f,
                "{method} {url} failed: the certificate of `{host}` is not trusted ({reason})"
            ),
            ApiError::Unauthorized { url, message, .. } => {
                write!(f, "the API key was rejected (401 from {url}: {message})")
            }
            ApiError::Forbidden { url, message, .. } => write!(
                f,
                "the API key may not do this (403 from {url}: {message}); it needs \"manage my algorithms\" for the algorithm's owner"
            ),
            ApiError::Status {
                method,
                url,
                status,
                code,
                message,
                ..
            } => match code {
                Some(code) => write!(
                    f,
                    "{method} {url} failed with {status} (code {code}): {message}"
                ),
                None => write!(f, "{method} {url} failed with {status}: {message}"),
            },
            ApiError::Decode {
                url,
                status,
                reason,
                excerpt,
            } => {
                write!(
                    f,
                    "unexpected answer from {url} ({status}): {reason}; the body starts `{excerpt}`"
                )
            }
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Transport { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Up to 160 characters of a body, one line, through the one sanitiser (the key and key-shaped
/// words redacted, control characters and escapes removed).
pub(super) fn excerpt(body: &[u8], key: Option<&ApiKey>) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(400)]);
    crate::sanitize::line(&text, key, 160)
}

/// The error message of an error body in any of the shapes seen, sanitised: a server that
/// repeats the request (the key included) in its error text shows no key.
pub(super) fn error_body(body: &[u8], key: Option<&ApiKey>) -> (Option<i64>, String) {
    let clean = |text: &str| crate::sanitize::line(text, key, 300);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            let inner = match map.get("error") {
                Some(Value::Object(e)) => e.clone(),
                Some(Value::String(s)) => return (None, clean(s)),
                _ => map,
            };
            let code = inner.get("code").and_then(Value::as_i64);
            let message = inner
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| excerpt(body, key), clean);
            (code, message)
        }
        _ if body.is_empty() => (None, "(empty body)".into()),
        _ => (None, format!("not JSON: `{}`", excerpt(body, key))),
    }
}

/// The certificate error inside a transport error, if that is what it is. rustls' error sits
/// inside an `io::Error`, whose `source()` skips it, so each level is looked into.
pub fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        let found = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(
            e @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType),
        ) = found
        {
            return Some(e.to_string());
        }
        // Connectors box their errors in types of their own; rustls' text is distinctive.
        let text = current.to_string();
        if text.starts_with("invalid peer certificate") {
            return Some(text);
        }
        next = current.source();
    }
    None
}

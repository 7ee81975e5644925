//! The API's answers as they come over the wire, written from `docs/api/openapispec.yml` and
//! private to the client (the emulator has its own): everything optional, so the client reads
//! what it needs and tolerates the rest, and checks what it uses before it becomes a
//! `current` type.

use serde::Deserialize;
use serde_json::Value;

use super::ApiError;
use crate::current::{Algorithm, Build, BuildStatus, Published};
use crate::manifest::Callability;
use crate::version::Version;

/// A build from the server, checked before use: a commit is 40 (or 64) hex digits.
pub(super) fn checked_build(wire: &WireBuild, url: &str) -> Result<Build, ApiError> {
    if !crate::git::is_object_name(&wire.commit_sha) {
        return Err(bad_value(url, "a build's `commit_sha`", &wire.commit_sha));
    }
    Ok(Build {
        id: crate::sanitize::line(&wire.build_id, None, 100),
        commit: wire.commit_sha.to_ascii_lowercase(),
        status: BuildStatus::from_wire(&wire.status),
        finished_at: wire
            .finished_at
            .as_deref()
            .map(|t| crate::sanitize::line(t, None, 40)),
    })
}

pub(super) fn bad_value(url: &str, what: &str, value: &str) -> ApiError {
    ApiError::Decode {
        url: url.to_string(),
        status: 200,
        reason: format!(
            "{what} is `{}`, not what the API defines",
            crate::sanitize::line(value, None, 60)
        ),
        excerpt: String::new(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct WireAlgorithm {
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) details: serde_json::Map<String, Value>,
    #[serde(default)]
    pub(super) settings: serde_json::Map<String, Value>,
    pub(super) version_info: Option<WireVersionInfo>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireVersionInfo {
    pub(super) semantic_version: Option<String>,
    pub(super) git_hash: Option<String>,
    pub(super) release_notes: Option<String>,
    pub(super) sample_input: Option<Value>,
    pub(super) sample_output: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WirePage<T> {
    #[serde(default = "Vec::new")]
    pub(super) results: Vec<T>,
    pub(super) marker: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireBuild {
    pub(super) build_id: String,
    pub(super) commit_sha: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) finished_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireLogs {
    pub(super) logs: Option<String>,
}

pub(super) fn text_value(value: Option<Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    }
}

impl WireAlgorithm {
    /// The live algorithm as a domain value: its id and managed fields.
    pub(super) fn into_current(self, url: &str) -> Result<Algorithm, ApiError> {
        let id = self.id.ok_or_else(|| ApiError::Decode {
            url: url.to_string(),
            status: 200,
            reason: "the algorithm has no `id`".into(),
            excerpt: String::new(),
        })?;
        Ok(Algorithm {
            id: crate::sanitize::line(&id, None, 100),
            fields: crate::fields::from_sections(&self.details, &self.settings),
            callability: self
                .settings
                .get("algorithm_callability")
                .and_then(Value::as_str)
                .and_then(Callability::from_wire),
        })
    }

    /// A published version, checked before use (a commit is 40 or 64 hex digits, a version
    /// plain `MAJOR.MINOR.PATCH`); `None` for an entry without a semantic version.
    pub(super) fn into_published(self, url: &str) -> Option<Result<Published, ApiError>> {
        let info = self.version_info?;
        let (text, commit) = (info.semantic_version?, info.git_hash?);
        Some((|| {
            let version = Version::parse(&text)
                .ok_or_else(|| bad_value(url, "a version's `semantic_version`", &text))?;
            if !crate::git::is_object_name(&commit) {
                return Err(bad_value(url, "a version's `git_hash`", &commit));
            }
            Ok(Published {
                version,
                commit: commit.to_ascii_lowercase(),
                callability: self
                    .settings
                    .get("algorithm_callability")
                    .and_then(Value::as_str)
                    .and_then(Callability::from_wire),
                release_notes: info.release_notes,
                sample_input: text_value(info.sample_input),
                sample_output: text_value(info.sample_output),
            })
        })())
    }
}

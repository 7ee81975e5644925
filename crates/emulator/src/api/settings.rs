//! The settings rules of the management API: allowed values, the runtime (one of legacy
//! language + environment, environment id, package set), and merging a request's `details` and
//! `settings` into an algorithm's.

use super::*;

pub(super) const LICENSES: &[&str] = &["apl", "apache2", "gpl3", "mit"];
pub(super) const VISIBILITIES: &[&str] = &["open", "closed"];
pub(super) const NETWORK: &[&str] = &["isolated", "full"];
pub(super) const LANGUAGES: &[&str] = &[
    "java",
    "javascript",
    "python2-langpack",
    "python3-1",
    "r",
    "ruby",
    "rust",
    "scala",
];
pub(super) const ENVIRONMENTS: &[&str] = &["cpu", "gpu"];
pub(super) const CALLABILITY: &[&str] = &["public", "private"];

/// A sub-object of a body; an empty object counts as absent (the official client sends
/// `details: {}` and friends by default).
pub(super) fn section<'v>(
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

pub(super) fn one_of(
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

pub(super) fn text_field(
    map: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(format!("`{key}` must be a string"))),
    }
}

/// Sample input and output are strings on the wire; anything else is kept as its JSON text.
pub(super) fn sample(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

pub(super) fn name_ok(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validate and normalise settings: `current` for an update, empty for a create.
pub(super) fn merge_settings(
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

pub(super) fn merge_details(
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

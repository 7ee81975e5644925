//! The JSON answers: algorithm, build and version objects as the spec and the official clients
//! read them.

use super::*;

pub(super) fn scm() -> Value {
    json!({"id": "internal", "provider": "internal", "name": "internal", "default": true, "enabled": true})
}

pub(super) fn settings_json(settings: &Value) -> Value {
    let mut settings = settings.clone();
    settings["insights_enabled"] = false.into();
    settings
}

pub(super) fn build_json(tx: &Tx<'_>, build: &Build) -> Result<Value, ApiError> {
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
    if let Some(version) = tx.version(&build.algorithm_id, &build.commit_sha)?
        && version.build_seq == build.seq
        && let Some(semantic) = version.semantic_version
    {
        object["version_info"] = json!({"semantic_version": semantic});
    }
    Ok(object)
}

pub(super) fn version_json(
    tx: &Tx<'_>,
    base: &str,
    algorithm: &Algorithm,
    version: &Version,
) -> Result<Value, ApiError> {
    let build = tx.build_by_seq(version.build_seq)?;
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
pub(super) fn algorithm_json(
    tx: &Tx<'_>,
    base: &str,
    algorithm: &Algorithm,
) -> Result<Value, ApiError> {
    let latest = tx.latest_build(&algorithm.id)?;
    let version = match &latest {
        Some(build) => tx.version(&algorithm.id, &build.commit_sha)?,
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

//! Builds, versions and publishing: paging (markers, limits), builds and their logs, the
//! versions list, publish with the version rules (`docs/api/decisions.md`), compile, and the build a
//! push starts.

use super::*;

pub(super) struct Page {
    pub(super) offset: usize,
    pub(super) limit: usize,
}

pub(super) fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

pub(super) fn page(query: &str) -> Result<Page, ApiError> {
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

pub(super) fn bool_param(query: &str, key: &str) -> Result<Option<bool>, ApiError> {
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
pub(super) fn paged(
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

pub(super) fn target_path(algorithm: &Algorithm) -> String {
    format!("algorithms/{}/{}", algorithm.owner, algorithm.name)
}

pub(super) fn builds(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let page = page(call.query)?;
    let results = call.state.tx(|tx| {
        let list = tx.builds(&algorithm.id, page.offset, page.limit + 1)?;
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

pub(super) fn find_build(
    call: &Call<'_>,
    algorithm: &Algorithm,
    id: &str,
) -> Result<Build, ApiError> {
    call.state
        .tx(|tx| Ok(tx.build(&algorithm.id, id)?))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                1010,
                format!("build `{id}` not found"),
            )
        })
}

pub(super) fn build(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let build = find_build(call, &algorithm, id)?;
    let object = call.state.tx(|tx| build_json(tx, &build))?;
    Ok(json_response(StatusCode::OK, &object))
}

pub(super) fn build_logs(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
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

pub(super) fn versions(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let page = page(call.query)?;
    let published = bool_param(call.query, "published")?;
    let callable = bool_param(call.query, "callable")?;
    let results = call.state.tx(|tx| {
        let current = tx
            .algorithm_by_id(&algorithm.id)?
            .ok_or_else(ApiError::not_found_algorithm)?;
        let list = tx.versions(
            &algorithm.id,
            published,
            callable,
            page.offset,
            page.limit + 1,
        )?;
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

pub(super) fn version(call: &Call<'_>, target: &Target<'_>, hash: &str) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let object = call.state.tx(|tx| {
        let version = tx.version(&algorithm.id, hash)?.ok_or_else(|| {
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

pub(super) fn next_version(latest: Option<&str>, bump: &str) -> String {
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

pub(super) fn publish(call: &Call<'_>, target: &Target<'_>) -> Answer {
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
    // Blank means absent, as the seed's snippets send them: "" is "the newest successful
    // build" and "the next version of the bump".
    let git_hash = text_field(&info, "git_hash")?.filter(|s| !s.trim().is_empty());
    let declared = text_field(&info, "semantic_version")?.filter(|s| !s.trim().is_empty());
    let callability = match &settings {
        Some(s) => one_of(s, "algorithm_callability", CALLABILITY, 2015)?,
        None => None,
    };
    let object = call.state.tx(|tx| {
        let mut current = tx.algorithm_by_id(&algorithm.id)?.ok_or_else(ApiError::not_found_algorithm)?;
        let mut version = match &git_hash {
            Some(hash) => tx
                .version(&current.id, hash)
                ?
                .ok_or_else(|| ApiError::invalid(format!("commit `{hash}` has no successful build to publish")))?,
            None => tx
                .latest_built_version(&current.id)
                ?
                .ok_or_else(|| ApiError::invalid("the algorithm has no successful build to publish"))?,
        };
        if let Some(published) = &version.semantic_version {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                1007,
                format!("version already published (as {published} from commit {}), please compile", version.git_hash),
            ));
        }
        let previous = tx.latest_published(&current.id)?;
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
        tx.update_algorithm(&current)?;
        version.semantic_version = Some(next);
        version.callability = Some(callability);
        version.release_notes = text_field(&info, "release_notes")?;
        if info.contains_key("sample_input") {
            version.sample_input = sample(&info, "sample_input");
        }
        version.sample_output = sample(&info, "sample_output");
        tx.publish(&version)?;
        let stored = tx.version(&current.id, &version.git_hash)?.ok_or_else(|| ApiError::internal(&"published version vanished"))?;
        version_json(tx, call.base, &current, &stored)
    })?;
    Ok(json_response(StatusCode::OK, &object))
}

pub(super) async fn compile(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let repo = call.state.repo_path(&algorithm.owner, &algorithm.name);
    let head = git2::Repository::open_bare(&repo)
        .ok()
        .and_then(|r| r.refname_to_id("refs/heads/master").ok())
        .map(|oid| oid.to_string())
        .ok_or_else(|| ApiError::invalid("`master` has no commits yet: push first"))?;
    // A compile's build runs in the request, not in the background.
    let build = crate::builds::insert_build(call.state, &algorithm.id, &head)?;
    let finished = crate::builds::run_build(call.state.clone(), build.seq)
        .await
        .ok_or_else(|| ApiError::internal(&"the build vanished"))?;
    let object = call.state.tx(|tx| {
        let current = tx
            .algorithm_by_id(&algorithm.id)?
            .ok_or_else(ApiError::not_found_algorithm)?;
        match tx.version(&current.id, &head)? {
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
pub(crate) fn pushed(
    state: &Arc<State>,
    owner: &str,
    name: &str,
    commit: &str,
) -> Result<(), ApiError> {
    let algorithm = state.tx(|tx| {
        let mut algorithm = tx
            .algorithm_by_name(owner, name)?
            .ok_or_else(ApiError::not_found_algorithm)?;
        let moved = algorithm.pushed_sha.as_deref() != Some(commit);
        algorithm.pushed_sha = Some(commit.to_string());
        tx.update_algorithm(&algorithm)?;
        Ok(moved.then_some(algorithm))
    })?;
    if let Some(algorithm) = algorithm {
        crate::builds::start_build(state, &algorithm.id, commit)?;
    }
    Ok(())
}

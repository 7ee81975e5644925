//! Algorithm secrets (`/v1/algorithms/{id}/secrets`, `/v1/secret-provider`), as the spec and
//! `docs/api/decisions.md` describe them: created, edited and deleted by a key that manages the
//! algorithm; listed without values; given to the algorithm's process as environment variables
//! (`secret_key` is the variable's name). Values are stored in the data folder's database and
//! go nowhere else: not in answers, the request log or build logs.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::{Answer, ApiError, Call, Target, resolve};
use crate::store::Secret;
use crate::{json_response, now};

/// The one secret provider the emulator has.
pub(super) const PROVIDER: &str = "emulator";

pub(super) fn providers() -> Answer {
    Ok(json_response(
        StatusCode::OK,
        &json!({"results": [{"id": PROVIDER, "name": "emulator", "is_default": true}]}),
    ))
}

fn answer(secret: &Secret) -> Value {
    json!({
        "id": secret.id,
        "short_name": secret.short_name,
        "description": secret.description,
        "owner_type": "algorithm",
        "owner_id": secret.algorithm_id,
        "provider_id": secret.provider_id,
        "secret_key": secret.secret_key,
        "created": secret.created,
        "modified": secret.modified,
    })
}

/// An environment variable's name.
fn valid_key(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn body(call: &Call<'_>) -> Result<Value, ApiError> {
    serde_json::from_slice(call.body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))
}

pub(super) fn list(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, false)?;
    let secrets = call.state.tx(|tx| Ok(tx.secrets(&algorithm.id)?))?;
    let results: Vec<Value> = secrets.iter().map(answer).collect();
    Ok(json_response(StatusCode::OK, &json!({"results": results})))
}

pub(super) fn create(call: &Call<'_>, target: &Target<'_>) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let body = body(call)?;
    let key = body["secret_key"].as_str().unwrap_or("");
    if !valid_key(key) {
        return Err(ApiError::invalid(
            "`secret_key` must be an environment variable's name (A-Z, 0-9, _)",
        ));
    }
    let Some(value) = body["secret_value"].as_str() else {
        return Err(ApiError::invalid("`secret_value` is required"));
    };
    let short_name = body["short_name"].as_str().unwrap_or(key);
    let time = now();
    let secret = Secret {
        id: uuid::Uuid::new_v4().to_string(),
        algorithm_id: algorithm.id.clone(),
        short_name: short_name.chars().take(200).collect(),
        secret_key: key.to_string(),
        description: body["description"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(1000)
            .collect(),
        value: value.to_string(),
        provider_id: PROVIDER.into(),
        created: time.clone(),
        modified: time,
    };
    call.state.tx(|tx| {
        if tx
            .secrets(&algorithm.id)?
            .iter()
            .any(|s| s.secret_key == key)
        {
            return Err(ApiError::invalid(format!(
                "the algorithm has a secret `{key}` already; edit it"
            )));
        }
        Ok(tx.upsert_secret(&secret)?)
    })?;
    Ok(json_response(StatusCode::OK, &answer(&secret)))
}

pub(super) fn edit(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let body = body(call)?;
    let updated = call.state.tx(|tx| {
        let Some(mut secret) = tx.secrets(&algorithm.id)?.into_iter().find(|s| s.id == id) else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, 1010, "No such secret"));
        };
        if let Some(value) = body["secret_value"].as_str() {
            secret.value = value.to_string();
        }
        if let Some(description) = body["description"].as_str() {
            secret.description = description.chars().take(1000).collect();
        }
        secret.modified = now();
        tx.upsert_secret(&secret)?;
        Ok(secret)
    })?;
    Ok(json_response(StatusCode::OK, &answer(&updated)))
}

pub(super) fn delete(call: &Call<'_>, target: &Target<'_>, id: &str) -> Answer {
    let algorithm = resolve(call, target, true)?;
    let deleted = call
        .state
        .tx(|tx| Ok(tx.delete_secret(&algorithm.id, id)?))?;
    if deleted == 0 {
        return Err(ApiError::new(StatusCode::NOT_FOUND, 1010, "No such secret"));
    }
    Ok(crate::empty_response(StatusCode::NO_CONTENT))
}

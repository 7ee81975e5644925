//! `algodeploy import OWNER/NAME`: the manifest that describes an existing algorithm and its
//! latest published version, so that `import` then `plan` shows no changes. The live fields go
//! through the one field table ([`crate::fields::FIELDS`]) into the manifest model, so a new
//! managed field is imported without code here.

use serde_json::{Map, Value, json};

use crate::current::{Algorithm, Published};
use crate::fields::{Compare, FIELDS, Section};
use crate::manifest::{Callability, Manifest};

/// The manifest text, or why the live algorithm cannot be written as one.
pub fn manifest_text(
    owner: &str,
    name: &str,
    algorithm: &Algorithm,
    published: &[Published],
) -> Result<String, String> {
    let latest = published.iter().max_by_key(|p| p.version);
    let mut details = Map::new();
    let mut settings = Map::new();
    let environment = algorithm
        .fields
        .contains_key("settings.algorithm_environment");
    for field in FIELDS {
        // The service reports the package set an environment id resolves to; the id is the
        // setting.
        if field.compare == Compare::ResolvedFromEnvironment && environment {
            continue;
        }
        if let Some(value) = algorithm.fields.get(field.key) {
            let section = match field.section {
                Section::Details => &mut details,
                Section::Settings => &mut settings,
            };
            section.insert(field.name.to_string(), value.clone());
        }
    }
    details
        .entry("label")
        .or_insert_with(|| Value::from(name.to_string()));
    let callability = latest
        .and_then(|p| p.callability)
        .or(algorithm.callability)
        .unwrap_or(Callability::Private);
    settings.insert("algorithm_callability".into(), callability.as_str().into());
    let mut version_info = Map::new();
    version_info.insert(
        "semantic_version".into(),
        latest
            .map_or_else(|| "1.0.0".to_string(), |p| p.version.to_string())
            .into(),
    );
    for (key, value) in [
        (
            "release_notes",
            latest.and_then(|p| p.release_notes.clone()),
        ),
        ("sample_input", latest.and_then(|p| p.sample_input.clone())),
        (
            "sample_output",
            latest.and_then(|p| p.sample_output.clone()),
        ),
    ] {
        if let Some(value) = value {
            version_info.insert(key.into(), value.into());
        }
    }
    let model = json!({
        "owner": owner,
        "name": name,
        "details": details,
        "settings": settings,
        "version_info": version_info,
    });
    let manifest: Manifest = serde_json::from_value(model).map_err(|e| {
        format!(
            "the live algorithm cannot be written as a manifest ({})",
            crate::sanitize::line(&e.to_string(), None, 200)
        )
    })?;
    let body = serde_saphyr::to_string(&manifest).map_err(|e| format!("cannot write YAML: {e}"))?;
    let header = match latest {
        Some(p) => format!(
            "# algorithm.yaml for {owner}/{name}, imported by algodeploy {} from the live algorithm\n# and its latest published version {} (commit {}).\n",
            env!("CARGO_PKG_VERSION"),
            p.version,
            crate::git::short(&p.commit)
        ),
        None => format!(
            "# algorithm.yaml for {owner}/{name}, imported by algodeploy {}.\n# Nothing is published yet: `apply` will publish semantic_version below.\n",
            env!("CARGO_PKG_VERSION")
        ),
    };
    Ok(header + &body)
}

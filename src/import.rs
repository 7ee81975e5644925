//! `algodeploy import OWNER/NAME`: the manifest that describes an existing algorithm and its
//! latest published version, so that `import` then `plan` shows no changes.

use std::path::PathBuf;

use serde_json::Value;

use crate::api::{PublishedVersion, RemoteAlgorithm};
use crate::manifest::{
    Callability, Details, Environment, Language, License, Manifest, NetworkAccess, Settings,
    SourceVisibility, VersionInfo, parse_version,
};

fn text(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn choice<T>(
    map: &serde_json::Map<String, Value>,
    key: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, String> {
    let value =
        text(map, key).ok_or_else(|| format!("the live algorithm has no `settings.{key}`"))?;
    parse(&value).ok_or_else(|| {
        format!(
            "the live algorithm's `settings.{key}` is `{value}`, which a manifest cannot express"
        )
    })
}

pub fn manifest_text(
    owner: &str,
    name: &str,
    algorithm: &RemoteAlgorithm,
    published: &[PublishedVersion],
) -> Result<String, String> {
    let s = &algorithm.settings;
    let d = &algorithm.details;
    let latest = published
        .iter()
        .filter_map(|p| parse_version(&p.semantic_version).map(|v| (v, p)))
        .max_by_key(|(v, _)| *v)
        .map(|(_, p)| p);
    let (language, environment, algorithm_environment, package_set) =
        match (text(s, "language"), text(s, "algorithm_environment")) {
            (Some(language), _) => (
                Some(
                    Language::from_wire(&language)
                        .ok_or_else(|| format!("unknown legacy language `{language}`"))?,
                ),
                Some(choice(s, "environment", Environment::from_wire)?),
                None,
                None,
            ),
            // The service reports the package set an environment id resolves to; the id is the
            // setting.
            (None, Some(id)) => (None, None, Some(id), None),
            (None, None) => (None, None, None, text(s, "package_set")),
        };
    let callability = latest
        .and_then(|p| p.callability.as_deref())
        .or_else(|| s.get("algorithm_callability").and_then(Value::as_str))
        .and_then(Callability::from_wire)
        .unwrap_or(Callability::Private);
    let manifest = Manifest {
        owner: owner.to_string(),
        name: name.to_string(),
        details: Details {
            label: text(d, "label").unwrap_or_else(|| name.to_string()),
            tagline: text(d, "tagline"),
            summary: text(d, "summary"),
            summary_file: None::<PathBuf>,
        },
        settings: Settings {
            license: choice(s, "license", License::from_wire)?,
            source_visibility: choice(s, "source_visibility", SourceVisibility::from_wire)?,
            network_access: choice(s, "network_access", NetworkAccess::from_wire)?,
            pipeline_enabled: s
                .get("pipeline_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            language,
            environment,
            algorithm_environment,
            package_set,
            royalty_microcredits: s
                .get("royalty_microcredits")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            algorithm_callability: callability,
        },
        version_info: VersionInfo {
            semantic_version: latest
                .map_or_else(|| "1.0.0".to_string(), |p| p.semantic_version.clone()),
            release_notes: latest.and_then(|p| p.release_notes.clone()),
            sample_input: latest.and_then(|p| p.sample_input.clone()),
            sample_output: latest.and_then(|p| p.sample_output.clone()),
        },
    };
    let body = serde_saphyr::to_string(&manifest).map_err(|e| format!("cannot write YAML: {e}"))?;
    let header = match latest {
        Some(p) => format!(
            "# algorithm.yaml for {owner}/{name}, imported by algodeploy {} from the live algorithm\n# and its latest published version {} (commit {}).\n",
            env!("CARGO_PKG_VERSION"),
            p.semantic_version,
            crate::git::short(&p.git_hash)
        ),
        None => format!(
            "# algorithm.yaml for {owner}/{name}, imported by algodeploy {}.\n# Nothing is published yet: `apply` will publish semantic_version below.\n",
            env!("CARGO_PKG_VERSION")
        ),
    };
    Ok(header + &body)
}

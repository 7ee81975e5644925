//! The one table of managed fields: every detail and setting algodeploy compares, sends and
//! imports. Desired state (from the manifest), current state (from the API), the plan's diff,
//! the create and update request bodies and `import` are all driven by [`FIELDS`], so a new
//! field is one entry here (plus its place in the manifest model and validator).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::manifest::Loaded;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Details,
    Settings,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Details => "details",
            Section::Settings => "settings",
        }
    }
}

/// How a field is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Equal values or a change.
    Exact,
    /// Left alone when the manifest omits it, unless the last apply set it (then omitting it
    /// removes it).
    Optional,
    /// The package set the service reports for an environment id: not compared when the
    /// manifest gives `algorithm_environment` instead.
    ResolvedFromEnvironment,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// `details.label`: the name in plans, records and messages.
    pub key: &'static str,
    pub section: Section,
    /// The name inside its section, in the manifest and on the wire alike.
    pub name: &'static str,
    pub compare: Compare,
}

const fn field(key: &'static str, section: Section, name: &'static str, compare: Compare) -> Field {
    Field {
        key,
        section,
        name,
        compare,
    }
}

/// Every managed field, in display order.
pub const FIELDS: &[Field] = &[
    field("details.label", Section::Details, "label", Compare::Exact),
    field(
        "details.tagline",
        Section::Details,
        "tagline",
        Compare::Optional,
    ),
    field(
        "details.summary",
        Section::Details,
        "summary",
        Compare::Optional,
    ),
    field(
        "settings.license",
        Section::Settings,
        "license",
        Compare::Exact,
    ),
    field(
        "settings.source_visibility",
        Section::Settings,
        "source_visibility",
        Compare::Exact,
    ),
    field(
        "settings.network_access",
        Section::Settings,
        "network_access",
        Compare::Exact,
    ),
    field(
        "settings.pipeline_enabled",
        Section::Settings,
        "pipeline_enabled",
        Compare::Exact,
    ),
    field(
        "settings.language",
        Section::Settings,
        "language",
        Compare::Exact,
    ),
    field(
        "settings.environment",
        Section::Settings,
        "environment",
        Compare::Exact,
    ),
    field(
        "settings.algorithm_environment",
        Section::Settings,
        "algorithm_environment",
        Compare::Exact,
    ),
    field(
        "settings.package_set",
        Section::Settings,
        "package_set",
        Compare::ResolvedFromEnvironment,
    ),
    field(
        "settings.royalty_microcredits",
        Section::Settings,
        "royalty_microcredits",
        Compare::Exact,
    ),
];

pub fn get(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// Field values by key (`details.label` → `"Hello"`); an absent field has no entry.
pub type Values = BTreeMap<String, Value>;

/// The manifest's managed fields as API values: the manifest model serialized (its names are
/// the wire names), with the summary as the text that is deployed (`summary_file` read).
pub fn desired(loaded: &Loaded) -> Values {
    let model = serde_json::to_value(&loaded.manifest).expect("a manifest serializes");
    let mut values = from_sections(
        model["details"].as_object().unwrap_or(&Map::new()),
        model["settings"].as_object().unwrap_or(&Map::new()),
    );
    match &loaded.summary {
        Some(text) => values.insert("details.summary".into(), Value::from(text.clone())),
        None => values.remove("details.summary"),
    };
    values
}

/// The managed fields of `details` and `settings` objects (the API's, or the manifest's).
pub fn from_sections(details: &Map<String, Value>, settings: &Map<String, Value>) -> Values {
    FIELDS
        .iter()
        .filter_map(|f| {
            let map = match f.section {
                Section::Details => details,
                Section::Settings => settings,
            };
            match map.get(f.name) {
                None | Some(Value::Null) => None,
                Some(value) => Some((f.key.to_string(), value.clone())),
            }
        })
        .collect()
}

/// `{details: {...}, settings: {...}}` from field values; `removed` fields are sent as `null`
/// (details only: the runtime is replaced as a whole by the one the manifest names).
pub fn sections(values: &Values, removed: &[String]) -> (Value, Value) {
    let mut details = Map::new();
    let mut settings = Map::new();
    for f in FIELDS {
        let map = match f.section {
            Section::Details => &mut details,
            Section::Settings => &mut settings,
        };
        if let Some(value) = values.get(f.key) {
            map.insert(f.name.to_string(), value.clone());
        } else if removed.iter().any(|r| r == f.key) && f.section == Section::Details {
            map.insert(f.name.to_string(), Value::Null);
        }
    }
    (Value::Object(details), Value::Object(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_in_the_manifest_model() {
        // The manifest's own sections name each field the table manages.
        for f in FIELDS {
            let known = match f.section {
                Section::Details => crate::manifest::DETAILS_KEYS,
                Section::Settings => crate::manifest::SETTINGS_KEYS,
            };
            assert!(
                known.iter().any(|(k, _)| *k == f.name),
                "{} is not a manifest key",
                f.key
            );
            assert_eq!(f.key, format!("{}.{}", f.section.as_str(), f.name));
        }
    }
}

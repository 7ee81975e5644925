//! The `algorithm.yaml` model (the desired state) and its JSON Schema; the checks and the
//! loading live beside it:
//!
//! - this file: the types ([`Manifest`], [`Loaded`]) and [`schema`].
//! - `check.rs`: [`check`] walks the located YAML tree ([`crate::yaml::parse`] refuses hostile
//!   YAML first) against the manifest's rules and collects *every* problem as a
//!   [`Diagnostic`] before building a [`Manifest`]. The walk knows the same field names,
//!   required keys and allowed values as the types here, which also generate the JSON Schema
//!   (`algodeploy schema`); a unit test keeps the two in step.
//! - `load.rs`: finding manifests in folders, capped reading, and `summary_file` as git tracks
//!   it (from HEAD's tree for plans).
//!
//! What this module does not do: talk to the API. Whether a declared version may be published
//! is the plan's question.

mod check;
mod load;

#[cfg(test)]
pub(crate) use check::{
    DETAILS_KEYS, ENVIRONMENT_KEYS, INCLUDE_KEYS, REPOSITORY_KEYS, SECRET_KEYS, SETTINGS_KEYS,
    TOP_KEYS, VERSION_KEYS,
};
pub use check::{check, looks_like_api_key};
pub use load::{MANIFEST_NAME, discover, load, load_at_commit, load_paths, tracked_summary};

use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::yaml::Span;

/// Declares a closed set of lowercase values: the enum, its wire names, and its schema.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const VALUES: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            fn parse(text: &str) -> Option<Self> {
                match text { $($wire => Some(Self::$variant),)+ _ => None }
            }

            /// The value for its wire name, as the API writes it.
            pub fn from_wire(text: &str) -> Option<Self> {
                Self::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice! {
    /// The algorithm's license. Only `apl` (Algorithmia Public License) allows closed source.
    License { Apl = "apl", Apache2 = "apache2", Gpl3 = "gpl3", Mit = "mit" }
}
choice! {
    /// Whether users may read the source.
    SourceVisibility { Open = "open", Closed = "closed" }
}
choice! {
    /// Whether the algorithm may reach the internet while it runs.
    NetworkAccess { Isolated = "isolated", Full = "full" }
}
choice! {
    /// Legacy runtime language (deprecated by Algorithmia in favour of environments).
    Language {
        Java = "java",
        Javascript = "javascript",
        Python2 = "python2-langpack",
        Python3 = "python3-1",
        R = "r",
        Ruby = "ruby",
        Rust = "rust",
        Scala = "scala",
    }
}
choice! {
    /// Legacy runtime machine type.
    Environment { Cpu = "cpu", Gpu = "gpu" }
}
choice! {
    /// Who may call a published version; only a major version may change it.
    Callability { Public = "public", Private = "private" }
}

/// The desired state of one algorithm, as declared in `algorithm.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "algorithm.yaml",
    description = "An Algorithmia algorithm managed by algodeploy: https://github.com/ (see README, \"The manifest\")"
)]
pub struct Manifest {
    /// The user or organization that owns the algorithm.
    #[schemars(length(min = 1, max = 30), pattern(r"^[A-Za-z][A-Za-z0-9_]*$"))]
    pub owner: String,
    /// The algorithm's name: a letter first, then letters, digits and `_`.
    #[schemars(length(min = 1), pattern(r"^[A-Za-z][A-Za-z0-9_]*$"))]
    pub name: String,
    pub details: Details,
    pub settings: Settings,
    pub version_info: VersionInfo,
    /// What the algorithm's git repository gets (algodeploy's own key, never sent to the
    /// API). Default: the manifest's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    /// Named environments (`--env NAME`): each overrides `owner`, `details`, `settings` and
    /// `version_info` fields (deep-merged over the ones above) and may name a profile of
    /// `~/.algorithmia/config` (its API, key and CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, EnvironmentOverride>>")]
    pub environments: Option<std::collections::BTreeMap<String, EnvironmentOverride>>,
    /// What the algorithm sees as environment variables, and where algodeploy reads each value
    /// when it applies (never from the repository).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
}

/// One secret: the variable the algorithm reads, and the variable algodeploy reads its value
/// from at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The environment variable the algorithm reads (A-Z, 0-9, `_`).
    #[schemars(pattern(r"^[A-Z_][A-Z0-9_]*$"))]
    pub name: String,
    /// The environment variable algodeploy reads the value from when it applies.
    #[schemars(pattern(r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub from_env: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One environment's overrides (deep-merged over the manifest's own values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentOverride {
    /// The profile of `~/.algorithmia/config` this environment deploys with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<serde_json::Value>,
    /// The environment's own `secrets` list (replaces the manifest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<serde_json::Value>,
}

/// What the algorithm's git repository is made of: a folder of this git repository (`root`),
/// plus other folders copied in (`include`). The manifest file itself and `.algodeploy/` are
/// never deployed. A root that is the repository's own root, with no includes, deploys HEAD
/// itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// The folder that becomes the root of the algorithm's repository, relative to the
    /// manifest; default `.` (the manifest's folder).
    #[serde(default = "Repository::default_root")]
    #[schemars(length(min = 1))]
    pub root: PathBuf,
    /// Other folders (or files) of the same git repository, copied in at `to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<Include>,
}

impl Repository {
    fn default_root() -> PathBuf {
        PathBuf::from(".")
    }
}

impl Default for Repository {
    fn default() -> Repository {
        Repository {
            root: Repository::default_root(),
            include: Vec::new(),
        }
    }
}

/// One folder copied into the algorithm's repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Include {
    /// A folder (or file) of this git repository, relative to the manifest.
    #[schemars(length(min = 1))]
    pub from: PathBuf,
    /// Where it lands in the algorithm's repository: a relative path such as `libs/common`.
    #[schemars(length(min = 1), pattern(r"^[^/]"))]
    pub to: PathBuf,
}

/// What users see on the algorithm's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = { "required": ["summary", "summary_file"] }))]
pub struct Details {
    /// Display name; may contain spaces. One line, at most 200 characters.
    #[schemars(length(min = 1, max = 200), pattern(r"^[^\r\n]*$"))]
    pub label: String,
    /// One-line description, at most 200 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), pattern(r"^[^\r\n]*$"))]
    pub tagline: Option<String>,
    /// Long description in Markdown. Give either this or `summary_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A UTF-8 file, relative to the manifest and inside the repository, whose text is the
    /// summary. Give either this or `summary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_file: Option<PathBuf>,
}

/// How the algorithm runs. Exactly one runtime: `language` with `environment`, or
/// `algorithm_environment`, or `package_set`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "oneOf" = [
        { "required": ["language", "environment"] },
        { "required": ["algorithm_environment"] },
        { "required": ["package_set"] }
    ],
    "if" = { "properties": { "source_visibility": { "const": "closed" } }, "required": ["source_visibility"] },
    "then" = { "properties": { "license": { "const": "apl" } } }
))]
pub struct Settings {
    pub license: License,
    /// `closed` only with license `apl`.
    pub source_visibility: SourceVisibility,
    pub network_access: NetworkAccess,
    /// Whether the algorithm may call other algorithms.
    pub pipeline_enabled: bool,
    /// Legacy runtime; needs `environment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Legacy runtime machine type; needs `language`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Modern runtime: the environment id (a UUID) from Algorithmia's environments API.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(
        r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub algorithm_environment: Option<String>,
    /// Runtime by package-set name, such as `python38`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub package_set: Option<String>,
    /// Royalty per call, in microcredits.
    #[serde(default)]
    pub royalty_microcredits: u64,
    /// Who may call published versions; applied when publishing. Changing it needs a major
    /// version.
    #[serde(default = "Settings::default_callability")]
    pub algorithm_callability: Callability,
}

impl Settings {
    fn default_callability() -> Callability {
        Callability::Private
    }
}

/// The version that `apply` publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// `MAJOR.MINOR.PATCH`, digits only. One bump (major, minor or patch) above the latest
    /// published version, or the latest published version itself.
    #[schemars(pattern(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$"))]
    pub semantic_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<String>,
    /// Example input: a string, or any YAML value (sent as its compact JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub sample_input: Option<String>,
    /// Example output: a string, or any YAML value (sent as its compact JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub sample_output: Option<String>,
}

/// A validated manifest and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The summary text: `details.summary`, or the text of `details.summary_file`.
    pub summary: Option<String>,
    /// The manifest's exact text, for the plan's staleness digest.
    pub source: String,
    /// Where `details.summary_file`'s value is, for diagnostics about the file found later
    /// (not tracked, not in HEAD).
    pub summary_file_span: Option<Span>,
    /// Each environment's merged manifest, checked like the base.
    pub environments: std::collections::BTreeMap<String, DeployEnvironment>,
    /// The environment this manifest was selected for (`--env`), if any.
    pub environment: Option<String>,
}

/// One environment of a manifest (`environments.NAME`), merged and checked.
#[derive(Debug, Clone)]
pub struct DeployEnvironment {
    pub profile: Option<String>,
    pub manifest: Manifest,
    pub summary: Option<String>,
}

impl Loaded {
    /// The names of its environments, for messages: `production, staging`.
    pub fn environment_names(&self) -> String {
        self.environments
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// This manifest as environment `name` deploys it.
    pub fn for_environment(&self, name: &str) -> Option<Loaded> {
        let env = self.environments.get(name)?;
        Some(Loaded {
            manifest: env.manifest.clone(),
            summary: env.summary.clone(),
            environment: Some(name.to_string()),
            ..self.clone()
        })
    }
}

/// The JSON Schema (2020-12) of `algorithm.yaml`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("a generated schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(schema: &serde_json::Value, def: Option<&str>) -> Vec<(String, bool)> {
        let object = match def {
            Some(name) => &schema["$defs"][name],
            None => schema,
        };
        let required: Vec<&str> = object["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let mut keys: Vec<(String, bool)> = object["properties"]
            .as_object()
            .expect("object schema")
            .keys()
            .map(|k| (k.clone(), required.contains(&k.as_str())))
            .collect();
        keys.sort();
        keys
    }

    fn table(keys: &[(&str, bool)]) -> Vec<(String, bool)> {
        let mut keys: Vec<_> = keys.iter().map(|(k, r)| ((*k).to_string(), *r)).collect();
        keys.sort();
        keys
    }

    #[test]
    fn walk_tables_match_the_generated_schema() {
        let schema = schema();
        assert_eq!(table(TOP_KEYS), properties(&schema, None));
        assert_eq!(table(DETAILS_KEYS), properties(&schema, Some("Details")));
        // Settings' defaults make royalty and callability optional in both.
        assert_eq!(table(SETTINGS_KEYS), properties(&schema, Some("Settings")));
        assert_eq!(
            table(VERSION_KEYS),
            properties(&schema, Some("VersionInfo"))
        );
        assert_eq!(
            table(REPOSITORY_KEYS),
            properties(&schema, Some("Repository"))
        );
        assert_eq!(table(INCLUDE_KEYS), properties(&schema, Some("Include")));
        assert_eq!(
            table(ENVIRONMENT_KEYS),
            properties(&schema, Some("EnvironmentOverride"))
        );
        assert_eq!(table(SECRET_KEYS), properties(&schema, Some("SecretSpec")));
    }

    #[test]
    fn schema_enums_are_the_walk_values() {
        let schema = schema();
        let values = |name: &str| -> Vec<String> {
            let def = &schema["$defs"][name];
            let list = def["enum"].as_array().cloned().unwrap_or_else(|| {
                def["oneOf"]
                    .as_array()
                    .expect("enum or oneOf")
                    .iter()
                    .map(|v| v["const"].clone())
                    .collect()
            });
            list.iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(values("License"), License::VALUES);
        assert_eq!(values("Language"), Language::VALUES);
        assert_eq!(values("Callability"), Callability::VALUES);
        assert_eq!(values("NetworkAccess"), NetworkAccess::VALUES);
    }

    #[test]
    fn api_key_shape() {
        assert!(looks_like_api_key("simAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert!(!looks_like_api_key("simAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert!(!looks_like_api_key("Simple sentence that is long"));
    }
}

//! The plan's types and their JSON (`format_version` 1; fields are only ever added).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::current::BuildStatus;
use crate::fields::Values;
use crate::manifest::Callability;
use crate::version::{Bump, Version};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Secret,
    Push,
    Test,
    Publish,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Secret => "*",
            Action::Push => ">",
            Action::Test => "=",
            Action::Publish => "^",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Secret => "secret",
            Action::Push => "push",
            Action::Test => "test",
            Action::Publish => "publish",
        }
    }
}

/// One field, before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// One step, with the exact request body apply sends for it (`request`; never a key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Step {
    Create {
        /// The algorithm's name, as sent.
        name: String,
        fields: Vec<Change>,
        request: Value,
    },
    Update {
        changes: Vec<Change>,
        request: Value,
    },
    /// Set, change or remove one secret. The value is read from `from_env` when apply runs:
    /// it is in no plan, request body or record.
    Secret {
        name: String,
        from_env: String,
        change: SecretChange,
        /// The live secret's id, for a change or a removal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_id: Option<String>,
        /// The request without the value: `short_name`, `description`, `secret_key`.
        request: Value,
    },
    Push {
        commit: String,
        remote: String,
        /// The platform's starter commit that this push replaces (pushed with a lease on
        /// exactly it, so that nothing anyone else pushed is overwritten).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// The smoke test: call the exact build with the sample input before publishing it.
    Test {
        commit: String,
        /// `version_info.sample_input`, sent as JSON when it parses as JSON, else as text.
        input: String,
        /// `version_info.sample_output`: the result must equal it (JSON-equal when both parse
        /// as JSON, else the exact text); `None`: the call must only succeed.
        expected: Option<String>,
    },
    Publish {
        from: Option<Version>,
        to: Version,
        bump: Bump,
        commit: String,
        callability: Callability,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_notes: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_input: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_output: Option<String>,
        request: Value,
    },
}

impl Step {
    pub fn action(&self) -> Action {
        match self {
            Step::Create { .. } => Action::Create,
            Step::Update { .. } => Action::Update,
            Step::Secret { .. } => Action::Secret,
            Step::Push { .. } => Action::Push,
            Step::Test { .. } => Action::Test,
            Step::Publish { .. } => Action::Publish,
        }
    }
}

/// What a secret step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretChange {
    /// The algorithm does not have it yet.
    Set,
    /// Its value here differs from the one this machine set.
    Changed,
    /// The algorithm has it, and this machine has no record of its value: set again.
    Unverified,
    /// The manifest no longer lists it (and algodeploy set it).
    Removed,
}

impl SecretChange {
    pub fn describe(self) -> &'static str {
        match self {
            SecretChange::Set => "set",
            SecretChange::Changed => "changed",
            SecretChange::Unverified => "will be set (no record to compare)",
            SecretChange::Removed => "removed",
        }
    }
}

/// HEAD's build, `"none"` in JSON when there is none.
mod head_build {
    use super::BuildStatus;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<BuildStatus>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_str("none"),
            Some(status) => status.serialize(serializer),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<BuildStatus>, D::Error> {
        let status = BuildStatus::deserialize(deserializer)?;
        Ok(match status {
            BuildStatus::Other(text) if text == "none" => None,
            other => Some(other),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitSummary {
    /// The repository's HEAD.
    pub head: String,
    /// The commit the algorithm's repository gets: HEAD itself, or the commit derived from
    /// the manifest's folders (`folders`).
    #[serde(default)]
    pub deploy_commit: String,
    /// The folders the deploy commit is made from (empty: HEAD itself is deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    pub branch: Option<String>,
    pub remote: String,
    pub remote_master: Option<String>,
    #[serde(with = "head_build")]
    pub build: Option<BuildStatus>,
    pub build_id: Option<String>,
}

impl GitSummary {
    /// The commit that is deployed (HEAD in plans made before deploy commits).
    pub fn deployed(&self) -> &str {
        if self.deploy_commit.is_empty() {
            &self.head
        } else {
            &self.deploy_commit
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmPlan {
    /// `owner/name`.
    pub algorithm: String,
    pub owner: String,
    pub name: String,
    /// The manifest's path as given (relative to `Plan::made_in` when relative).
    pub manifest: String,
    /// The environment (`--env`) the manifest was planned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The declared `version_info.semantic_version`.
    pub version: Version,
    /// The commit the declared version is already published from, if it is.
    pub published_from: Option<String>,
    pub steps: Vec<Step>,
    /// Fields changed on the server since the last apply (reported apart from `steps`).
    pub drift: Vec<Change>,
    /// What the manifest asks for that apply cannot do without a new version (each said once).
    #[serde(default)]
    pub pending: Vec<String>,
    pub notes: Vec<String>,
    pub git: GitSummary,
    /// The managed fields as the manifest has them: the record apply keeps afterwards.
    #[serde(default)]
    pub desired: Values,
    /// What the plan was made from, for `apply PLANFILE` to detect a stale plan.
    pub manifest_digest: String,
    pub live_digest: String,
}

impl AlgorithmPlan {
    pub fn has_changes(&self) -> bool {
        !self.steps.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub push: usize,
    #[serde(default)]
    pub test: usize,
    pub publish: usize,
    pub unchanged: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub secret: usize,
    /// Algorithms `--prune` deletes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub destroy: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An algorithm of an owner in the run that no manifest declares (`--prune`): `apply --prune`
/// deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    /// `owner/name`.
    pub algorithm: String,
    pub owner: String,
    pub name: String,
    /// Its published versions, newest first (their callers break when it is deleted).
    pub published: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    /// The folder the plan was made in (absolute): relative manifest paths start there.
    #[serde(default)]
    pub made_in: String,
    pub algorithms: Vec<AlgorithmPlan>,
    /// `--prune`: algorithms no manifest declares, deleted by `apply --prune`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prune: Vec<Orphan>,
    pub summary: Summary,
}

impl Plan {
    pub fn new(algorithms: Vec<AlgorithmPlan>, made_in: String) -> Plan {
        let mut summary = Summary::default();
        for algorithm in &algorithms {
            if algorithm.steps.is_empty() {
                summary.unchanged += 1;
            }
            for step in &algorithm.steps {
                match step.action() {
                    Action::Create => summary.create += 1,
                    Action::Update => summary.update += 1,
                    Action::Secret => summary.secret += 1,
                    Action::Push => summary.push += 1,
                    Action::Test => summary.test += 1,
                    Action::Publish => summary.publish += 1,
                }
            }
        }
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: crate::VERSION.into(),
            made_in,
            algorithms,
            prune: Vec::new(),
            summary,
        }
    }

    /// The plan with the algorithms `--prune` deletes.
    pub fn with_prune(mut self, prune: Vec<Orphan>) -> Plan {
        self.summary.destroy = prune.len();
        self.prune = prune;
        self
    }

    pub fn has_changes(&self) -> bool {
        self.algorithms.iter().any(AlgorithmPlan::has_changes) || !self.prune.is_empty()
    }

    /// Whether `text` is a saved plan (rather than a manifest): JSON with a `format_version`
    /// and `algorithms`.
    pub fn looks_like(text: &str) -> bool {
        serde_json::from_str::<Value>(text).is_ok_and(|v| {
            v.get("format_version").is_some() && v.get("algorithms").is_some_and(Value::is_array)
        })
    }
}

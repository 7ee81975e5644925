//! The current state of an algorithm on the service, as domain values: what `api/` converts
//! every answer into (once, at the edge), what a plan compares against, and what `import`
//! writes a manifest from. No wire type crosses this line.

use serde::{Deserialize, Serialize};

use crate::fields::Values;
use crate::manifest::Callability;
use crate::version::Version;

/// Everything the live service holds for one algorithm that a plan compares against (read by
/// `live.rs`): the one name for current state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub algorithm: Option<Algorithm>,
    pub published: Vec<Published>,
    /// The newest build of HEAD's commit.
    pub head_build: Option<Build>,
    pub remote_master: Option<String>,
    /// Whether the remote `master` is HEAD or in HEAD's history (a push fast-forwards).
    pub master_in_head: bool,
    /// Whether the remote `master` is the only commit ever built: the platform's starter
    /// template, which the first push of the user's own history replaces.
    pub master_is_starter: bool,
    pub remote: String,
    /// The declared version is published from another commit that deploys the same code as
    /// the deploy commit (they differ only in the manifest): nothing to push or publish.
    pub declared_same_code: bool,
    /// The algorithm's secrets (names and ids; read when the manifest or the record has any).
    pub secrets: Vec<LiveSecret>,
    /// The remote `master` is a rollback commit algodeploy made (`algodeploy rollback`) on top
    /// of commits the deploy commit contains: the next publish replaces it (with a lease).
    pub master_is_rollback: bool,
}

/// The live algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct Algorithm {
    pub id: String,
    /// The managed fields ([`crate::fields::FIELDS`]).
    pub fields: Values,
    /// `settings.algorithm_callability` as the service has it now.
    pub callability: Option<Callability>,
}

/// A published version.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub version: Version,
    /// The commit it was built from (40 or 64 hex digits, checked at the edge).
    pub commit: String,
    pub callability: Option<Callability>,
    pub release_notes: Option<String>,
    pub sample_input: Option<String>,
    pub sample_output: Option<String>,
}

/// A secret of the live algorithm: its id and the variable name (values are never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSecret {
    pub id: String,
    pub name: String,
}

/// A build of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub id: String,
    pub commit: String,
    pub status: BuildStatus,
    /// When it finished (the server's text), if it has.
    pub finished_at: Option<String>,
}

/// A build's state. Statuses this version does not know are kept (and waited on), never
/// taken for a failure or a success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    #[serde(untagged)]
    Other(String),
}

impl BuildStatus {
    pub fn from_wire(text: &str) -> BuildStatus {
        match text {
            "queued" | "pending" => BuildStatus::Queued,
            "in-progress" | "in_progress" | "running" => BuildStatus::InProgress,
            "succeeded" | "success" => BuildStatus::Succeeded,
            "failed" | "failure" | "error" => BuildStatus::Failed,
            other => BuildStatus::Other(crate::sanitize::line(other, None, 40)),
        }
    }

    /// Succeeded or failed: nothing more will happen to it.
    pub fn is_finished(&self) -> bool {
        matches!(self, BuildStatus::Succeeded | BuildStatus::Failed)
    }

    pub fn describe(&self) -> String {
        match self {
            BuildStatus::Queued => "build queued".into(),
            BuildStatus::InProgress => "build in progress".into(),
            BuildStatus::Succeeded => "build succeeded".into(),
            BuildStatus::Failed => "build failed".into(),
            BuildStatus::Other(status) => format!("build `{status}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_kept_and_unfinished() {
        let status = BuildStatus::from_wire("warming-up");
        assert_eq!(status, BuildStatus::Other("warming-up".into()));
        assert!(!status.is_finished());
        assert!(!BuildStatus::from_wire("queued").is_finished());
        assert_eq!(
            serde_json::to_string(&BuildStatus::InProgress).unwrap(),
            "\"in-progress\""
        );
    }
}

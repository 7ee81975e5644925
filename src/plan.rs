//! The plan: a value computed by a pure function from the desired state (the manifest), the
//! live state (the API and the git remote), the local git state and the last-applied record.
//! `apply` executes exactly its steps and never re-diffs; text and JSON render it.
//!
//! The user's vocabulary is [`Action`]: one symbol and one verb per step, the same in code,
//! output, JSON and README:
//!
//! | symbol | action | meaning |
//! |---|---|---|
//! | `+` | `create` | create the algorithm |
//! | `~` | `update` | change details or settings in place |
//! | `>` | `push` | push HEAD to the algorithm's `master` (apply `--push`) |
//! | `^` | `publish` | wait for HEAD's build, then publish the declared version from it |

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::{BuildInfo, PublishedVersion, RemoteAlgorithm};
use crate::git::{GitState, short};
use crate::manifest::{Callability, Loaded, parse_version};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Push,
    Publish,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Push => ">",
            Action::Publish => "^",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Push => "push",
            Action::Publish => "publish",
        }
    }
}

/// Which part of the version a publish bumps (Algorithmia's `version_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Major,
    Minor,
    Revision,
}

impl Bump {
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::Major => "major",
            Bump::Minor => "minor",
            Bump::Revision => "revision",
        }
    }

    fn apply(self, (major, minor, patch): (u64, u64, u64)) -> (u64, u64, u64) {
        match self {
            Bump::Major => (major + 1, 0, 0),
            Bump::Minor => (major, minor + 1, 0),
            Bump::Revision => (major, minor, patch + 1),
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Step {
    Create {
        fields: Vec<Change>,
    },
    Update {
        changes: Vec<Change>,
    },
    Push {
        commit: String,
        remote: String,
    },
    Publish {
        from: Option<String>,
        to: String,
        bump: Bump,
        commit: String,
        callability: Callability,
    },
}

impl Step {
    pub fn action(&self) -> Action {
        match self {
            Step::Create { .. } => Action::Create,
            Step::Update { .. } => Action::Update,
            Step::Push { .. } => Action::Push,
            Step::Publish { .. } => Action::Publish,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildStatus {
    None,
    InProgress,
    Succeeded,
    Failed,
}

impl BuildStatus {
    fn from_api(status: &str) -> BuildStatus {
        match status {
            "succeeded" => BuildStatus::Succeeded,
            "failed" => BuildStatus::Failed,
            _ => BuildStatus::InProgress,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitSummary {
    pub head: String,
    pub branch: Option<String>,
    pub remote: String,
    pub remote_master: Option<String>,
    pub build: BuildStatus,
    pub build_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmPlan {
    /// `owner/name`.
    pub algorithm: String,
    pub manifest: String,
    /// The declared `version_info.semantic_version`.
    pub version: String,
    /// The commit the declared version is already published from, if it is.
    pub published_from: Option<String>,
    pub steps: Vec<Step>,
    /// Fields changed on the server since the last apply (reported apart from `steps`).
    pub drift: Vec<Change>,
    pub notes: Vec<String>,
    pub git: GitSummary,
    /// What the plan was made from, for `apply --plan` to detect a stale plan.
    pub manifest_digest: String,
    pub live_digest: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub push: usize,
    pub publish: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    pub algorithms: Vec<AlgorithmPlan>,
    pub summary: Summary,
}

impl Plan {
    pub fn new(algorithms: Vec<AlgorithmPlan>) -> Plan {
        let mut summary = Summary::default();
        for algorithm in &algorithms {
            if algorithm.steps.is_empty() {
                summary.unchanged += 1;
            }
            for step in &algorithm.steps {
                match step.action() {
                    Action::Create => summary.create += 1,
                    Action::Update => summary.update += 1,
                    Action::Push => summary.push += 1,
                    Action::Publish => summary.publish += 1,
                }
            }
        }
        Plan {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            algorithms,
            summary,
        }
    }

    pub fn has_changes(&self) -> bool {
        self.algorithms.iter().any(|a| !a.steps.is_empty())
    }
}

/// What the live service holds for one algorithm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub algorithm: Option<RemoteAlgorithm>,
    pub published: Vec<PublishedVersion>,
    /// The newest build of HEAD's commit.
    pub head_build: Option<BuildInfo>,
    pub remote_master: Option<String>,
    pub remote: String,
}

/// Why no plan can be made: a precondition the user must fix (exit 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub algorithm: String,
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.algorithm, self.message)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub strict_version: bool,
}

/// Fields that are left alone unless the manifest (or the last apply) names them.
const OPTIONAL: &[&str] = &["details.tagline", "details.summary"];
/// Every field a plan compares, in display order.
pub const MANAGED: &[&str] = &[
    "details.label",
    "details.tagline",
    "details.summary",
    "settings.license",
    "settings.source_visibility",
    "settings.network_access",
    "settings.pipeline_enabled",
    "settings.language",
    "settings.environment",
    "settings.algorithm_environment",
    "settings.package_set",
    "settings.royalty_microcredits",
];

/// The manifest's managed fields as API values.
pub fn desired_fields(loaded: &Loaded) -> BTreeMap<String, Value> {
    let m = &loaded.manifest;
    let s = &m.settings;
    let mut fields = BTreeMap::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            fields.insert(key.to_string(), value);
        }
    };
    put("details.label", Some(m.details.label.clone().into()));
    put(
        "details.tagline",
        m.details.tagline.clone().map(Value::from),
    );
    put("details.summary", loaded.summary.clone().map(Value::from));
    put("settings.license", Some(s.license.as_str().into()));
    put(
        "settings.source_visibility",
        Some(s.source_visibility.as_str().into()),
    );
    put(
        "settings.network_access",
        Some(s.network_access.as_str().into()),
    );
    put("settings.pipeline_enabled", Some(s.pipeline_enabled.into()));
    put("settings.language", s.language.map(|l| l.as_str().into()));
    put(
        "settings.environment",
        s.environment.map(|e| e.as_str().into()),
    );
    put(
        "settings.algorithm_environment",
        s.algorithm_environment.clone().map(Value::from),
    );
    put(
        "settings.package_set",
        s.package_set.clone().map(Value::from),
    );
    put(
        "settings.royalty_microcredits",
        Some(s.royalty_microcredits.into()),
    );
    fields
}

/// The live algorithm's managed fields.
pub fn live_fields(algorithm: &RemoteAlgorithm) -> BTreeMap<String, Value> {
    let mut fields = BTreeMap::new();
    for key in MANAGED {
        let (section, name) = key.split_once('.').expect("dotted");
        let map = if section == "details" {
            &algorithm.details
        } else {
            &algorithm.settings
        };
        match map.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => {
                fields.insert((*key).to_string(), value.clone());
            }
        }
    }
    fields
}

/// Desired against live, field by field. Optional fields the manifest leaves out are not
/// managed unless the last apply set them (then leaving them out removes them).
fn changes(
    desired: &BTreeMap<String, Value>,
    live: &BTreeMap<String, Value>,
    applied: Option<&BTreeMap<String, Value>>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for key in MANAGED {
        let want = desired.get(*key);
        let have = live.get(*key);
        if want.is_none()
            && OPTIONAL.contains(key)
            && !applied.is_some_and(|a| a.contains_key(*key))
        {
            continue;
        }
        // With an environment id the service reports the package set it resolves to.
        if *key == "settings.package_set"
            && desired.contains_key("settings.algorithm_environment")
            && want.is_none()
        {
            continue;
        }
        if want != have {
            changes.push(Change {
                field: (*key).to_string(),
                before: have.cloned(),
                after: want.cloned(),
            });
        }
    }
    changes
}

fn drift(applied: &BTreeMap<String, Value>, live: &BTreeMap<String, Value>) -> Vec<Change> {
    MANAGED
        .iter()
        .filter_map(|key| {
            let was = applied.get(*key);
            let now = live.get(*key);
            (was.is_some() && was != now).then(|| Change {
                field: (*key).to_string(),
                before: was.cloned(),
                after: now.cloned(),
            })
        })
        .collect()
}

fn format_version((a, b, c): (u64, u64, u64)) -> String {
    format!("{a}.{b}.{c}")
}

/// sha256 of the live facts a plan depends on; builds finishing do not count.
pub fn live_digest(live: &Live) -> String {
    let mut published: Vec<(String, String)> = live
        .published
        .iter()
        .map(|p| (p.semantic_version.clone(), p.git_hash.clone()))
        .collect();
    published.sort();
    let facts = serde_json::json!({
        "exists": live.algorithm.is_some(),
        "fields": live.algorithm.as_ref().map(live_fields),
        "published": published,
        "remote_master": live.remote_master,
    });
    hex(&Sha256::digest(facts.to_string().as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What the manifest was, for staleness: its bytes and the summary file's text.
pub fn manifest_digest(source: &[u8], summary: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source);
    hasher.update([0]);
    hasher.update(summary.unwrap_or("").as_bytes());
    hex(&hasher.finalize())
}

/// Compute the plan for one algorithm.
pub fn plan(
    loaded: &Loaded,
    git: &GitState,
    live: &Live,
    applied: Option<&crate::state::Record>,
    options: Options,
) -> Result<AlgorithmPlan, Conflict> {
    let m = &loaded.manifest;
    let algorithm = format!("{}/{}", m.owner, m.name);
    let conflict = |message: String, hint: String| Conflict {
        algorithm: algorithm.clone(),
        message,
        hint,
    };
    let desired = desired_fields(loaded);
    let applied_fields = applied.map(|r| &r.fields);
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut drift_list = Vec::new();

    match &live.algorithm {
        None => steps.push(Step::Create {
            fields: MANAGED
                .iter()
                .filter_map(|k| {
                    desired.get(*k).map(|v| Change {
                        field: (*k).to_string(),
                        before: None,
                        after: Some(v.clone()),
                    })
                })
                .collect(),
        }),
        Some(remote) => {
            let live_now = live_fields(remote);
            let changed = changes(&desired, &live_now, applied_fields);
            if !changed.is_empty() {
                steps.push(Step::Update { changes: changed });
            }
            if let Some(applied) = applied_fields {
                drift_list = drift(applied, &live_now);
            }
        }
    }

    // Versions.
    let declared_text = &m.version_info.semantic_version;
    let declared = parse_version(declared_text).expect("a validated manifest has a valid version");
    let mut published: Vec<((u64, u64, u64), &PublishedVersion)> = live
        .published
        .iter()
        .filter_map(|p| parse_version(&p.semantic_version).map(|v| (v, p)))
        .collect();
    published.sort_by_key(|(v, _)| *v);
    let latest = published.last().copied();
    let head = &git.head;
    let head_published = published
        .iter()
        .find(|(_, p)| p.git_hash == *head)
        .map(|(_, p)| *p);
    let already = published
        .iter()
        .find(|(v, _)| *v == declared)
        .map(|(_, p)| *p);
    let mut publish = None;
    if let Some(existing) = already {
        if existing.git_hash != *head {
            let message = format!(
                "{declared_text} was published from {}; HEAD {} is not published: bump semantic_version to publish it",
                short(&existing.git_hash),
                short(head)
            );
            if options.strict_version {
                return Err(conflict(
                    message,
                    format!(
                        "set `version_info.semantic_version` to one of {}",
                        valid_after(latest.map(|(v, _)| v)).join(", ")
                    ),
                ));
            }
            notes.push(message);
        }
    } else {
        let bases: Vec<Bump> = [Bump::Major, Bump::Minor, Bump::Revision]
            .into_iter()
            .filter(|b| b.apply(latest.map_or((0, 0, 0), |(v, _)| v)) == declared)
            .collect();
        let valid = valid_after(latest.map(|(v, _)| v));
        let Some(bump) = bases.first().copied() else {
            let message = match latest {
                Some((v, _)) if declared < v => format!(
                    "semantic_version {declared_text} is lower than the latest published version {}",
                    format_version(v)
                ),
                Some((v, _)) => format!(
                    "semantic_version {declared_text} is not one bump above the latest published version {}",
                    format_version(v)
                ),
                None => format!("semantic_version {declared_text} cannot be the first version"),
            };
            return Err(conflict(
                message,
                format!("valid versions now: {}", valid.join(", ")),
            ));
        };
        if let Some(done) = head_published {
            return Err(conflict(
                format!("HEAD {} is already published as {}; a new version needs a new commit", short(head), done.semantic_version),
                "commit your change, or set `version_info.semantic_version` back to the published version".into(),
            ));
        }
        let callability = m.settings.algorithm_callability;
        if let Some((_, previous)) = latest
            && let Some(before) = &previous.callability
            && before != callability.as_str()
            && bump != Bump::Major
        {
            return Err(conflict(
                format!(
                    "algorithm_callability changes from {before} to {callability}, which needs a major version; {declared_text} is a {} bump",
                    bump.as_str()
                ),
                format!(
                    "set `version_info.semantic_version` to {}",
                    format_version(Bump::Major.apply(latest.map_or((0, 0, 0), |(v, _)| v)))
                ),
            ));
        }
        publish = Some(Step::Publish {
            from: latest.map(|(v, _)| format_version(v)),
            to: declared_text.clone(),
            bump,
            commit: head.clone(),
            callability,
        });
    }
    if let Some(step) = publish {
        if live.remote_master.as_deref() != Some(head.as_str()) {
            steps.push(Step::Push {
                commit: head.clone(),
                remote: live.remote.clone(),
            });
        }
        match live.head_build.as_ref().map(|b| BuildStatus::from_api(&b.status)) {
            Some(BuildStatus::Failed) if live.remote_master.as_deref() == Some(head.as_str()) => notes.push(format!(
                "the build of HEAD {} failed; apply will stop with its log: fix the code, commit and push",
                short(head)
            )),
            _ => {}
        }
        steps.push(step);
    } else if live.remote_master.as_deref() != Some(head.as_str())
        && live.algorithm.is_some()
        && already.is_some_and(|p| p.git_hash == *head)
    {
        notes.push(format!(
            "the remote `master` is not HEAD {}; nothing to publish",
            short(head)
        ));
    }

    let build = live.head_build.as_ref();
    Ok(AlgorithmPlan {
        algorithm,
        manifest: crate::diagnostic::display_path(&loaded.path),
        version: declared_text.clone(),
        published_from: already.map(|p| p.git_hash.clone()),
        steps,
        drift: drift_list,
        notes,
        git: GitSummary {
            head: head.clone(),
            branch: git.branch.clone(),
            remote: live.remote.clone(),
            remote_master: live.remote_master.clone(),
            build: build.map_or(BuildStatus::None, |b| BuildStatus::from_api(&b.status)),
            build_id: build.map(|b| b.id.clone()),
        },
        manifest_digest: manifest_digest(loaded.source.as_bytes(), loaded.summary.as_deref()),
        live_digest: live_digest(live),
    })
}

fn valid_after(latest: Option<(u64, u64, u64)>) -> Vec<String> {
    let base = latest.unwrap_or((0, 0, 0));
    [Bump::Major, Bump::Minor, Bump::Revision]
        .into_iter()
        .map(|b| format_version(b.apply(base)))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Text rendering

fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

fn is_multiline(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_str)
        .is_some_and(|s| s.contains('\n'))
}

fn render_change(out: &mut String, change: &Change, indent: &str, labels: (&str, &str)) {
    let (before, after) = (change.before.as_ref(), change.after.as_ref());
    if is_multiline(before) || is_multiline(after) {
        let _ = writeln!(out, "{indent}{}:", change.field);
        let old = before.and_then(Value::as_str).unwrap_or("");
        let new = after.and_then(Value::as_str).unwrap_or("");
        let diff = similar::TextDiff::from_lines(old, new);
        for op in diff.ops() {
            for line in diff.iter_changes(op) {
                let sign = match line.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => " ",
                };
                let _ = writeln!(
                    out,
                    "{indent}    {sign} {}",
                    line.value().trim_end_matches('\n')
                );
            }
        }
    } else if labels.0.is_empty() {
        let _ = writeln!(
            out,
            "{indent}{}: {} → {}",
            change.field,
            show(before),
            show(after)
        );
    } else {
        let _ = writeln!(
            out,
            "{indent}{}: {} ({}) → {} ({})",
            change.field,
            show(before),
            labels.0,
            show(after),
            labels.1
        );
    }
}

impl AlgorithmPlan {
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} ({})", self.algorithm, self.manifest);
        let git = &self.git;
        let branch = git
            .branch
            .as_deref()
            .map_or_else(|| "detached".to_string(), str::to_owned);
        let pushed = if git.remote_master.as_deref() == Some(git.head.as_str()) {
            "pushed"
        } else {
            "not pushed"
        };
        let build = match git.build {
            BuildStatus::None => "no build yet",
            BuildStatus::InProgress => "build in progress",
            BuildStatus::Succeeded => "build succeeded",
            BuildStatus::Failed => "build failed",
        };
        let _ = writeln!(
            out,
            "  HEAD {} ({branch}): {pushed}, {build}",
            short(&git.head)
        );
        if self.steps.is_empty() {
            let _ = writeln!(out, "  no changes: {} is published from HEAD", self.version);
        }
        for step in &self.steps {
            let action = step.action();
            let (symbol, verb) = (action.symbol(), action.verb());
            match step {
                Step::Create { fields } => {
                    let _ = writeln!(out, "  {symbol} {verb} {}", self.algorithm);
                    for change in fields {
                        let mut created = change.clone();
                        created.before = None;
                        if is_multiline(change.after.as_ref()) {
                            render_change(&mut out, &created, "      ", ("", ""));
                        } else {
                            let _ = writeln!(
                                out,
                                "      {}: {}",
                                change.field,
                                show(change.after.as_ref())
                            );
                        }
                    }
                }
                Step::Update { changes } => {
                    let _ = writeln!(out, "  {symbol} {verb} {}", self.algorithm);
                    for change in changes {
                        render_change(&mut out, change, "      ", ("", ""));
                    }
                }
                Step::Push { commit, remote } => {
                    let _ = writeln!(
                        out,
                        "  {symbol} {verb} {} to master of {remote}",
                        short(commit)
                    );
                }
                Step::Publish {
                    from,
                    to,
                    bump,
                    commit,
                    callability,
                } => {
                    let from = from
                        .as_deref()
                        .map_or_else(|| "first version".to_string(), |f| format!("from {f}"));
                    let _ = writeln!(
                        out,
                        "  {symbol} {verb} {to} ({from}, {} bump) built from {}, callability {callability}",
                        bump.as_str(),
                        short(commit)
                    );
                }
            }
        }
        if !self.drift.is_empty() {
            let _ = writeln!(
                out,
                "  drift: changed outside algodeploy since the last apply"
            );
            for change in &self.drift {
                render_change(&mut out, change, "      ", ("last applied", "live"));
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

impl Plan {
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for (i, algorithm) in self.algorithms.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&algorithm.render_text());
        }
        out.push('\n');
        let s = &self.summary;
        if self.has_changes() {
            let _ = writeln!(
                out,
                "Plan: {} to create, {} to update, {} to push, {} to publish.",
                s.create, s.update, s.push, s.publish
            );
        } else {
            let _ = writeln!(
                out,
                "No changes: {} up to date.",
                if s.unchanged == 1 {
                    "the algorithm is".to_string()
                } else {
                    format!("{} algorithms are", s.unchanged)
                }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn loaded(version: &str) -> Loaded {
        let text = format!(
            "owner: demo\nname: hello\ndetails:\n  label: Hello\n  summary: |\n    one\n    two\nsettings:\n  license: mit\n  source_visibility: open\n  network_access: isolated\n  pipeline_enabled: false\n  package_set: python38\n  algorithm_callability: public\nversion_info:\n  semantic_version: {version}\n"
        );
        crate::manifest::check(
            std::path::Path::new("algorithm.yaml"),
            text.as_bytes(),
            std::path::Path::new("."),
        )
        .unwrap()
    }

    fn git() -> GitState {
        GitState {
            root: ".".into(),
            head: "b".repeat(40),
            branch: Some("main".into()),
            dirty: vec![],
        }
    }

    fn remote(manifest: &Manifest) -> RemoteAlgorithm {
        let fields = desired_fields(&Loaded {
            path: "a".into(),
            manifest: manifest.clone(),
            summary: Some("one\ntwo\n".into()),
            source: String::new(),
            summary_file_span: None,
        });
        let mut details = serde_json::Map::new();
        let mut settings = serde_json::Map::new();
        for (k, v) in fields {
            let (section, name) = k.split_once('.').unwrap();
            if section == "details" {
                details.insert(name.into(), v)
            } else {
                settings.insert(name.into(), v)
            };
        }
        RemoteAlgorithm {
            id: "id".into(),
            owner: "demo".into(),
            name: "hello".into(),
            details,
            settings,
        }
    }

    fn published(version: &str, hash: &str, callability: &str) -> PublishedVersion {
        PublishedVersion {
            semantic_version: version.into(),
            git_hash: hash.into(),
            callability: Some(callability.into()),
            release_notes: None,
            sample_input: None,
            sample_output: None,
        }
    }

    #[test]
    fn first_deploy_creates_pushes_and_publishes() {
        let plan = plan(
            &loaded("1.0.0"),
            &git(),
            &Live {
                remote: "r".into(),
                ..Live::default()
            },
            None,
            Options::default(),
        )
        .unwrap();
        let actions: Vec<Action> = plan.steps.iter().map(Step::action).collect();
        assert_eq!(actions, [Action::Create, Action::Push, Action::Publish]);
        assert!(matches!(
            &plan.steps[2],
            Step::Publish {
                bump: Bump::Major,
                from: None,
                ..
            }
        ));
    }

    #[test]
    fn converged_state_has_no_steps() {
        let l = loaded("1.0.0");
        let live = Live {
            algorithm: Some(remote(&l.manifest)),
            published: vec![published("1.0.0", &"b".repeat(40), "public")],
            remote_master: Some("b".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let plan = plan(&l, &git(), &live, None, Options::default()).unwrap();
        assert_eq!(plan.steps, vec![]);
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    }

    #[test]
    fn versions_must_be_one_bump_above_the_latest() {
        let l = loaded("1.2.0");
        let mut live = Live {
            algorithm: Some(remote(&l.manifest)),
            remote: "r".into(),
            ..Live::default()
        };
        live.published = vec![published("1.0.0", "a", "public")];
        let err = plan(&l, &git(), &live, None, Options::default()).unwrap_err();
        assert!(
            err.message.contains("not one bump above") && err.hint.contains("2.0.0, 1.1.0, 1.0.1"),
            "{err:?}"
        );
        let l = loaded("0.9.0");
        let err = plan(&l, &git(), &live, None, Options::default()).unwrap_err();
        assert!(
            err.message
                .contains("lower than the latest published version 1.0.0"),
            "{err:?}"
        );
        let l = loaded("1.0.1");
        let ok = plan(&l, &git(), &live, None, Options::default()).unwrap();
        assert!(matches!(
            ok.steps.last(),
            Some(Step::Publish {
                bump: Bump::Revision,
                ..
            })
        ));
    }

    #[test]
    fn a_version_published_from_another_commit_is_a_note_or_strict_error() {
        let l = loaded("1.0.0");
        let live = Live {
            algorithm: Some(remote(&l.manifest)),
            published: vec![published("1.0.0", &"a".repeat(40), "public")],
            remote_master: Some("a".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let p = plan(&l, &git(), &live, None, Options::default()).unwrap();
        assert_eq!(p.steps, vec![]);
        assert_eq!(
            p.notes,
            [
                "1.0.0 was published from aaaaaaa; HEAD bbbbbbb is not published: bump semantic_version to publish it"
            ]
        );
        assert!(
            plan(
                &l,
                &git(),
                &live,
                None,
                Options {
                    strict_version: true
                }
            )
            .is_err()
        );
    }

    #[test]
    fn callability_changes_need_a_major_bump() {
        let l = loaded("1.1.0");
        let live = Live {
            algorithm: Some(remote(&l.manifest)),
            published: vec![published("1.0.0", "a", "private")],
            remote: "r".into(),
            ..Live::default()
        };
        let err = plan(&l, &git(), &live, None, Options::default()).unwrap_err();
        assert!(err.message.contains("needs a major version"), "{err:?}");
    }

    #[test]
    fn drift_is_reported_apart_from_changes() {
        let l = loaded("1.0.0");
        let mut algorithm = remote(&l.manifest);
        algorithm
            .details
            .insert("label".into(), "Edited in the web UI".into());
        let record = crate::state::Record {
            format_version: 1,
            tool_version: "x".into(),
            algorithm: "demo/hello".into(),
            algorithm_id: "id".into(),
            manifest_digest: String::new(),
            fields: desired_fields(&l),
            version: None,
            commit: None,
            applied_at: String::new(),
        };
        let live = Live {
            algorithm: Some(algorithm),
            published: vec![published("1.0.0", &"b".repeat(40), "public")],
            remote_master: Some("b".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let p = plan(&l, &git(), &live, Some(&record), Options::default()).unwrap();
        assert_eq!(p.drift.len(), 1);
        assert_eq!(p.drift[0].field, "details.label");
        assert!(matches!(&p.steps[0], Step::Update { changes } if changes.len() == 1));
    }
}

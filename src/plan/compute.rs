//! Computing a plan: desired against current, field by field ([`crate::fields::FIELDS`]),
//! the version rules (`docs/api/decisions.md`: one bump; callability only with a major), git
//! (pushed or not, HEAD's build), and the exact request of each step. Pure: no IO.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::model::{AlgorithmPlan, Change, GitSummary, SecretChange, Step};
use crate::current::{BuildStatus, Live};
use crate::deploy::Source;
use crate::fields::{self, Compare, FIELDS, Values};
use crate::git::{GitState, short};
use crate::manifest::Loaded;
use crate::version::{self, Bump, Version};

/// What `rollback` writes at the start of a rollback's release notes.
pub const ROLLBACK_NOTE: &str = "Rollback to ";

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
    /// `--skip-smoke-test`: publish without calling the build with its sample input first.
    pub skip_smoke_test: bool,
}

/// Desired against current, field by field, as [`Compare`] says.
fn changes(desired: &Values, current: &Values, applied: Option<&Values>) -> Vec<Change> {
    let mut changes = Vec::new();
    for field in FIELDS {
        let key = field.key;
        let want = desired.get(key);
        let have = current.get(key);
        let skip = match field.compare {
            Compare::Exact => false,
            Compare::Optional => want.is_none() && !applied.is_some_and(|a| a.contains_key(key)),
            Compare::ResolvedFromEnvironment => {
                want.is_none() && desired.contains_key("settings.algorithm_environment")
            }
        };
        if !skip && want != have {
            changes.push(Change {
                field: key.to_string(),
                before: have.cloned(),
                after: want.cloned(),
            });
        }
    }
    changes
}

fn drift(applied: &Values, current: &Values) -> Vec<Change> {
    FIELDS
        .iter()
        .filter_map(|f| {
            let was = applied.get(f.key);
            let now = current.get(f.key);
            (was.is_some() && was != now).then(|| Change {
                field: f.key.to_string(),
                before: was.cloned(),
                after: now.cloned(),
            })
        })
        .collect()
}

/// sha256 of the live facts a plan depends on; builds finishing do not count.
pub fn live_digest(live: &Live) -> String {
    let mut published: Vec<(String, String)> = live
        .published
        .iter()
        .map(|p| (p.version.to_string(), p.commit.clone()))
        .collect();
    published.sort();
    let facts = json!({
        "exists": live.algorithm.is_some(),
        "fields": live.algorithm.as_ref().map(|a| &a.fields),
        "published": published,
        "remote_master": live.remote_master,
    });
    algodeploy_platform::hex(&Sha256::digest(facts.to_string().as_bytes()))
}

/// What the manifest was, for staleness: its bytes and the summary's text.
pub fn manifest_digest(source: &[u8], summary: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source);
    hasher.update([0]);
    hasher.update(summary.unwrap_or("").as_bytes());
    algodeploy_platform::hex(&hasher.finalize())
}

/// The create request: the name, and every desired field in its section.
fn create_request(name: &str, desired: &Values) -> Value {
    let (details, settings) = fields::sections(desired, &[]);
    json!({"name": name, "details": details, "settings": settings})
}

/// The update request: every desired field (the service replaces details and settings as a
/// whole), and `null` for optional details the plan removes.
fn update_request(desired: &Values, changes: &[Change]) -> Value {
    let removed: Vec<String> = changes
        .iter()
        .filter(|c| c.after.is_none())
        .map(|c| c.field.clone())
        .collect();
    let (details, settings) = fields::sections(desired, &removed);
    json!({"details": details, "settings": settings})
}

/// The publish request (`docs/api/decisions.md`: `version_type` plus the declared
/// `semantic_version` and `git_hash`, callability in `settings`).
pub fn publish_request(
    bump: Bump,
    to: Version,
    commit: &str,
    callability: crate::manifest::Callability,
    info: &crate::manifest::VersionInfo,
) -> Value {
    let mut version_info = json!({
        "version_type": bump.as_str(),
        "semantic_version": to.to_string(),
        "git_hash": commit,
        "insights_enabled": false,
    });
    for (key, value) in [
        ("release_notes", &info.release_notes),
        ("sample_input", &info.sample_input),
        ("sample_output", &info.sample_output),
    ] {
        if let Some(value) = value {
            version_info[key] = value.clone().into();
        }
    }
    json!({"settings": {"algorithm_callability": callability.as_str()}, "version_info": version_info})
}

/// Compute the plan for one algorithm.
pub fn plan(
    loaded: &Loaded,
    git: &GitState,
    source: &Source,
    live: &Live,
    applied: Option<&crate::state::Record>,
    secrets: &[crate::secrets::SecretInput],
    options: Options,
) -> Result<AlgorithmPlan, Conflict> {
    let m = &loaded.manifest;
    let algorithm = format!("{}/{}", m.owner, m.name);
    let conflict = |message: String, hint: String| Conflict {
        algorithm: algorithm.clone(),
        message,
        hint,
    };
    let desired = fields::desired(loaded);
    let applied_fields = applied.map(|r| &r.fields);
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut pending = Vec::new();
    let mut drift_list = Vec::new();

    match &live.algorithm {
        None => steps.push(Step::Create {
            name: m.name.clone(),
            fields: FIELDS
                .iter()
                .filter_map(|f| {
                    desired.get(f.key).map(|v| Change {
                        field: f.key.to_string(),
                        before: None,
                        after: Some(v.clone()),
                    })
                })
                .collect(),
            request: create_request(&m.name, &desired),
        }),
        Some(current) => {
            let changed = changes(&desired, &current.fields, applied_fields);
            if !changed.is_empty() {
                steps.push(Step::Update {
                    request: update_request(&desired, &changed),
                    changes: changed,
                });
            }
            if let Some(applied) = applied_fields {
                drift_list = drift(applied, &current.fields);
            }
        }
    }

    // Secrets: set what the algorithm lacks, change what differs from what this machine set,
    // set again what it cannot compare, remove what algodeploy set and the manifest dropped.
    let recorded = applied.map(|r| &r.secrets);
    for input in secrets {
        let spec = &input.spec;
        let found = live.secrets.iter().find(|s| s.name == spec.name);
        let change = match (
            found,
            recorded.and_then(|r| r.get(&spec.name)),
            &input.fingerprint,
        ) {
            (None, _, _) => Some(SecretChange::Set),
            (Some(_), Some(old), Some(new)) if old == new => None,
            (Some(_), Some(_), Some(_)) => Some(SecretChange::Changed),
            (Some(_), _, _) => Some(SecretChange::Unverified),
        };
        if input.fingerprint.is_none() {
            notes.push(format!(
                "the secret {} is read from ${}, which is not set here: apply needs it",
                spec.name, spec.from_env
            ));
        }
        if let Some(change) = change {
            steps.push(Step::Secret {
                name: spec.name.clone(),
                from_env: spec.from_env.clone(),
                change,
                secret_id: found.map(|s| s.id.clone()),
                request: json!({
                    "short_name": spec.name,
                    "description": spec.description.clone().unwrap_or_else(|| " ".into()),
                    "secret_key": spec.name,
                }),
            });
        }
    }
    if let Some(recorded) = recorded {
        for name in recorded.keys() {
            if secrets.iter().any(|i| i.spec.name == *name) {
                continue;
            }
            if let Some(found) = live.secrets.iter().find(|s| s.name == *name) {
                steps.push(Step::Secret {
                    name: name.clone(),
                    from_env: String::new(),
                    change: SecretChange::Removed,
                    secret_id: Some(found.id.clone()),
                    request: json!({"secret_key": name}),
                });
            }
        }
    }

    // Versions.
    let declared = Version::parse(&m.version_info.semantic_version)
        .expect("a validated manifest has a valid version");
    let latest = live.published.iter().max_by_key(|p| p.version);
    let latest_version = latest.map(|p| p.version);
    let next = version::list(&Version::next_after(latest_version));
    let head = &source.commit;
    // How the commit that gets deployed is named: HEAD itself, or the deploy commit derived
    // from the manifest's folders.
    let deployed = if source.whole {
        format!("HEAD {}", short(head))
    } else {
        format!("deploy commit {}", short(head))
    };
    let head_published = live.published.iter().find(|p| p.commit == *head);
    let already = live.published.iter().find(|p| p.version == declared);
    let callability = m.settings.algorithm_callability;
    let mut publish = None;
    if let Some(existing) = already {
        if existing.commit != *head && live.declared_same_code {
            notes.push(format!(
                "{deployed} differs from {} ({declared}) only in the manifest: the deployed code is the same",
                short(&existing.commit)
            ));
        } else if existing.commit != *head {
            let message = format!(
                "{deployed} is not published ({declared} is published from {}): bump semantic_version to publish it (next: {next})",
                short(&existing.commit)
            );
            if options.strict_version {
                return Err(conflict(
                    message,
                    format!("set `version_info.semantic_version` to {next}"),
                ));
            }
            pending.push(message);
        }
        // A newer version is live (a rollback, or a publish from elsewhere): say so, and what
        // publishing this code again needs.
        if let Some(newest) = latest
            && newest.version > declared
        {
            let what = match newest
                .release_notes
                .as_deref()
                .and_then(|n| n.strip_prefix(ROLLBACK_NOTE))
            {
                Some(rest) => format!(
                    "a rollback to {}",
                    rest.split(|c: char| c.is_whitespace() || c == ':')
                        .next()
                        .unwrap_or("")
                ),
                None => format!("built from {}", short(&newest.commit)),
            };
            pending.push(format!(
                "the newest published version {} is {what}; publishing {deployed} again needs semantic_version {} (next: {next})",
                newest.version,
                newest.version.bumped(Bump::Revision)
            ));
        }
        // Callability changes only with a publish, and only with a major one.
        let live_callability = live
            .algorithm
            .as_ref()
            .and_then(|a| a.callability)
            .or(existing.callability);
        if let Some(now) = live_callability
            && now != callability
        {
            pending.push(format!(
                "algorithm_callability {now} → {callability} waits for the next publish, which must be a major version (next: {})",
                latest_version.unwrap_or(Version::ZERO).bumped(Bump::Major)
            ));
        }
    } else {
        let base = latest_version.unwrap_or(Version::ZERO);
        let Some(bump) = base.bump_to(declared) else {
            let message = match latest_version {
                Some(v) if declared < v => format!(
                    "semantic_version {declared} is lower than the latest published version {v}"
                ),
                Some(v) => format!(
                    "semantic_version {declared} is not one bump above the latest published version {v}"
                ),
                None => format!(
                    "semantic_version {declared} cannot be the first version: the platform starts at 1.0.0, 0.1.0 or 0.0.1"
                ),
            };
            let hint = if latest_version.is_none() && loaded.environment.is_some() {
                format!(
                    "valid versions now: {next}; a new environment's cluster starts over: give the environment its own `version_info.semantic_version`"
                )
            } else {
                format!("valid versions now: {next}")
            };
            return Err(conflict(message, hint));
        };
        if let Some(done) = head_published {
            return Err(conflict(
                format!(
                    "{deployed} is already published as {}; a new version needs a change to the deployed code",
                    done.version
                ),
                "commit your change, or set `version_info.semantic_version` back to the published version".into(),
            ));
        }
        if let Some(previous) = latest
            && let Some(before) = previous.callability
            && before != callability
            && bump != Bump::Major
        {
            return Err(conflict(
                format!(
                    "algorithm_callability changes from {before} to {callability}, which needs a major version; {declared} is a {} bump",
                    bump.as_str()
                ),
                format!(
                    "set `version_info.semantic_version` to {}",
                    base.bumped(Bump::Major)
                ),
            ));
        }
        publish = Some(Step::Publish {
            from: latest_version,
            to: declared,
            bump,
            commit: head.clone(),
            callability,
            release_notes: m.version_info.release_notes.clone(),
            sample_input: m.version_info.sample_input.clone(),
            sample_output: m.version_info.sample_output.clone(),
            request: publish_request(bump, declared, head, callability, &m.version_info),
        });
    }
    let pushed = live.remote_master.as_deref() == Some(head.as_str());
    if let Some(step) = publish {
        if !pushed {
            let lease = match &live.remote_master {
                Some(master) if !live.master_in_head => {
                    if (live.master_is_starter && live.published.is_empty())
                        || live.master_is_rollback
                    {
                        Some(master.clone())
                    } else {
                        return Err(if source.whole {
                            conflict(
                                format!(
                                    "the remote `master` ({}) has commits that HEAD {} does not contain: someone pushed to the algorithm's repository",
                                    short(master),
                                    short(head)
                                ),
                                format!(
                                    "merge them first (`git pull {} master`), then plan again",
                                    live.remote
                                ),
                            )
                        } else {
                            conflict(
                                format!(
                                    "the remote `master` ({}) holds commits that algodeploy did not derive from {} (pushed by hand, or by an earlier whole-repository deploy); the {deployed} cannot fast-forward it",
                                    short(master),
                                    source.folders.join(" + ")
                                ),
                                format!(
                                    "look at them (`git fetch {remote} master`); to replace them with the derived history, push it yourself: `git push --force-with-lease=master:{master} {remote} {head}:refs/heads/master` (published versions keep their builds), then plan again",
                                    remote = live.remote
                                ),
                            )
                        });
                    }
                }
                _ => None,
            };
            steps.push(Step::Push {
                commit: head.clone(),
                remote: live.remote.clone(),
                replaces: lease,
            });
        }
        if pushed
            && live
                .head_build
                .as_ref()
                .is_some_and(|b| b.status == BuildStatus::Failed)
        {
            notes.push(format!(
                "the build of {deployed} failed; apply will stop with its log: fix the code, commit and push"
            ));
        }
        if let Some(input) = &m.version_info.sample_input {
            if options.skip_smoke_test {
                notes
                    .push("the smoke test with sample_input is skipped (--skip-smoke-test)".into());
            } else {
                steps.push(Step::Test {
                    commit: head.clone(),
                    input: input.clone(),
                    expected: m.version_info.sample_output.clone(),
                });
            }
        }
        steps.push(step);
    } else if !pushed && live.algorithm.is_some() && already.is_some_and(|p| p.commit == *head) {
        notes.push(format!(
            "the remote `master` is not {deployed}; nothing to publish"
        ));
    }

    let build = live.head_build.as_ref();
    Ok(AlgorithmPlan {
        algorithm,
        owner: m.owner.clone(),
        name: m.name.clone(),
        manifest: crate::diagnostic::display_path(&loaded.path),
        environment: loaded.environment.clone(),
        version: declared,
        published_from: already.map(|p| p.commit.clone()),
        steps,
        drift: drift_list,
        pending,
        notes,
        git: GitSummary {
            head: git.head.clone(),
            deploy_commit: head.clone(),
            folders: if source.whole {
                Vec::new()
            } else {
                source.folders.clone()
            },
            branch: git.branch.clone(),
            remote: live.remote.clone(),
            remote_master: live.remote_master.clone(),
            build: build.map(|b| b.status.clone()),
            build_id: build.map(|b| b.id.clone()),
        },
        desired,
        manifest_digest: manifest_digest(loaded.source.as_bytes(), loaded.summary.as_deref()),
        live_digest: live_digest(live),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::current::{Algorithm, Published};
    use crate::manifest::Callability;
    use crate::plan::Action;

    fn loaded(version: &str) -> Loaded {
        let text = format!(
            "owner: demo\nname: hello\ndetails:\n  label: Hello\n  summary: |\n    one\n    two\nsettings:\n  license: mit\n  source_visibility: open\n  network_access: isolated\n  pipeline_enabled: false\n  package_set: python38\n  algorithm_callability: public\nversion_info:\n  semantic_version: {version}\n  release_notes: Notes\n  sample_input: Ada\n"
        );
        crate::manifest::check(
            std::path::Path::new("algorithm.yaml"),
            text.as_bytes(),
            std::path::Path::new("."),
        )
        .unwrap()
    }

    fn source() -> Source {
        Source {
            commit: "b".repeat(40),
            tree: "t".repeat(40),
            folders: vec![".".into()],
            whole: true,
        }
    }

    fn git() -> GitState {
        GitState {
            root: ".".into(),
            head: "b".repeat(40),
            branch: Some("main".into()),
            dirty: vec![],
            untracked: vec![],
        }
    }

    fn current(l: &Loaded, callability: Callability) -> Algorithm {
        Algorithm {
            id: "id".into(),
            fields: fields::desired(l),
            callability: Some(callability),
        }
    }

    fn published(version: &str, hash: &str, callability: Callability) -> Published {
        Published {
            version: Version::parse(version).unwrap(),
            commit: hash.into(),
            callability: Some(callability),
            release_notes: None,
            sample_input: None,
            sample_output: None,
        }
    }

    #[test]
    fn first_deploy_creates_pushes_and_publishes_with_every_request() {
        let plan = plan(
            &loaded("1.0.0"),
            &git(),
            &source(),
            &Live {
                remote: "r".into(),
                ..Live::default()
            },
            None,
            &[],
            Options::default(),
        )
        .unwrap();
        let actions: Vec<Action> = plan.steps.iter().map(Step::action).collect();
        assert_eq!(
            actions,
            [Action::Create, Action::Push, Action::Test, Action::Publish]
        );
        assert!(matches!(
            &plan.steps[2],
            Step::Test { input, expected: None, .. } if input == "Ada"
        ));
        let Step::Create { request, .. } = &plan.steps[0] else {
            panic!()
        };
        assert_eq!(request["name"], "hello");
        assert_eq!(request["details"]["summary"], "one\ntwo\n");
        assert_eq!(request["settings"]["package_set"], "python38");
        let Step::Publish {
            bump,
            from,
            request,
            release_notes,
            ..
        } = &plan.steps[3]
        else {
            panic!()
        };
        assert_eq!((*bump, *from), (Bump::Major, None));
        assert_eq!(release_notes.as_deref(), Some("Notes"));
        assert_eq!(request["version_info"]["semantic_version"], "1.0.0");
        assert_eq!(request["version_info"]["sample_input"], "Ada");
        assert_eq!(request["settings"]["algorithm_callability"], "public");
    }

    #[test]
    fn converged_state_has_no_steps_and_nothing_pending() {
        let l = loaded("1.0.0");
        let live = Live {
            algorithm: Some(current(&l, Callability::Public)),
            published: vec![published("1.0.0", &"b".repeat(40), Callability::Public)],
            remote_master: Some("b".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let plan = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap();
        assert_eq!(plan.steps, vec![]);
        assert!(plan.notes.is_empty() && plan.pending.is_empty(), "{plan:?}");
    }

    #[test]
    fn versions_must_be_one_bump_above_the_latest() {
        let l = loaded("1.2.0");
        let mut live = Live {
            algorithm: Some(current(&l, Callability::Public)),
            remote: "r".into(),
            ..Live::default()
        };
        live.published = vec![published("1.0.0", &"a".repeat(40), Callability::Public)];
        let err = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap_err();
        assert!(
            err.message.contains("not one bump above")
                && err.hint.contains("1.0.1, 1.1.0 or 2.0.0"),
            "{err:?}"
        );
        let l = loaded("0.9.0");
        let err = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap_err();
        assert!(
            err.message
                .contains("lower than the latest published version 1.0.0"),
            "{err:?}"
        );
        let l = loaded("1.0.1");
        let ok = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap();
        assert!(matches!(
            ok.steps.last(),
            Some(Step::Publish {
                bump: Bump::Revision,
                ..
            })
        ));
    }

    #[test]
    fn an_unpublished_head_is_said_once_or_is_a_strict_error() {
        let l = loaded("1.1.0");
        let live = Live {
            algorithm: Some(current(&l, Callability::Public)),
            published: vec![
                published("1.0.0", &"c".repeat(40), Callability::Public),
                published("1.1.0", &"a".repeat(40), Callability::Public),
            ],
            remote_master: Some("a".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let p = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap();
        assert_eq!(p.steps, vec![]);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert_eq!(
            p.pending,
            [
                "HEAD bbbbbbb is not published (1.1.0 is published from aaaaaaa): bump semantic_version to publish it (next: 1.1.1, 1.2.0 or 2.0.0)"
            ]
        );
        let strict = Options {
            strict_version: true,
            skip_smoke_test: false,
        };
        assert!(plan(&l, &git(), &source(), &live, None, &[], strict).is_err());
    }

    #[test]
    fn a_callability_only_change_is_pending_with_its_reason() {
        let l = loaded("1.0.0");
        let live = Live {
            algorithm: Some(current(&l, Callability::Private)),
            published: vec![published("1.0.0", &"b".repeat(40), Callability::Private)],
            remote_master: Some("b".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let p = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap();
        assert_eq!(p.steps, vec![]);
        assert_eq!(
            p.pending,
            [
                "algorithm_callability private → public waits for the next publish, which must be a major version (next: 2.0.0)"
            ]
        );
    }

    #[test]
    fn callability_changes_need_a_major_bump() {
        let l = loaded("1.1.0");
        let live = Live {
            algorithm: Some(current(&l, Callability::Private)),
            published: vec![published("1.0.0", &"a".repeat(40), Callability::Private)],
            remote: "r".into(),
            ..Live::default()
        };
        let err = plan(&l, &git(), &source(), &live, None, &[], Options::default()).unwrap_err();
        assert!(err.message.contains("needs a major version"), "{err:?}");
    }

    #[test]
    fn drift_is_reported_apart_from_changes() {
        let l = loaded("1.0.0");
        let mut algorithm = current(&l, Callability::Public);
        algorithm
            .fields
            .insert("details.label".into(), "Edited in the web UI".into());
        let record = crate::state::Record {
            format_version: 1,
            tool_version: "x".into(),
            algorithm: "demo/hello".into(),
            algorithm_id: "id".into(),
            manifest_digest: String::new(),
            fields: fields::desired(&l),
            version: None,
            commit: None,
            applied_at: String::new(),
            secrets: Default::default(),
        };
        let live = Live {
            algorithm: Some(algorithm),
            published: vec![published("1.0.0", &"b".repeat(40), Callability::Public)],
            remote_master: Some("b".repeat(40)),
            remote: "r".into(),
            ..Live::default()
        };
        let p = plan(
            &l,
            &git(),
            &source(),
            &live,
            Some(&record),
            &[],
            Options::default(),
        )
        .unwrap();
        assert_eq!(p.drift.len(), 1);
        assert_eq!(p.drift[0].field, "details.label");
        let Step::Update { changes, request } = &p.steps[0] else {
            panic!()
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(request["details"]["label"], "Hello");
        assert_eq!(request["settings"]["license"], "mit");
    }
}

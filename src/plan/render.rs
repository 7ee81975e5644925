//! A plan as text: lines that know what they are ([`LineKind`]), so that colour follows the
//! step's action rather than the rendered text (an unchanged summary line starting `- ` stays
//! plain). Pure; `run.rs` decides where the text goes and whether it is coloured.

use std::fmt::Write as _;

use serde_json::Value;

use super::model::{Action, AlgorithmPlan, Change, Plan, Step};
use crate::git::short;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `owner/name (manifest)` and the git line.
    Heading,
    /// A step's own line, or a field under it.
    Step(Action),
    /// A line diff of a multi-line field: removed, added, unchanged.
    Removed,
    Added,
    Unchanged,
    Drift,
    Pending,
    Note,
    /// The blank line and the closing summary.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub text: String,
}

/// Every line of a plan's text is made here: values from the manifest and the server are
/// made inert ([`crate::sanitize::inert`]).
fn line(kind: LineKind, text: String) -> Line {
    Line {
        kind,
        text: crate::sanitize::inert(&text),
    }
}

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

/// One change: `field: before → after`, or a line diff for multi-line text.
fn change_lines(out: &mut Vec<Line>, change: &Change, kind: LineKind, labels: (&str, &str)) {
    let indent = "      ";
    let (before, after) = (change.before.as_ref(), change.after.as_ref());
    if is_multiline(before) || is_multiline(after) {
        out.push(line(kind, format!("{indent}{}:", change.field)));
        let old = before.and_then(Value::as_str).unwrap_or("");
        let new = after.and_then(Value::as_str).unwrap_or("");
        let diff = similar::TextDiff::from_lines(old, new);
        for op in diff.ops() {
            for part in diff.iter_changes(op) {
                let (sign, kind) = match part.tag() {
                    similar::ChangeTag::Delete => ("-", LineKind::Removed),
                    similar::ChangeTag::Insert => ("+", LineKind::Added),
                    similar::ChangeTag::Equal => (" ", LineKind::Unchanged),
                };
                let text = part.value().trim_end_matches('\n');
                out.push(line(kind, format!("{indent}    {sign} {text}")));
            }
        }
    } else if labels.0.is_empty() {
        out.push(line(
            kind,
            format!(
                "{indent}{}: {} → {}",
                change.field,
                show(before),
                show(after)
            ),
        ));
    } else {
        out.push(line(
            kind,
            format!(
                "{indent}{}: {} ({}) → {} ({})",
                change.field,
                show(before),
                labels.0,
                show(after),
                labels.1
            ),
        ));
    }
}

impl AlgorithmPlan {
    pub fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        let env = self
            .environment
            .as_deref()
            .map_or_else(String::new, |e| format!(" [{e}]"));
        out.push(line(
            LineKind::Heading,
            format!("{} ({}){env}", self.algorithm, self.manifest),
        ));
        let git = &self.git;
        let branch = git
            .branch
            .as_deref()
            .map_or_else(|| "detached".to_string(), str::to_owned);
        let deployed = git.deployed();
        let pushed = if git.remote_master.as_deref() == Some(deployed) {
            "pushed"
        } else {
            "not pushed"
        };
        let build = git.build.as_ref().map_or_else(
            || "no build yet".to_string(),
            super::super::current::BuildStatus::describe,
        );
        let source = if git.folders.is_empty() {
            String::new()
        } else {
            format!(
                " → deploys {} ({})",
                short(deployed),
                git.folders.join(" + ")
            )
        };
        out.push(line(
            LineKind::Heading,
            format!(
                "  HEAD {} ({branch}){source}: {pushed}, {build}",
                short(&git.head)
            ),
        ));
        if self.steps.is_empty() && self.pending.is_empty() {
            let text = match &self.published_from {
                Some(commit) if commit == deployed && git.folders.is_empty() => {
                    format!("  no changes: {} is published from HEAD", self.version)
                }
                Some(commit) if commit == deployed => format!(
                    "  no changes: {} is published from the deploy commit",
                    self.version
                ),
                _ => "  no changes".to_string(),
            };
            out.push(line(LineKind::Plain, text));
        }
        for step in &self.steps {
            let action = step.action();
            let kind = LineKind::Step(action);
            let (symbol, verb) = (action.symbol(), action.verb());
            match step {
                Step::Create { fields, .. } => {
                    out.push(line(kind, format!("  {symbol} {verb} {}", self.algorithm)));
                    for change in fields {
                        if is_multiline(change.after.as_ref()) {
                            change_lines(&mut out, change, kind, ("", ""));
                        } else {
                            out.push(line(
                                kind,
                                format!("      {}: {}", change.field, show(change.after.as_ref())),
                            ));
                        }
                    }
                }
                Step::Update { changes, .. } => {
                    out.push(line(kind, format!("  {symbol} {verb} {}", self.algorithm)));
                    for change in changes {
                        change_lines(&mut out, change, kind, ("", ""));
                    }
                }
                Step::Secret {
                    name,
                    from_env,
                    change,
                    ..
                } => {
                    let source = if *change == crate::plan::SecretChange::Removed {
                        String::new()
                    } else {
                        format!(" from ${from_env}")
                    };
                    out.push(line(
                        kind,
                        format!("  {symbol} {verb} {name}{source}: {}", change.describe()),
                    ));
                }
                Step::Push {
                    commit,
                    remote,
                    replaces,
                } => {
                    let replacing = replaces.as_deref().map_or_else(String::new, |starter| {
                        format!(
                            ", replacing the platform's starter commit {}",
                            short(starter)
                        )
                    });
                    out.push(line(
                        kind,
                        format!(
                            "  {symbol} {verb} {} to master of {remote}{replacing} (pushed by apply --push)",
                            short(commit)
                        ),
                    ));
                }
                Step::Test {
                    commit,
                    input,
                    expected,
                } => {
                    let expect = match expected {
                        Some(output) => format!(", expecting {output:?}"),
                        None => ", expecting it to succeed".into(),
                    };
                    out.push(line(
                        kind,
                        format!(
                            "  {symbol} {verb} the build of {} with sample_input {input:?}{expect}",
                            short(commit)
                        ),
                    ));
                }
                Step::Publish {
                    from,
                    to,
                    bump,
                    commit,
                    callability,
                    release_notes,
                    sample_input,
                    sample_output,
                    ..
                } => {
                    let from =
                        from.map_or_else(|| "first version".to_string(), |f| format!("from {f}"));
                    out.push(line(
                        kind,
                        format!(
                            "  {symbol} {verb} {to} ({from}, {} bump) built from {}, callability {callability}",
                            bump.as_str(),
                            short(commit)
                        ),
                    ));
                    for (label, value) in [
                        ("release notes", release_notes),
                        ("sample input", sample_input),
                        ("sample output", sample_output),
                    ] {
                        if let Some(value) = value {
                            out.push(line(kind, format!("      {label}: {value:?}")));
                        }
                    }
                }
            }
        }
        if !self.drift.is_empty() {
            out.push(line(
                LineKind::Drift,
                "  drift: changed outside algodeploy since the last apply".into(),
            ));
            for change in &self.drift {
                change_lines(&mut out, change, LineKind::Drift, ("last applied", "live"));
            }
        }
        for pending in &self.pending {
            out.push(line(LineKind::Pending, format!("  pending: {pending}")));
        }
        for note in &self.notes {
            out.push(line(LineKind::Note, format!("  note: {note}")));
        }
        out
    }
}

impl Plan {
    pub fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, algorithm) in self.algorithms.iter().enumerate() {
            if i > 0 {
                out.push(line(LineKind::Plain, String::new()));
            }
            out.extend(algorithm.lines());
        }
        for orphan in &self.prune {
            out.push(line(LineKind::Plain, String::new()));
            out.push(line(
                LineKind::Heading,
                format!("{} (no manifest declares it)", orphan.algorithm),
            ));
            let published = if orphan.published.is_empty() {
                "no published versions".to_string()
            } else {
                format!(
                    "published versions {} (their callers break; needs --delete-published)",
                    orphan.published.join(", ")
                )
            };
            out.push(line(
                LineKind::Removed,
                format!("  - destroy {}: {published}", orphan.algorithm),
            ));
        }
        out.push(line(LineKind::Plain, String::new()));
        let s = &self.summary;
        let waiting = self
            .algorithms
            .iter()
            .filter(|a| !a.pending.is_empty())
            .count();
        let text = if self.has_changes() {
            format!(
                "Plan: {} to create, {} to update, {} to push, {} to publish{}{}.",
                s.create,
                s.update,
                s.push,
                s.publish,
                match s.secret {
                    0 => String::new(),
                    1 => ", 1 secret to set or remove".to_string(),
                    n => format!(", {n} secrets to set or remove"),
                },
                if s.destroy > 0 {
                    format!(", {} to destroy", s.destroy)
                } else {
                    String::new()
                }
            )
        } else if waiting > 0 {
            let who = if waiting == 1 {
                "1 algorithm has".to_string()
            } else {
                format!("{waiting} algorithms have")
            };
            format!("Nothing to apply: {who} changes that need a new version (see `pending`).")
        } else {
            format!(
                "No changes: {} up to date.",
                if s.unchanged == 1 {
                    "the algorithm is".to_string()
                } else {
                    format!("{} algorithms are", s.unchanged)
                }
            )
        };
        out.push(line(LineKind::Plain, text));
        out
    }

    /// The plan as plain text.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for l in self.lines() {
            let _ = writeln!(out, "{}", l.text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::current::BuildStatus;
    use crate::manifest::Callability;
    use crate::plan::{GitSummary, Plan};
    use crate::version::{Bump, Version};

    /// A plan built by hand: rendering is tested apart from computing.
    fn hand_built() -> Plan {
        let head = "1b06919".repeat(6)[..40].to_string();
        Plan::new(
            vec![AlgorithmPlan {
                algorithm: "demo/hello".into(),
                owner: "demo".into(),
                name: "hello".into(),
                manifest: "hello/algorithm.yaml".into(),
                environment: None,
                version: Version::parse("1.2.0").unwrap(),
                published_from: None,
                steps: vec![
                    Step::Update {
                        changes: vec![
                            Change {
                                field: "details.tagline".into(),
                                before: Some(json!("Greets")),
                                after: Some(json!("Says hello")),
                            },
                            Change {
                                field: "details.summary".into(),
                                before: Some(json!("# Hello\n- one\nsame\n")),
                                after: Some(json!("# Hello\n- two\nsame\n")),
                            },
                        ],
                        request: json!({"details": {"label": "Hello"}, "settings": {}}),
                    },
                    Step::Push {
                        commit: head.clone(),
                        remote: "https://git.example/git/demo/hello.git".into(),
                        replaces: None,
                    },
                    Step::Publish {
                        from: Version::parse("1.1.0"),
                        to: Version::parse("1.2.0").unwrap(),
                        bump: Bump::Minor,
                        commit: head.clone(),
                        callability: Callability::Public,
                        release_notes: Some("Faster".into()),
                        sample_input: None,
                        sample_output: None,
                        request: json!({"version_info": {"version_type": "minor"}}),
                    },
                ],
                drift: vec![Change {
                    field: "details.label".into(),
                    before: Some(json!("Hello")),
                    after: Some(json!("Hello (edited)")),
                }],
                pending: vec![],
                notes: vec!["a note".into()],
                git: GitSummary {
                    deploy_commit: head.clone(),
                    folders: vec![],
                    head,
                    branch: Some("main".into()),
                    remote: "https://git.example/git/demo/hello.git".into(),
                    remote_master: None,
                    build: Some(BuildStatus::Queued),
                    build_id: None,
                },
                desired: Default::default(),
                manifest_digest: "m".into(),
                live_digest: "l".into(),
            }],
            "/work/repo".into(),
        )
    }

    #[test]
    fn a_hand_built_plan_renders_as_text_and_json() {
        let plan = hand_built();
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(
            r#""tool_version": "[^"]+""#,
            r#""tool_version": "[VERSION]""#,
        );
        settings.bind(|| {
            insta::assert_snapshot!("hand_built_text", plan.render_text());
            insta::assert_snapshot!(
                "hand_built_json",
                serde_json::to_string_pretty(&plan).unwrap()
            );
        });
    }

    #[test]
    fn lines_know_their_action_not_their_text() {
        let plan = hand_built();
        let lines = plan.lines();
        // The summary's unchanged diff line starts with spaces and a sign, but is not a change.
        let kinds: Vec<LineKind> = lines
            .iter()
            .filter(|l| l.text.contains("same"))
            .map(|l| l.kind)
            .collect();
        assert_eq!(kinds, [LineKind::Unchanged]);
        let removed = lines.iter().find(|l| l.text.contains("- one")).unwrap();
        assert_eq!(removed.kind, LineKind::Removed);
        let push = lines
            .iter()
            .find(|l| l.text.starts_with("  > push"))
            .unwrap();
        assert_eq!(push.kind, LineKind::Step(Action::Push));
        // A JSON round trip gives the same plan.
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&text).unwrap(), plan);
    }
}

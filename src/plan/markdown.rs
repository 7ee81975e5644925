//! A plan as GitHub-flavoured Markdown, for pull-request comments and step summaries: a
//! summary table, then per algorithm a collapsible section with its steps and field changes,
//! the summary's line diff in a `diff` block, drift apart, pending changes and notes. No escape
//! codes; kept under GitHub's 65,536-character comment limit (cut with a note saying where the
//! full plan is).

use std::fmt::Write as _;

use serde_json::Value;

use super::model::{AlgorithmPlan, Change, Plan, Step};
use crate::git::short;

/// GitHub's limit for a comment (and a step summary is read the same way).
pub(super) const LIMIT: usize = 65_536;

/// Text safe inside a Markdown table cell or line: no pipes, no HTML, one line.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn value(v: Option<&Value>) -> String {
    match v {
        None => "*(absent)*".into(),
        Some(Value::String(s)) => format!("`{}`", cell(s).replace('`', "'")),
        Some(other) => format!("`{}`", cell(&other.to_string())),
    }
}

fn is_multiline(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| s.contains('\n'))
}

fn changes(out: &mut String, list: &[Change], labels: (&str, &str)) {
    let (single, multi): (Vec<&Change>, Vec<&Change>) = list
        .iter()
        .partition(|c| !is_multiline(c.before.as_ref()) && !is_multiline(c.after.as_ref()));
    if !single.is_empty() {
        let _ = writeln!(
            out,
            "| field | {} | {} |\n|---|---|---|",
            labels.0, labels.1
        );
        for c in single {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                c.field,
                value(c.before.as_ref()),
                value(c.after.as_ref())
            );
        }
        out.push('\n');
    }
    for c in multi {
        let old = c.before.as_ref().and_then(Value::as_str).unwrap_or("");
        let new = c.after.as_ref().and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(out, "`{}`:\n\n```diff", c.field);
        let diff = similar::TextDiff::from_lines(old, new);
        for part in diff.iter_all_changes() {
            let sign = match part.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            // A fence inside the text would end the block early.
            let text = part.value().trim_end_matches('\n').replace("```", "ʼʼʼ");
            let _ = writeln!(out, "{sign} {text}");
        }
        out.push_str("```\n\n");
    }
}

fn section(algorithm: &AlgorithmPlan) -> String {
    let mut out = String::new();
    let verbs: Vec<&str> = algorithm.steps.iter().map(|s| s.action().verb()).collect();
    let title = if verbs.is_empty() {
        "no changes".to_string()
    } else {
        verbs.join(", ")
    };
    let _ = writeln!(
        out,
        "<details{}><summary><code>{}</code>: {title}</summary>\n",
        if verbs.is_empty() { "" } else { " open" },
        algorithm.algorithm
    );
    let _ = writeln!(
        out,
        "Manifest `{}`, HEAD `{}`{}{}.\n",
        cell(&algorithm.manifest),
        short(&algorithm.git.head),
        algorithm
            .git
            .branch
            .as_deref()
            .map_or_else(String::new, |b| format!(" on `{}`", cell(b))),
        if algorithm.git.folders.is_empty() {
            String::new()
        } else {
            format!(
                ", deploys `{}` ({})",
                short(algorithm.git.deployed()),
                algorithm
                    .git
                    .folders
                    .iter()
                    .map(|f| format!("`{}`", cell(f)))
                    .collect::<Vec<_>>()
                    .join(" + ")
            )
        }
    );
    for step in &algorithm.steps {
        let action = step.action();
        let _ = write!(out, "- `{}` **{}**", action.symbol(), action.verb());
        match step {
            Step::Create { fields, .. } => {
                let _ = writeln!(out, " `{}`\n", algorithm.algorithm);
                changes(&mut out, fields, ("before", "after"));
            }
            Step::Update { changes: list, .. } => {
                let _ = writeln!(out, " `{}`\n", algorithm.algorithm);
                changes(&mut out, list, ("live", "manifest"));
            }
            Step::Secret {
                name,
                from_env,
                change,
                ..
            } => {
                let _ = writeln!(
                    out,
                    " `{}` (from `${}`): {}\n",
                    cell(name),
                    cell(from_env),
                    change.describe()
                );
            }
            Step::Push {
                commit,
                remote,
                replaces,
            } => {
                let _ = writeln!(
                    out,
                    " `{}` to `master` of {}{}",
                    short(commit),
                    cell(remote),
                    replaces.as_deref().map_or_else(String::new, |s| format!(
                        ", replacing the platform's starter commit `{}`",
                        short(s)
                    ))
                );
            }
            Step::Test {
                commit,
                input,
                expected,
            } => {
                let _ = writeln!(
                    out,
                    " the build of `{}` with `sample_input` {}{}",
                    short(commit),
                    value(Some(&Value::from(input.clone()))),
                    expected.as_deref().map_or_else(String::new, |e| format!(
                        ", expecting {}",
                        value(Some(&Value::from(e)))
                    ))
                );
            }
            Step::Publish {
                from,
                to,
                bump,
                commit,
                callability,
                ..
            } => {
                let _ = writeln!(
                    out,
                    " **{to}** ({}, {} bump) from `{}`, callability {callability}",
                    from.map_or_else(|| "first version".to_string(), |f| format!("from {f}")),
                    bump.as_str(),
                    short(commit)
                );
            }
        }
    }
    if !algorithm.steps.is_empty() {
        out.push('\n');
    }
    if !algorithm.drift.is_empty() {
        out.push_str("**Drift** (changed outside algodeploy since the last apply):\n\n");
        changes(&mut out, &algorithm.drift, ("last applied", "live"));
    }
    for (label, list) in [("Pending", &algorithm.pending), ("Note", &algorithm.notes)] {
        for item in list {
            let _ = writeln!(out, "> **{label}:** {}\n", cell(item));
        }
    }
    out.push_str("</details>\n\n");
    out
}

impl Plan {
    /// The plan as Markdown, at most [`LIMIT`] characters; `full` names where the whole plan
    /// is when it must be cut (a file, a job's log).
    pub fn render_markdown(&self, full: &str) -> String {
        self.render_markdown_titled("algodeploy plan", full)
    }

    /// [`Plan::render_markdown`] under another heading (`algodeploy apply` for an apply's
    /// summary).
    pub fn render_markdown_titled(&self, title: &str, full: &str) -> String {
        let s = &self.summary;
        let mut head = format!("### {title}\n\n");
        let _ = writeln!(
            head,
            "| create | update | push | test | publish | unchanged |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} |\n",
            s.create, s.update, s.push, s.test, s.publish, s.unchanged
        );
        let mut out = head;
        // Values from the manifest and the server are made inert before the size is counted.
        let sections: Vec<String> = self
            .algorithms
            .iter()
            .map(|a| crate::sanitize::inert(&section(a)))
            .collect();
        let note = |left: usize| {
            format!(
                "\n*{left} more algorithm{} not shown: the plan is longer than a comment can be. The full plan is {full}.*\n",
                if left == 1 { "" } else { "s" }
            )
        };
        for (i, text) in sections.iter().enumerate() {
            let left = sections.len() - i;
            if out.len() + text.len() + note(left).len() > LIMIT {
                out.push_str(&note(left));
                return out;
            }
            out.push_str(text);
        }
        out
    }
}

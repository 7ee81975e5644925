//! `environments:`: named environments, each a set of overrides deep-merged over the manifest
//! (`owner`, `details`, `settings`, `version_info`) plus the `profile` it deploys with. Each
//! merged manifest is checked by the same walk as the base, so an environment's problems are
//! located where they are written.

use std::collections::BTreeMap;
use std::path::Path;

use super::{ENVIRONMENT_KEYS, Walk};
use crate::diagnostic::{Code, Diagnostic};
use crate::manifest::DeployEnvironment;
use crate::yaml::{Key, Node, Value};

/// The manifest without `environments`, and the `environments` node if there is one.
pub(super) fn split(root: &Node) -> (Node, Option<&Node>) {
    let Value::Mapping(entries) = &root.value else {
        return (root.clone(), None);
    };
    let mut found = None;
    let kept: Vec<(Key, Node)> = entries
        .iter()
        .filter(|(key, value)| {
            if key.name == "environments" {
                found = Some(value);
                false
            } else {
                true
            }
        })
        .cloned()
        .collect();
    (
        Node {
            value: Value::Mapping(kept),
            span: root.span,
        },
        found,
    )
}

/// `over` deep-merged over `base`: mappings merge key by key, anything else replaces.
fn overlay(base: &Node, over: &Node) -> Node {
    match (&base.value, &over.value) {
        (Value::Mapping(base_entries), Value::Mapping(over_entries)) => {
            let mut merged: Vec<(Key, Node)> = base_entries
                .iter()
                .map(
                    |(key, value)| match over_entries.iter().find(|(k, _)| k.name == key.name) {
                        Some((_, replacement)) => (key.clone(), overlay(value, replacement)),
                        None => (key.clone(), value.clone()),
                    },
                )
                .collect();
            for (key, value) in over_entries {
                if !base_entries.iter().any(|(k, _)| k.name == key.name) {
                    merged.push((key.clone(), value.clone()));
                }
            }
            Node {
                value: Value::Mapping(merged),
                span: base.span,
            }
        }
        _ => over.clone(),
    }
}

/// An environment's name: lowercase letters, digits, `-` and `_`, a letter first.
fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Walk {
    pub(super) fn environments(
        &mut self,
        base: &Node,
        node: &Node,
        path: &Path,
        repo_root: &Path,
    ) -> Option<BTreeMap<String, DeployEnvironment>> {
        let Value::Mapping(entries) = &node.value else {
            self.push(
                Diagnostic::error(
                    Code::WrongType,
                    node.span,
                    format!(
                        "`environments` must be a mapping of names to overrides, found {}",
                        node.value.kind()
                    ),
                )
                .label("expected a mapping")
                .help("write `staging:` and `production:` under it, each with its overrides"),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, env) in entries {
            if !valid_name(&key.name) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::ValueNotAllowed,
                        key.span,
                        format!(
                            "`{}` is not an environment name",
                            key.name.chars().take(40).collect::<String>()
                        ),
                    )
                    .label("environment name")
                    .help(
                        "lowercase letters, digits, `-` and `_`, a letter first, such as `staging`",
                    ),
                );
                continue;
            }
            let Some(fields) = self.mapping(env, "environments", ENVIRONMENT_KEYS, key.span) else {
                ok = false;
                continue;
            };
            let profile = match fields.get("profile") {
                None => None,
                Some(_) => match self.string(&fields, "profile") {
                    Some((text, _)) => Some(text),
                    None => {
                        ok = false;
                        continue;
                    }
                },
            };
            // The overrides without `profile`, merged over the manifest, checked as one.
            let overrides = Node {
                value: match &env.value {
                    Value::Mapping(e) => Value::Mapping(
                        e.iter()
                            .filter(|(k, _)| k.name != "profile")
                            .cloned()
                            .collect(),
                    ),
                    other => other.clone(),
                },
                span: env.span,
            };
            let merged = overlay(base, &overrides);
            match self.manifest(&merged, path, repo_root) {
                Some((manifest, summary)) => {
                    out.insert(
                        key.name.clone(),
                        DeployEnvironment {
                            profile,
                            manifest,
                            summary,
                        },
                    );
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

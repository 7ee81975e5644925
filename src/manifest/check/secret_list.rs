//! `secrets:`: a list of `{name, from_env, description}`: the variable the algorithm reads and
//! the one algodeploy reads the value from when it applies. Names are environment variable
//! names, each given once.

use super::{SECRET_KEYS, Walk};
use crate::diagnostic::{Code, Diagnostic};
use crate::manifest::SecretSpec;
use crate::yaml::{Node, Value};

fn variable(text: &str, upper: bool) -> bool {
    text.chars().next().is_some_and(|c| {
        c == '_'
            || if upper {
                c.is_ascii_uppercase()
            } else {
                c.is_ascii_alphabetic()
            }
    }) && text.len() <= 128
        && text.chars().all(|c| {
            c == '_'
                || c.is_ascii_digit()
                || if upper {
                    c.is_ascii_uppercase()
                } else {
                    c.is_ascii_alphabetic()
                }
        })
}

impl Walk {
    pub(super) fn secret_list(&mut self, node: &Node) -> Option<Vec<SecretSpec>> {
        let Value::Sequence(items) = &node.value else {
            self.push(
                Diagnostic::error(
                    Code::WrongType,
                    node.span,
                    format!("`secrets` must be a list, found {}", node.value.kind()),
                )
                .label("expected a list")
                .help("write `- name: DB_PASSWORD` with `from_env: PROD_DB_PASS` under it"),
            );
            return None;
        };
        let mut out: Vec<SecretSpec> = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(fields) = self.mapping(item, "secrets", SECRET_KEYS, item.span) else {
                ok = false;
                continue;
            };
            let name = self.string(&fields, "name");
            let from = self.string(&fields, "from_env");
            let description = self.string(&fields, "description").map(|(d, _)| d);
            let (Some((name, name_span)), Some((from, from_span))) = (name, from) else {
                ok = false;
                continue;
            };
            if !variable(&name, true) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::ValueNotAllowed,
                        name_span,
                        format!(
                            "`secrets.name` `{}` is not an environment variable name",
                            name.chars().take(60).collect::<String>()
                        ),
                    )
                    .label("variable name")
                    .help("capital letters, digits and `_`, such as `DB_PASSWORD`"),
                );
                continue;
            }
            if !variable(&from, false) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::ValueNotAllowed,
                        from_span,
                        format!("`secrets.from_env` `{}` is not an environment variable name", from.chars().take(60).collect::<String>()),
                    )
                    .label("variable name")
                    .help("the variable algodeploy reads the value from when it applies, such as `PROD_DB_PASS`"),
                );
                continue;
            }
            if out.iter().any(|s| s.name == name) {
                ok = false;
                self.push(
                    Diagnostic::error(
                        Code::CrossField,
                        name_span,
                        format!("the secret `{name}` is listed twice"),
                    )
                    .label("second entry")
                    .help("keep one entry per variable"),
                );
                continue;
            }
            out.push(SecretSpec {
                name,
                from_env: from,
                description,
            });
        }
        ok.then_some(out)
    }
}

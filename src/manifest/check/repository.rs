//! `repository:`: which folders of the git repository become the algorithm's repository.
//! Paths are checked by name first (relative, no `.git`, `to` normalised, no two includes on
//! one path), then in the work tree (they exist, inside the repository after links are
//! resolved). That `from` exists in HEAD is the plan's check (`deploy.rs`).

use std::path::{Component, Path, PathBuf};

use super::{Fields, INCLUDE_KEYS, Walk};
use crate::diagnostic::{Code, Diagnostic};
use crate::manifest::{Include, Repository};
use crate::yaml::{Span, Value};

impl Walk {
    pub(super) fn repository(
        &mut self,
        fields: &Fields,
        manifest: &Path,
        repo_root: &Path,
    ) -> Option<Repository> {
        let root = match fields.get("root") {
            None => Some(PathBuf::from(".")),
            Some(_) => self.string(fields, "root").and_then(|(text, span)| {
                self.source_path("repository.root", &text, span, manifest, repo_root, true)
                    .map(|()| PathBuf::from(text))
            }),
        };
        let include = match fields.get("include") {
            None => Some(Vec::new()),
            Some(node) => match &node.value {
                Value::Sequence(items) => {
                    let mut ok = true;
                    let mut list: Vec<(Include, Span)> = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        match self.include(index, item, manifest, repo_root) {
                            Some(entry) => list.push(entry),
                            None => ok = false,
                        }
                    }
                    ok &= self.no_overlaps(&list);
                    ok.then(|| list.into_iter().map(|(i, _)| i).collect())
                }
                other => {
                    self.push(
                        Diagnostic::error(
                            Code::WrongType,
                            node.span,
                            format!(
                                "`repository.include` must be a list of `from`/`to` entries, found {}",
                                other.kind()
                            ),
                        )
                        .label("expected a list")
                        .help("write `- from: ../../libs/common` with `to: libs/common` under it"),
                    );
                    None
                }
            },
        };
        Some(Repository {
            root: root?,
            include: include?,
        })
    }

    fn include(
        &mut self,
        index: usize,
        item: &crate::yaml::Node,
        manifest: &Path,
        repo_root: &Path,
    ) -> Option<(Include, Span)> {
        let fields = self.mapping(item, "repository.include", INCLUDE_KEYS, item.span)?;
        let from = self.string(&fields, "from").and_then(|(text, span)| {
            let what = format!("repository.include[{index}].from");
            self.source_path(&what, &text, span, manifest, repo_root, false)
                .map(|()| PathBuf::from(text))
        });
        let to = self
            .string(&fields, "to")
            .and_then(|(text, span)| self.target_path(index, &text, span).map(|to| (to, span)));
        let (to, span) = to?;
        Some((Include { from: from?, to }, span))
    }

    /// A folder (or, for `from`, a file) of this repository, relative to the manifest.
    fn source_path(
        &mut self,
        what: &str,
        text: &str,
        span: Span,
        manifest: &Path,
        repo_root: &Path,
        folder_only: bool,
    ) -> Option<()> {
        let fail = |message: String, help: &str| {
            Diagnostic::error(Code::Repository, span, message)
                .label("path")
                .help(help.to_string())
        };
        let path = Path::new(text);
        if text.is_empty() || path.is_absolute() {
            self.push(fail(
                format!("`{what}` must be a path relative to the manifest, not `{text}`"),
                "write it relative to the folder that holds the manifest, such as `../../libs/common`",
            ));
            return None;
        }
        let in_git = |p: &Path| p.components().any(|c| c.as_os_str() == ".git");
        if in_git(path) {
            self.push(fail(
                format!("`{what}` `{text}` is inside `.git/`, git's own folder"),
                "name a folder of the repository's content",
            ));
            return None;
        }
        let base = manifest.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let full = base.join(path);
        let (Ok(canonical), Ok(root)) = (full.canonicalize(), repo_root.canonicalize()) else {
            self.push(fail(
                format!(
                    "`{what}` `{text}` does not exist (looked for `{}`)",
                    full.display()
                ),
                "create it, or fix the path (it is relative to the manifest's folder)",
            ));
            return None;
        };
        if !canonical.starts_with(&root) {
            self.push(fail(
                format!(
                    "`{what}` `{text}` is outside the git repository `{}`",
                    root.display()
                ),
                "an algorithm's repository is made from folders of the same git repository",
            ));
            return None;
        }
        if in_git(canonical.strip_prefix(&root).unwrap_or(&canonical)) {
            self.push(fail(
                format!("`{what}` `{text}` is inside `.git/`, git's own folder"),
                "name a folder of the repository's content",
            ));
            return None;
        }
        if folder_only && !canonical.is_dir() {
            self.push(fail(
                format!("`{what}` `{text}` is not a folder"),
                "the root is the folder whose content becomes the algorithm's repository",
            ));
            return None;
        }
        Some(())
    }

    /// Where an include lands: relative, normalised (`libs/common`), never `.git` or
    /// `.algodeploy`.
    fn target_path(&mut self, index: usize, text: &str, span: Span) -> Option<PathBuf> {
        let fail = |message: String| {
            Diagnostic::error(Code::Repository, span, message)
                .label("target path")
                .help("a relative path inside the algorithm's repository, such as `libs/common`")
        };
        let what = format!("repository.include[{index}].to");
        let path = Path::new(text.trim_end_matches('/'));
        if text.is_empty() || path.as_os_str().is_empty() || path.is_absolute() {
            self.push(fail(format!(
                "`{what}` must be a relative path in the algorithm's repository, not `{text}`"
            )));
            return None;
        }
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(part) if part != ".git" && part != ".algodeploy" => {
                    parts.push(part.to_string_lossy().into_owned());
                }
                Component::Normal(part) => {
                    self.push(fail(format!(
                        "`{what}` `{text}` lands in `{}`, which is never deployed",
                        part.to_string_lossy()
                    )));
                    return None;
                }
                _ => {
                    self.push(fail(format!(
                        "`{what}` `{text}` is not a normalised path: no `.`, `..` or leading `/`"
                    )));
                    return None;
                }
            }
        }
        let normal = parts.join("/");
        if normal != text.trim_end_matches('/') {
            self.push(fail(format!(
                "`{what}` `{text}` is not a normalised path; write `{normal}`"
            )));
            return None;
        }
        Some(PathBuf::from(normal))
    }

    /// No two includes land on one path, or one inside another.
    fn no_overlaps(&mut self, list: &[(Include, Span)]) -> bool {
        let mut ok = true;
        for (later, (b, span)) in list.iter().enumerate() {
            for (a, _) in &list[..later] {
                let (x, y) = (a.to.to_string_lossy(), b.to.to_string_lossy());
                if x == y || x.starts_with(&format!("{y}/")) || y.starts_with(&format!("{x}/")) {
                    ok = false;
                    self.push(
                        Diagnostic::error(
                            Code::CrossField,
                            *span,
                            format!(
                                "`repository.include` copies two entries onto `{y}` (`{}` and `{}`)",
                                a.from.display(),
                                b.from.display()
                            ),
                        )
                        .label("lands on another include")
                        .help("give each include its own `to` folder"),
                    );
                }
            }
        }
        ok
    }
}

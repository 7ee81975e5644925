//! The validating walk: a located YAML tree against the manifest's rules, every problem
//! collected with its position, then the [`Manifest`] built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    Callability, Details, Environment, Language, License, Loaded, Manifest, NetworkAccess,
    Settings, SourceVisibility, VersionInfo,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::yaml::{self, Key, Node, Span, Value};

mod environments;
mod repository;
mod secret_list;

/// The longest `details.label` or `details.tagline` accepted.
const MAX_LINE_CHARS: usize = 200;

/// Field tables: the walk's knowledge of each mapping. `manifest::tests` checks them against
/// the JSON Schema generated from the types above.
pub(crate) const TOP_KEYS: &[(&str, bool)] = &[
    ("owner", true),
    ("name", true),
    ("details", true),
    ("settings", true),
    ("version_info", true),
    ("repository", false),
    ("environments", false),
    ("secrets", false),
];
pub(crate) const ENVIRONMENT_KEYS: &[(&str, bool)] = &[
    ("profile", false),
    ("owner", false),
    ("details", false),
    ("settings", false),
    ("version_info", false),
    ("secrets", false),
];
pub(crate) const SECRET_KEYS: &[(&str, bool)] =
    &[("name", true), ("from_env", true), ("description", false)];
pub(crate) const REPOSITORY_KEYS: &[(&str, bool)] = &[("root", false), ("include", false)];
pub(crate) const INCLUDE_KEYS: &[(&str, bool)] = &[("from", true), ("to", true)];
pub(crate) const DETAILS_KEYS: &[(&str, bool)] = &[
    ("label", true),
    ("tagline", false),
    ("summary", false),
    ("summary_file", false),
];
pub(crate) const SETTINGS_KEYS: &[(&str, bool)] = &[
    ("license", true),
    ("source_visibility", true),
    ("network_access", true),
    ("pipeline_enabled", true),
    ("language", false),
    ("environment", false),
    ("algorithm_environment", false),
    ("package_set", false),
    ("royalty_microcredits", false),
    ("algorithm_callability", false),
];
pub(crate) const VERSION_KEYS: &[(&str, bool)] = &[
    ("semantic_version", true),
    ("release_notes", false),
    ("sample_input", false),
    ("sample_output", false),
];

const SECTIONS: &[(&str, &[(&str, bool)])] = &[
    ("", TOP_KEYS),
    ("details", DETAILS_KEYS),
    ("settings", SETTINGS_KEYS),
    ("version_info", VERSION_KEYS),
];

/// Validate manifest bytes. `path` is the manifest's path (for `summary_file`); `repo_root` the
/// folder that `summary_file` must stay inside. Returns every problem, sorted by position.
pub fn check(path: &Path, bytes: &[u8], repo_root: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let root = match yaml::parse(bytes) {
        Ok(root) => root,
        Err(e) => {
            let mut d = Diagnostic::error(e.code, e.span, e.message).label("here");
            if let Some(help) = e.help {
                d = d.help(help);
            }
            return Err(vec![d]);
        }
    };
    // `environments` is checked apart: each environment's overrides are merged over the rest
    // and the result is checked like a manifest of its own (problems keep their positions).
    let (base, environments) = environments::split(&root);
    let mut walk = Walk {
        diagnostics: Vec::new(),
        summary_file_span: None,
    };
    let manifest = walk.manifest(&base, path, repo_root);
    let merged = environments.map(|node| walk.environments(&base, node, path, repo_root));
    let mut diagnostics = walk.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.line, d.span.column));
    diagnostics.dedup_by(|a, b| a.span == b.span && a.message == b.message);
    let merged = match merged {
        None => Some(std::collections::BTreeMap::new()),
        Some(envs) => envs,
    };
    match (manifest, merged) {
        (Some((manifest, summary)), Some(envs)) if diagnostics.is_empty() => Ok(Loaded {
            path: path.to_path_buf(),
            manifest,
            summary,
            source: String::from_utf8_lossy(bytes).into_owned(),
            summary_file_span: walk.summary_file_span,
            environments: envs,
            environment: None,
        }),
        _ => Err(diagnostics),
    }
}

struct Walk {
    diagnostics: Vec<Diagnostic>,
    summary_file_span: Option<Span>,
}

/// The entries of one mapping, looked up by key.
struct Fields<'n> {
    /// The span that "missing key" errors point at: the mapping's own key in its parent.
    at: Span,
    path: &'static str,
    entries: BTreeMap<&'n str, (&'n Key, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.get(key).map(|(_, node)| *node)
    }
    fn key(&self, key: &str) -> Option<&'n Key> {
        self.entries.get(key).map(|(k, _)| *k)
    }
    fn dotted(&self, key: &str) -> String {
        dotted(self.path, key)
    }
}

fn dotted(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

type Built = (Manifest, Option<String>);

impl Walk {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn manifest(&mut self, root: &Node, path: &Path, repo_root: &Path) -> Option<Built> {
        self.secrets(root);
        let doc_start = Span {
            line: 1,
            column: 1,
            start: 0,
            end: 0,
        };
        let top = self.mapping(root, "", TOP_KEYS, doc_start)?;
        let owner = self.name_field(&top, "owner", 30);
        let name = self.name_field(&top, "name", usize::MAX);
        let details = self.section(&top, "details", DETAILS_KEYS);
        let settings = self.section(&top, "settings", SETTINGS_KEYS);
        let version_info = self.section(&top, "version_info", VERSION_KEYS);

        let details = details.and_then(|f| self.details(&f, path, repo_root));
        let settings = settings.and_then(|f| self.settings(&f));
        let version_info = version_info.and_then(|f| self.version_info(&f));
        let repository = match top.get("repository") {
            None => Some(None),
            Some(_) => self
                .section(&top, "repository", REPOSITORY_KEYS)
                .and_then(|f| self.repository(&f, path, repo_root))
                .map(Some),
        };
        let secrets = match top.get("secrets") {
            None => Some(Vec::new()),
            Some(node) => self.secret_list(node),
        };
        let ((details, summary), settings, version_info) = (details?, settings?, version_info?);
        Some((
            Manifest {
                owner: owner?,
                name: name?,
                details,
                settings,
                version_info,
                repository: repository?,
                // Environments are checked and kept apart (`Loaded::environments`).
                environments: None,
                secrets: secrets?,
            },
            summary,
        ))
    }

    /// A string that looks like an Algorithmia API key anywhere in the file is refused
    /// without quoting it: the diagnostic carries no snippet text of its own.
    fn secrets(&mut self, node: &Node) {
        match &node.value {
            Value::String(s) if looks_like_api_key(s) => self.push(secret(node.span)),
            Value::Sequence(items) => items.iter().for_each(|item| self.secrets(item)),
            Value::Mapping(entries) => {
                for (key, value) in entries {
                    if looks_like_api_key(&key.name) {
                        self.push(secret(key.span));
                    }
                    self.secrets(value);
                }
            }
            _ => {}
        }
    }

    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &'static str,
        known: &[(&str, bool)],
        at: Span,
    ) -> Option<Fields<'n>> {
        let Value::Mapping(entries) = &node.value else {
            let what = if path.is_empty() {
                "the manifest".to_string()
            } else {
                format!("`{path}`")
            };
            self.push(
                Diagnostic::error(
                    Code::WrongType,
                    if path.is_empty() { node.span } else { at },
                    format!(
                        "{what} must be a mapping of keys to values, found {}",
                        node.value.kind()
                    ),
                )
                .label("expected a mapping")
                .help(format!(
                    "write the keys indented under it: {}",
                    known
                        .iter()
                        .filter(|(_, required)| *required)
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            return None;
        };
        let mut fields = Fields {
            at,
            path,
            entries: BTreeMap::new(),
        };
        let mut suggested = Vec::new();
        for (key, value) in entries {
            if known.iter().any(|(k, _)| *k == key.name) {
                fields.entries.insert(key.name.as_str(), (key, value));
            } else if !looks_like_api_key(&key.name) {
                let (diagnostic, suggestion) = unknown_key(path, key, known);
                suggested.extend(suggestion);
                self.push(diagnostic);
            }
        }
        for (key, required) in known {
            // A misspelt required key is reported once, as the misspelling.
            if *required && !fields.entries.contains_key(key) && !suggested.contains(key) {
                let d = if path.is_empty() {
                    Diagnostic::error(
                        Code::MissingKey,
                        at,
                        format!("the manifest is missing the required key `{key}`"),
                    )
                } else {
                    Diagnostic::error(
                        Code::MissingKey,
                        at,
                        format!("`{path}` is missing the required key `{key}`"),
                    )
                };
                self.push(d.label(format!("`{key}` is required")).help(format!(
                    "add `{key}:`; see `algodeploy schema` or README's manifest reference"
                )));
            }
        }
        Some(fields)
    }

    fn section<'n>(
        &mut self,
        top: &Fields<'n>,
        key: &'static str,
        known: &[(&str, bool)],
    ) -> Option<Fields<'n>> {
        let node = top.get(key)?;
        let at = top.key(key).map_or(node.span, |k| k.span);
        self.mapping(node, key, known, at)
    }

    fn string(&mut self, fields: &Fields, key: &str) -> Option<(String, Span)> {
        let node = fields.get(key)?;
        match &node.value {
            Value::String(s) => Some((s.clone(), node.span)),
            other => {
                let help = match other {
                    Value::Integer(_) | Value::Float(_) | Value::Bool(_) => {
                        format!("quote it to make it text: `{key}: \"...\"`")
                    }
                    Value::Null => format!("give `{key}` a value, or remove the key"),
                    _ => format!("`{key}` takes a single line of text or a block scalar (`|`)"),
                };
                self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        node.span,
                        format!(
                            "`{}` must be a string, found {}",
                            fields.dotted(key),
                            other.kind()
                        ),
                    )
                    .label("expected a string")
                    .help(help),
                );
                None
            }
        }
    }

    fn choice<T>(
        &mut self,
        fields: &Fields,
        key: &str,
        values: &[&str],
        parse: fn(&str) -> Option<T>,
    ) -> Option<(T, Span)> {
        let node = fields.get(key)?;
        let allowed = values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = match &node.value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Integer(i) => i.to_string(),
            other => {
                self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        node.span,
                        format!(
                            "`{}` must be one of {allowed}, found {}",
                            fields.dotted(key),
                            other.kind()
                        ),
                    )
                    .label("expected one value"),
                );
                return None;
            }
        };
        if let Some(value) = parse(&text) {
            return Some((value, node.span));
        }
        let mut d = Diagnostic::error(
            Code::ValueNotAllowed,
            node.span,
            format!(
                "`{}` cannot be `{}`",
                fields.dotted(key),
                text.chars().take(60).collect::<String>()
            ),
        )
        .label(format!("allowed: {allowed}"));
        let lower = text.to_lowercase();
        // A prefix (`gpl` for `gpl3`) beats an equally short edit (`apl`).
        let close = values
            .iter()
            .filter(|v| v.starts_with(&lower) || strsim::levenshtein(v, &lower) <= 2)
            .min_by_key(|v| (!v.starts_with(&lower), strsim::levenshtein(v, &lower)));
        if let Some(close) = close {
            d = d.help(format!("did you mean `{close}`?"));
        } else {
            d = d.help(format!("use one of {allowed}"));
        }
        self.push(d);
        None
    }

    fn name_field(&mut self, fields: &Fields, key: &str, max: usize) -> Option<String> {
        let (text, span) = self.string(fields, key)?;
        let ok = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && text.chars().count() <= max;
        if ok {
            return Some(text);
        }
        let rule = if max == usize::MAX {
            "a letter first, then letters, digits and `_`".to_string()
        } else {
            format!("1 to {max} characters: a letter first, then letters, digits and `_`")
        };
        let suggestion: String = text
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
            .chars()
            .take(max.min(64))
            .collect::<String>()
            .trim_end_matches('_')
            .to_string();
        let mut d = Diagnostic::error(
            Code::ValueNotAllowed,
            span,
            format!(
                "`{key}` `{}` is not a valid {key}",
                text.chars().take(60).collect::<String>()
            ),
        )
        .label(rule.clone());
        d = if suggestion.is_empty() || suggestion == text {
            d.help(format!("a {key} is {rule}"))
        } else {
            d.help(format!("a {key} is {rule}, such as `{suggestion}`"))
        };
        self.push(d);
        None
    }

    fn details(
        &mut self,
        fields: &Fields,
        path: &Path,
        repo_root: &Path,
    ) -> Option<(Details, Option<String>)> {
        let label = self.string(fields, "label");
        if let Some((text, span)) = &label
            && text.trim().is_empty()
        {
            self.push(
                Diagnostic::error(
                    Code::ValueNotAllowed,
                    *span,
                    "`details.label` must not be empty",
                )
                .label("empty label")
                .help("the label is the display name users see, such as `Hello World`"),
            );
        }
        let tagline = self.string(fields, "tagline");
        let label = label.filter(|(text, span)| self.one_line(fields, "label", text, *span));
        let tagline = tagline.filter(|(text, span)| self.one_line(fields, "tagline", text, *span));
        let summary = self.string(fields, "summary");
        let summary_file = self.string(fields, "summary_file");
        let mut summary_text = summary.as_ref().map(|(s, _)| s.clone());
        if let (Some(_), Some(_)) = (fields.get("summary"), fields.get("summary_file")) {
            let later = later_key(fields, "summary", "summary_file");
            self.push(
                Diagnostic::error(
                    Code::CrossField,
                    later,
                    "`details.summary` and `details.summary_file` cannot both be given",
                )
                .label("second source for the summary")
                .help("keep one: inline text in `summary`, or a file named by `summary_file`"),
            );
        } else if let Some((file, span)) = &summary_file {
            self.summary_file_span = Some(*span);
            summary_text = self.summary_file(file, *span, path, repo_root);
        }
        let label = label.filter(|(text, _)| !text.trim().is_empty())?;
        if fields.get("summary_file").is_some() && summary_text.is_none() {
            return None;
        }
        Some((
            Details {
                label: label.0,
                tagline: tagline.map(|t| t.0),
                summary: summary.map(|s| s.0),
                summary_file: summary_file.map(|(f, _)| PathBuf::from(f)),
            },
            summary_text,
        ))
    }

    /// Labels and taglines are single lines that fit a page header; long text goes in
    /// `summary`.
    fn one_line(&mut self, fields: &Fields, key: &str, text: &str, span: Span) -> bool {
        let length = text.chars().count();
        let hidden = text
            .chars()
            .find(|&c| c != '\n' && c != '\r' && crate::sanitize::hides(c));
        if let Some(c) = hidden {
            self.push(
                Diagnostic::error(
                    Code::ValueNotAllowed,
                    span,
                    format!(
                        "`{}` contains the control or invisible character U+{:04X}",
                        fields.dotted(key),
                        u32::from(c)
                    ),
                )
                .label("a character that hides or reorders text")
                .help("remove it: one-line fields are shown as they are, on pages and in plans"),
            );
            return false;
        }
        let problem = if text.contains(['\n', '\r']) {
            "must be a single line".to_string()
        } else if length > MAX_LINE_CHARS {
            format!("is {length} characters long; the limit is {MAX_LINE_CHARS}")
        } else {
            return true;
        };
        self.push(
            Diagnostic::error(
                Code::ValueNotAllowed,
                span,
                format!("`{}` {problem}", fields.dotted(key)),
            )
            .label("too long for a one-line field")
            .help("put longer text in `details.summary`"),
        );
        false
    }

    fn summary_file(
        &mut self,
        file: &str,
        span: Span,
        manifest: &Path,
        repo_root: &Path,
    ) -> Option<String> {
        let base = manifest.parent().unwrap_or(Path::new("."));
        let full = base.join(file);
        let fail = |message: String, help: &str| {
            Diagnostic::error(Code::SummaryFile, span, message)
                .label("summary file")
                .help(help)
        };
        if Path::new(file).is_absolute() {
            self.push(fail(
                format!("`details.summary_file` must be relative to the manifest, not `{file}`"),
                "write the path relative to the folder that holds algorithm.yaml, such as `README.md`",
            ));
            return None;
        }
        let (Ok(canonical), Ok(root)) = (full.canonicalize(), repo_root.canonicalize()) else {
            self.push(fail(
                format!(
                    "`details.summary_file` `{file}` does not exist (looked for `{}`)",
                    full.display()
                ),
                "create the file, or fix the path (it is relative to the manifest's folder)",
            ));
            return None;
        };
        if !canonical.starts_with(&root) {
            self.push(fail(
                format!(
                    "`details.summary_file` `{file}` is outside the repository `{}`",
                    root.display()
                ),
                "keep the summary inside the algorithm's repository so that it is reviewed with it",
            ));
            return None;
        }
        // `.git/` holds git's own files (credentials in `.git/config` among them), never
        // reviewed content: refused by name and after links are resolved.
        let in_git = |p: &Path| p.components().any(|c| c.as_os_str() == ".git");
        if in_git(Path::new(file)) || in_git(canonical.strip_prefix(&root).unwrap_or(&canonical)) {
            self.push(fail(
                format!("`details.summary_file` `{file}` is inside `.git/`, git's own folder"),
                "name a tracked Markdown file of the repository, such as `README.md`",
            ));
            return None;
        }
        match std::fs::metadata(&canonical) {
            Ok(meta) if meta.is_file() && meta.len() <= yaml::MAX_BYTES as u64 => {}
            Ok(meta) if meta.is_file() => {
                self.push(fail(
                    format!(
                        "`details.summary_file` `{file}` is {} bytes; the limit is 1 MiB",
                        meta.len()
                    ),
                    "shorten the summary",
                ));
                return None;
            }
            _ => {
                self.push(fail(
                    format!("`details.summary_file` `{file}` is not a regular file"),
                    "name a Markdown file, such as `README.md`",
                ));
                return None;
            }
        }
        match std::fs::read(&canonical).map(String::from_utf8) {
            Ok(Ok(text)) => {
                if text.split_whitespace().any(looks_like_api_key) {
                    self.push(
                        Diagnostic::error(
                            Code::Secret,
                            span,
                            format!("`details.summary_file` `{file}` contains a string that looks like an Algorithmia API key"),
                        )
                        .label("file with a key-shaped string")
                        .help("remove the key from the file; keys belong in ALGORITHMIA_API_KEY"),
                    );
                    return None;
                }
                Some(text)
            }
            Ok(Err(_)) => {
                self.push(fail(
                    format!("`details.summary_file` `{file}` is not valid UTF-8"),
                    "save the file as UTF-8",
                ));
                None
            }
            Err(e) => {
                self.push(fail(
                    format!("`details.summary_file` `{file}` cannot be read: {e}"),
                    "check the file's permissions",
                ));
                None
            }
        }
    }

    fn settings(&mut self, fields: &Fields) -> Option<Settings> {
        let license = self.choice(fields, "license", License::VALUES, License::parse);
        let visibility = self.choice(
            fields,
            "source_visibility",
            SourceVisibility::VALUES,
            SourceVisibility::parse,
        );
        let network = self.choice(
            fields,
            "network_access",
            NetworkAccess::VALUES,
            NetworkAccess::parse,
        );
        let pipeline = self.boolean(fields, "pipeline_enabled");
        let language = self.choice(fields, "language", Language::VALUES, Language::parse);
        let environment = self.choice(
            fields,
            "environment",
            Environment::VALUES,
            Environment::parse,
        );
        let algorithm_environment = self.string(fields, "algorithm_environment");
        let package_set = self.string(fields, "package_set");
        let royalty = self.unsigned(fields, "royalty_microcredits");
        let callability = self.choice(
            fields,
            "algorithm_callability",
            Callability::VALUES,
            Callability::parse,
        );
        let mut ok = true;

        if let (Some((SourceVisibility::Closed, _)), Some((license, _))) = (&visibility, &license)
            && *license != License::Apl
        {
            let at = later_key(fields, "license", "source_visibility");
            self.push(
                Diagnostic::error(
                    Code::CrossField,
                    at,
                    format!("`settings.source_visibility: closed` needs `settings.license: apl`, not `{license}`"),
                )
                .label("closed source with an open-source license")
                .help("set `source_visibility: open`, or `license: apl`"),
            );
            ok = false;
        }
        if let Some((id, span)) = &algorithm_environment
            && !is_uuid(id)
        {
            self.push(
                Diagnostic::error(
                    Code::ValueNotAllowed,
                    *span,
                    format!("`settings.algorithm_environment` must be an environment id (a UUID), not `{}`", id.chars().take(60).collect::<String>()),
                )
                .label("not a UUID")
                .help("copy the environment `id` from Algorithmia's environments list, such as `67f8f5a6-1c2b-4d6e-9f0a-1b2c3d4e5f60`; for a name such as `python38` use `package_set`"),
            );
            ok = false;
        }
        if let Some((name, span)) = &package_set
            && name.trim().is_empty()
        {
            self.push(
                Diagnostic::error(
                    Code::ValueNotAllowed,
                    *span,
                    "`settings.package_set` must not be empty",
                )
                .label("empty package set")
                .help("name a package set such as `python38`"),
            );
            ok = false;
        }
        ok &= self.runtime(fields);

        Some(Settings {
            license: license?.0,
            source_visibility: visibility?.0,
            network_access: network?.0,
            pipeline_enabled: pipeline?,
            language: language.map(|l| l.0),
            environment: environment.map(|e| e.0),
            algorithm_environment: algorithm_environment.map(|a| a.0),
            package_set: package_set.map(|p| p.0),
            royalty_microcredits: match fields.get("royalty_microcredits") {
                Some(_) => royalty?,
                None => 0,
            },
            algorithm_callability: match fields.get("algorithm_callability") {
                Some(_) => callability?.0,
                None => Callability::Private,
            },
        })
        .filter(|_| ok)
    }

    /// Exactly one runtime: `language` + `environment`, `algorithm_environment`, or `package_set`.
    fn runtime(&mut self, fields: &Fields) -> bool {
        let has = |key: &str| fields.key(key).is_some();
        if has("language") != has("environment") {
            let (given, missing) = if has("language") {
                ("language", "environment")
            } else {
                ("environment", "language")
            };
            self.push(
                Diagnostic::error(
                    Code::CrossField,
                    fields.key(given).map_or(fields.at, |k| k.span),
                    format!("`settings.{given}` needs `settings.{missing}`"),
                )
                .label(format!("`{missing}` is missing"))
                .help(format!(
                    "the legacy runtime takes both: `language` ({}) and `environment` ({})",
                    Language::VALUES.join(", "),
                    Environment::VALUES.join(", ")
                )),
            );
            return false;
        }
        let mut given: Vec<(&str, Span)> = Vec::new();
        if let Some(k) = fields.key("language") {
            let env = fields.key("environment").map_or(k.span, |e| e.span);
            given.push((
                "language + environment",
                if env.start > k.span.start {
                    env
                } else {
                    k.span
                },
            ));
        }
        for key in ["algorithm_environment", "package_set"] {
            if let Some(k) = fields.key(key) {
                given.push((key, k.span));
            }
        }
        match given.len() {
            1 => true,
            0 => {
                self.push(
                    Diagnostic::error(
                        Code::MissingKey,
                        fields.at,
                        "`settings` names no runtime",
                    )
                    .label("needs a runtime")
                    .help("add one of: `algorithm_environment` (an environment id), `package_set` (such as `python38`), or `language` with `environment`"),
                );
                false
            }
            _ => {
                given.sort_by_key(|(_, span)| span.start);
                let (later, span) = given[given.len() - 1];
                let others: Vec<_> = given[..given.len() - 1]
                    .iter()
                    .map(|(k, _)| format!("`{k}`"))
                    .collect();
                self.push(
                    Diagnostic::error(
                        Code::CrossField,
                        span,
                        format!("`settings` names more than one runtime: `{later}` and {}", others.join(", ")),
                    )
                    .label("second runtime")
                    .help("keep exactly one of `language` + `environment`, `algorithm_environment`, `package_set`"),
                );
                false
            }
        }
    }

    fn boolean(&mut self, fields: &Fields, key: &str) -> Option<bool> {
        let node = fields.get(key)?;
        if let Value::Bool(b) = node.value {
            return Some(b);
        }
        let help = match &node.value {
            Value::String(s)
                if ["yes", "no", "on", "off", "y", "n"].contains(&s.to_lowercase().as_str()) =>
            {
                format!(
                    "YAML 1.1 words such as `{s}` are not booleans here; write `true` or `false`"
                )
            }
            _ => "write `true` or `false`".to_string(),
        };
        self.push(
            Diagnostic::error(
                Code::WrongType,
                node.span,
                format!(
                    "`{}` must be `true` or `false`, found {}",
                    fields.dotted(key),
                    node.value.kind()
                ),
            )
            .label("expected a boolean")
            .help(help),
        );
        None
    }

    fn unsigned(&mut self, fields: &Fields, key: &str) -> Option<u64> {
        let node = fields.get(key)?;
        if let Value::Integer(i) = node.value
            && let Ok(n) = u64::try_from(i)
        {
            return Some(n);
        }
        let found = match &node.value {
            Value::Integer(i) if *i < 0 => "a negative integer".to_string(),
            Value::Integer(_) => "an integer that is too large".to_string(),
            other => other.kind().to_string(),
        };
        self.push(
            Diagnostic::error(
                Code::WrongType,
                node.span,
                format!(
                    "`{}` must be a whole number of 0 or more, found {found}",
                    fields.dotted(key)
                ),
            )
            .label("expected an integer ≥ 0")
            .help("microcredits are whole numbers; 0 means no royalty"),
        );
        None
    }

    fn version_info(&mut self, fields: &Fields) -> Option<VersionInfo> {
        let version = match fields.get("semantic_version") {
            Some(Node {
                value: Value::Float(_) | Value::Integer(_),
                span,
            }) => {
                self.push(
                    Diagnostic::error(
                        Code::WrongType,
                        *span,
                        "`version_info.semantic_version` must be a string `MAJOR.MINOR.PATCH`, found a number",
                    )
                    .label("a number, not a version")
                    .help("write all three parts, such as `semantic_version: 1.0.0`, or quote it"),
                );
                None
            }
            _ => self.string(fields, "semantic_version"),
        };
        let version = version.and_then(|(text, span)| {
            if crate::version::Version::parse(&text).is_some() {
                Some((text, span))
            } else {
                let help = if text.starts_with('v') || text.contains('-') || text.contains('+') {
                    "Algorithmia versions are three numbers only: no `v` prefix, pre-release or build part"
                } else {
                    "write three numbers separated by dots, such as `1.0.0`"
                };
                self.push(
                    Diagnostic::error(
                        Code::ValueNotAllowed,
                        span,
                        format!("`version_info.semantic_version` `{}` is not `MAJOR.MINOR.PATCH`", text.chars().take(60).collect::<String>()),
                    )
                    .label("not a semantic version")
                    .help(help),
                );
                None
            }
        });
        let release_notes = self.string(fields, "release_notes");
        let sample_input = fields.get("sample_input").map(sample_text);
        let sample_output = fields.get("sample_output").map(sample_text);
        let (semantic_version, _) = version?;
        Some(VersionInfo {
            semantic_version,
            release_notes: release_notes.map(|r| r.0),
            sample_input,
            sample_output,
        })
    }
}

fn sample_text(node: &Node) -> String {
    match &node.value {
        Value::String(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

fn later_key(fields: &Fields, a: &str, b: &str) -> Span {
    match (fields.key(a), fields.key(b)) {
        (Some(x), Some(y)) => {
            let later = if x.span.start > y.span.start { x } else { y };
            fields.get(&later.name).map_or(later.span, |n| n.span)
        }
        (Some(x), None) | (None, Some(x)) => x.span,
        (None, None) => fields.at,
    }
}

/// The diagnostic for a key the mapping does not know, and the known key it suggests.
fn unknown_key<'k>(
    path: &str,
    key: &Key,
    known: &[(&'k str, bool)],
) -> (Diagnostic, Option<&'k str>) {
    let where_ = if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{path}`")
    };
    let d = Diagnostic::error(
        Code::UnknownKey,
        key.span,
        format!(
            "unknown key `{}` {where_}",
            key.name.chars().take(60).collect::<String>()
        ),
    )
    .label("unknown key");
    let close = known
        .iter()
        .map(|(k, _)| (*k, strsim::levenshtein(k, &key.name)))
        .filter(|(k, distance)| *distance <= 2.max(k.len() / 4))
        .min_by_key(|(_, distance)| *distance);
    if let Some((k, _)) = close {
        return (d.help(format!("did you mean `{k}`?")), Some(k));
    }
    if let Some((section, _)) = SECTIONS
        .iter()
        .find(|(section, keys)| *section != path && keys.iter().any(|(k, _)| *k == key.name))
    {
        let home = if section.is_empty() {
            "at the top level".to_string()
        } else {
            format!("under `{section}`")
        };
        return (d.help(format!("`{}` belongs {home}", key.name)), None);
    }
    let allowed = known
        .iter()
        .map(|(k, _)| format!("`{k}`"))
        .collect::<Vec<_>>();
    (
        d.help(format!(
            "the keys allowed {where_} are {}",
            allowed.join(", ")
        )),
        None,
    )
}

fn secret(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::Secret,
        span,
        "this value looks like an Algorithmia API key; keys do not belong in a manifest",
    )
    .label("key-shaped value (not shown)")
    .help("remove it and rotate the key if it was committed; algodeploy reads the key from ALGORITHMIA_API_KEY or ~/.algorithmia/config")
    .redacted()
}

/// Algorithmia's standard keys are 28 characters starting `sim` (both official CLIs check
/// exactly this).
pub fn looks_like_api_key(text: &str) -> bool {
    text.len() == 28
        && text.starts_with("sim")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
}

/// A UUID in its hyphenated form (`8-4-4-4-12` hex digits), the only form ids take.
fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

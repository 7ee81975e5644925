//! Located problems in a manifest, as data, and their three renderings: rustc-style text
//! (through annotate-snippets), a stable JSON object, and GitHub Actions annotations.
//!
//! Producing diagnostics is the manifest validator's job; deciding where to print them is the
//! caller's. Nothing here does IO.

use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::Serialize;

use crate::yaml::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
}

/// A diagnostic's class: a stable kebab-case name in JSON (`code`), GitHub annotations and
/// rustc-style text, each documented in README's table of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    YamlSyntax,
    YamlLimit,
    YamlTag,
    Encoding,
    TooLarge,
    Empty,
    DuplicateKey,
    UnknownKey,
    WrongType,
    MissingKey,
    ValueNotAllowed,
    CrossField,
    Secret,
    SummaryFile,
    Repository,
    NotFound,
    NoManifest,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::YamlLimit => "yaml-limit",
            Code::YamlTag => "yaml-tag",
            Code::Encoding => "encoding",
            Code::TooLarge => "too-large",
            Code::Empty => "empty",
            Code::DuplicateKey => "duplicate-key",
            Code::UnknownKey => "unknown-key",
            Code::WrongType => "wrong-type",
            Code::MissingKey => "missing-key",
            Code::ValueNotAllowed => "value-not-allowed",
            Code::CrossField => "cross-field",
            Code::Secret => "secret",
            Code::SummaryFile => "summary-file",
            Code::Repository => "repository",
            Code::NotFound => "not-found",
            Code::NoManifest => "no-manifest",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// A short note printed under the caret.
    pub label: String,
    pub help: Option<String>,
    pub span: Span,
    /// Render without quoting the source line (the span holds something secret).
    pub redact: bool,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            label: String::new(),
            help: None,
            span,
            redact: false,
        }
    }

    #[must_use]
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// All diagnostics of one file together with its text, which rendering needs.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    /// The file's text when it could be read as UTF-8 (empty otherwise).
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

/// The JSON shape of one diagnostic (`validate --format json`); field names are a contract.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: Severity,
    pub code: Code,
    pub message: &'a str,
    pub help: Option<&'a str>,
}

impl FileReport {
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }

    /// rustc-style text, coloured when `color` is set.
    pub fn render_text(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let path = self.display_path();
        let mut out = String::new();
        for diagnostic in &self.diagnostics {
            // Messages, labels and help quote the manifest's values: inert, like every output.
            let message = crate::sanitize::inert(&diagnostic.message);
            let label = crate::sanitize::inert(&diagnostic.label);
            let help = diagnostic.help.as_deref().map(crate::sanitize::inert);
            let (start, end) = clamp(&self.source, diagnostic.span);
            let mut snippet = Snippet::source(self.source.as_str())
                .path(path.as_str())
                .fold(true);
            snippet = snippet.annotation(
                AnnotationKind::Primary
                    .span(start..end)
                    .label(label.as_str()),
            );
            let title = Level::ERROR
                .primary_title(message.as_str())
                .id(diagnostic.code.as_str());
            let group = if self.source.is_empty() || diagnostic.redact {
                // Nothing to quote (unreadable bytes), or something that must not be quoted:
                // a header with the position suffices.
                let origin = annotate_snippets::Origin::path(path.as_str());
                // Line 0 marks a problem with the file as a whole (it cannot be read).
                title.element(if diagnostic.span.line == 0 {
                    origin
                } else {
                    origin
                        .line(diagnostic.span.line)
                        .char_column(diagnostic.span.column)
                })
            } else {
                title.element(snippet)
            };
            let group = match &help {
                Some(help) => group.element(Level::HELP.message(help.as_str())),
                None => group,
            };
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        out
    }

    pub fn to_json(&self) -> Vec<JsonDiagnostic<'_>> {
        self.diagnostics
            .iter()
            .map(|d| {
                let (end_line, end_column) = end_position(&self.source, d.span);
                JsonDiagnostic {
                    file: self.display_path(),
                    line: d.span.line.max(1),
                    column: d.span.column.max(1),
                    end_line,
                    end_column,
                    severity: d.severity,
                    code: d.code,
                    message: &d.message,
                    help: d.help.as_deref(),
                }
            })
            .collect()
    }

    /// `::error file=…,line=…,col=…::message` lines for GitHub Actions.
    pub fn render_github(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            let (end_line, end_column) = end_position(&self.source, d.span);
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            out.push_str(&format!(
                "::error file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
                escape_property(&self.display_path()),
                d.span.line.max(1),
                d.span.column.max(1),
                end_line,
                end_column,
                escape_property(&format!("algodeploy {}", d.code)),
                escape_data(&message),
            ));
        }
        out
    }
}

/// Paths print as given, with `/` separators, relative where they were relative.
pub fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Byte range of a span inside the source, at least one character wide where the source has
/// one, so that the caret is visible.
fn clamp(source: &str, span: Span) -> (usize, usize) {
    let mut start = span.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    if end == start {
        end = source[start..]
            .chars()
            .next()
            .filter(|c| *c != '\n' && *c != '\r')
            .map_or(start, |c| start + c.len_utf8());
    }
    (start, end)
}

/// 1-based line and column just past the span's end (exclusive end, like LSP ranges).
fn end_position(source: &str, span: Span) -> (usize, usize) {
    if source.is_empty() || span.end <= span.start {
        return (span.line, span.column);
    }
    let (_, end) = clamp(source, span);
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// GitHub's workflow-command escaping: https://github.com/actions/toolkit (core/src/command.ts).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A failure's `errors[]` entries (`Error::to_json`) as GitHub Actions `::error` annotations,
/// with the manifest, line and column when known; messages and hints made inert.
pub fn error_annotations(entries: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for entry in entries {
        let message = entry["message"].as_str().unwrap_or("");
        let mut properties = vec!["title=algodeploy".to_string()];
        if let Some(file) = entry["manifest"].as_str() {
            properties.push(format!("file={}", escape_property(file)));
        }
        if let Some(line) = entry["line"].as_u64() {
            properties.push(format!("line={line}"));
        }
        if let Some(column) = entry["column"].as_u64() {
            properties.push(format!("col={column}"));
        }
        let hint = entry["hint"]
            .as_str()
            .map_or_else(String::new, |h| format!("\nhint: {h}"));
        out.push_str(&format!(
            "::error {}::{}\n",
            properties.join(","),
            escape_data(&crate::sanitize::inert(&format!("{message}{hint}")))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn a_code_is_its_kebab_case_name_in_json_and_text() {
        assert_eq!(
            serde_json::to_string(&Code::ValueNotAllowed).unwrap(),
            "\"value-not-allowed\""
        );
        assert_eq!(Code::YamlSyntax.to_string(), "yaml-syntax");
    }
}

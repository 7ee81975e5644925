//! Hostile-input-safe YAML reading: bytes in, a tree of located [`Node`]s out.
//!
//! The manifest arrives from pull requests, so this module owns every defence that does not
//! depend on the manifest's meaning: the 1 MiB cap, the UTF-8 / NUL / BOM checks, and
//! serde-saphyr's parser run under a tight budget (no anchors, aliases, merge keys or tags; one
//! document; small depth and node counts). What comes out is a plain tree where every mapping
//! key and every value knows its line, column and byte range, so the manifest validator can
//! report *all* schema problems with positions instead of stopping at serde's first error.
//!
//! The limits come from a spike that measured YAML parsers on hostile input (README, "Dependencies").

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diagnostic::Code;

/// Files larger than this are refused before any parsing.
pub const MAX_BYTES: usize = 1024 * 1024;

/// A position in the source: 1-based line and column (columns count characters) and the
/// byte range the node covers (collections cover only their first token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub start: usize,
    pub end: usize,
}

/// A located YAML value.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Integer(i128),
    Float(f64),
    String(String),
    Sequence(Vec<Node>),
    Mapping(Vec<(Key, Node)>),
}

/// A mapping key; only string keys are meaningful in a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Value {
    /// The word a diagnostic uses for this kind of value ("found a sequence").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Sequence(_) => "a sequence",
            Value::Mapping(_) => "a mapping",
        }
    }

    /// Compact JSON for values that the API wants as text (sample input/output).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Integer(i) => i64::try_from(*i)
                .map(J::from)
                .or_else(|_| u64::try_from(*i).map(J::from))
                .unwrap_or_else(|_| J::String(i.to_string())),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Sequence(items) => J::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Value::Mapping(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Why a file could not be turned into a tree. Always located except where the input gives
/// no position at all (an empty file has 1:1).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
    pub help: Option<String>,
    pub code: Code,
}

/// Parse manifest bytes into a located tree, refusing anything hostile.
pub fn parse(bytes: &[u8]) -> Result<Node, SyntaxError> {
    let text = check_text(bytes)?;
    if text.trim_matches(|c: char| c.is_whitespace()).is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(SyntaxError {
            message: "the manifest is empty".into(),
            span: Span {
                line: 1,
                column: 1,
                start: 0,
                end: 0,
            },
            help: Some(
                "start from `examples/algorithm.yaml`, or run `algodeploy import OWNER/NAME`"
                    .into(),
            ),
            code: Code::Empty,
        });
    }
    let spanned: Spanned<Value> =
        serde_saphyr::from_str_with_options(text, options()).map_err(|err| {
            let error = syntax_error(text, &err);
            // serde-saphyr points at the tagged value; the tag itself is the better place. The
            // parse stopped at that tag, so the event pass stops there too.
            match error.code {
                Code::YamlTag => reject_tags(text).err().unwrap_or(error),
                _ => error,
            }
        })?;
    reject_tags(text)?;
    Ok(node(text, spanned))
}

/// serde-saphyr refuses unknown tags but resolves the core ones (`!!binary` decodes, `!!str`
/// converts); a manifest allows none, so a second pass over the parser's events, run only on
/// text the budgeted parse already accepted, refuses any tag with its position.
fn reject_tags(text: &str) -> Result<(), SyntaxError> {
    use granit_parser::{Event, Parser};
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let tag = match &event {
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, _, tag)
            | Event::MappingStart(_, _, tag) => tag.as_ref(),
            _ => None,
        };
        if tag.is_some() {
            let marker = span.tag_start.unwrap_or(span.start);
            let start = marker.byte_offset().unwrap_or(0);
            let end = text[start..]
                .find(char::is_whitespace)
                .map_or(text.len(), |n| start + n);
            return Err(SyntaxError {
                message: format!(
                    "tags are not allowed in a manifest (found `{}`)",
                    &text[start..end].chars().take(40).collect::<String>()
                ),
                span: Span {
                    line: marker.line(),
                    column: marker.col() + 1,
                    start,
                    end,
                },
                help: Some(
                    "remove the tag; a manifest holds plain values, and `!include`-style references are never followed".into(),
                ),
                code: Code::YamlTag,
            });
        }
    }
    Ok(())
}

/// Byte-level checks the parser cannot locate well: size, encoding, BOMs, NUL.
fn check_text(bytes: &[u8]) -> Result<&str, SyntaxError> {
    let at = |offset: usize, len: usize| span_at(bytes, offset, len);
    if bytes.len() > MAX_BYTES {
        return Err(SyntaxError {
            message: format!(
                "the manifest is {} bytes; the limit is {MAX_BYTES} bytes (1 MiB)",
                bytes.len()
            ),
            span: at(0, 0),
            help: Some(
                "move long text such as the summary into a file named by `details.summary_file`"
                    .into(),
            ),
            code: Code::TooLarge,
        });
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SyntaxError {
            message: "the manifest is UTF-16 (it starts with a UTF-16 byte-order mark)".into(),
            span: at(0, 2),
            help: Some("save the file as UTF-8".into()),
            code: Code::Encoding,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| SyntaxError {
        message: format!(
            "the manifest is not valid UTF-8 (byte 0x{:02X} at offset {})",
            bytes[e.valid_up_to()],
            e.valid_up_to()
        ),
        span: at(e.valid_up_to(), 1),
        help: Some("save the file as UTF-8".into()),
        code: Code::Encoding,
    })?;
    if let Some(offset) = text.find('\0') {
        return Err(SyntaxError {
            message: "the manifest contains a NUL byte".into(),
            span: at(offset, 1),
            help: Some("remove the NUL byte; a manifest is plain text".into()),
            code: Code::Encoding,
        });
    }
    // A UTF-8 BOM is harmless and common from Windows editors; the parser skips it.
    Ok(text)
}

/// Line and column (1-based, characters) of a byte offset, for checks made before parsing.
fn span_at(bytes: &[u8], offset: usize, len: usize) -> Span {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Span {
        line,
        column,
        start: offset,
        end: (offset + len).min(bytes.len()),
    }
}

/// The tight parser settings from the YAML spike: each limit is far above what a real
/// manifest needs (depth 3, a few dozen nodes) and far below what makes parsing slow.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 16,
            flow_nesting_limit: 16,
            max_documents: 1,
            max_anchors: 0,
            max_aliases: 0,
            max_merge_keys: 0,
            max_nodes: 5_000,
            max_events: 20_000,
            max_total_scalar_bytes: MAX_BYTES,
            max_inclusion_depth: 0,
        },
        merge_keys: serde_saphyr::MergeKeyPolicy::Error,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        strict_booleans: true,
        reject_unsupported_tags: true,
        reject_tagged_field_names: true,
        with_snippet: false,
    }
}

fn syntax_error(text: &str, err: &serde_saphyr::Error) -> SyntaxError {
    use serde_saphyr::budget::BudgetBreach;
    let err = err.without_snippet();
    let span = err
        .location()
        .filter(|l| l.line() > 0)
        .map_or_else(|| span_at(text.as_bytes(), 0, 0), |l| location(text, &l));
    let (message, help, code) = match err {
        serde_saphyr::Error::Budget { breach, .. } => {
            let (m, h) = match breach {
                BudgetBreach::Anchors { .. } | BudgetBreach::Aliases { .. } => (
                    "anchors and aliases (`&name`, `*name`) are not allowed in a manifest"
                        .to_string(),
                    "write each value out in full",
                ),
                BudgetBreach::MergeKeys { .. } => (
                    "merge keys (`<<`) are not allowed in a manifest".to_string(),
                    "write each key out in full",
                ),
                BudgetBreach::Documents { .. } => (
                    "a manifest holds exactly one YAML document".to_string(),
                    "remove the `---` separator and everything after it, or split into several algorithm.yaml files",
                ),
                BudgetBreach::Depth { .. } => (
                    "the manifest is nested too deeply (more than 16 levels)".to_string(),
                    "a manifest is at most three levels deep; see `algodeploy schema`",
                ),
                other => (
                    format!(
                        "the manifest is too large or complex to be a manifest ({})",
                        breach_name(other)
                    ),
                    "a manifest has a few dozen keys; see `examples/algorithm.yaml`",
                ),
            };
            (m, Some(h.to_string()), Code::YamlLimit)
        }
        _ => {
            let rendered = err.render_with_options(serde_saphyr::render_options! {
                formatter: &serde_saphyr::UserMessageFormatter,
                snippets: serde_saphyr::SnippetMode::Off,
            });
            let message = strip_location_suffix(&rendered);
            let lower = message.to_lowercase();
            let (help, code) = if lower.contains("recursion limit") {
                return SyntaxError {
                    message: "the manifest is nested too deeply (more than 16 levels)".into(),
                    span,
                    help: Some(
                        "a manifest is at most three levels deep; see `algodeploy schema`".into(),
                    ),
                    code: Code::YamlLimit,
                };
            } else if lower.contains("merge") {
                (
                    Some(
                        "merge keys (`<<`) are not allowed; write each key out in full".to_string(),
                    ),
                    Code::YamlLimit,
                )
            } else if lower.contains("tag") || lower.contains("binary") {
                (Some("tags such as `!include` or `!!binary` are not allowed; write the value as plain text".to_string()), Code::YamlTag)
            } else if lower.contains("duplicate") {
                (
                    Some("remove one of the two; YAML keeps only one value per key".to_string()),
                    Code::DuplicateKey,
                )
            } else {
                (None, Code::YamlSyntax)
            };
            (message, help, code)
        }
    };
    SyntaxError {
        message,
        span,
        help,
        code,
    }
}

fn breach_name(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    // The library's Debug form (`Nodes { nodes: 5001 }`) is the most precise name there is;
    // keep only the variant name for users.
    let debug = format!("{breach:?}");
    let name = debug.split([' ', '(', '{']).next().unwrap_or("limit");
    match name {
        "Nodes" => "more than 5000 nodes".into(),
        "Events" => "more than 20000 parser events".into(),
        "ScalarBytes" | "TotalScalarBytes" => "more than 1 MiB of text".into(),
        other => format!("limit `{other}` exceeded"),
    }
}

fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let cut = first.rfind(" at line ").map_or(first, |i| &first[..i]);
    let cut = cut.trim_end_matches(['.', ':']).trim();
    let mut chars = cut.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "the manifest is not valid YAML".into(),
    }
}

fn location(text: &str, loc: &serde_saphyr::Location) -> Span {
    let line = usize::try_from(loc.line()).unwrap_or(1).max(1);
    let column = usize::try_from(loc.column()).unwrap_or(1).max(1);
    let span = loc.span();
    let start = span
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or_else(|| byte_of(text, line, column));
    let len = span
        .byte_len()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    Span {
        line,
        column,
        start: start.min(text.len()),
        end: (start + len).min(text.len()),
    }
}

fn byte_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset + l.char_indices().nth(column - 1).map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

fn node(text: &str, spanned: Spanned<Value>) -> Node {
    Node {
        span: location(text, &spanned.referenced),
        value: spanned.value,
    }
}

// The tree is built inside serde: each mapping value and sequence item is deserialized as a
// `Spanned<Value>`, which serde-saphyr fills with the node's location. Keys are `Spanned<String>`
// so that unknown or misspelled keys can be pointed at.

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

/// Spans inside the tree; string input always carries byte offsets.
fn span_of(loc: &serde_saphyr::Location) -> Span {
    let span = loc.span();
    let start = span
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or(0);
    let len = span
        .byte_len()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    Span {
        line: usize::try_from(loc.line()).unwrap_or(0),
        column: usize::try_from(loc.column()).unwrap_or(0),
        start,
        end: start + len,
    }
}

fn raw_node(spanned: Spanned<Value>) -> Node {
    Node {
        span: span_of(&spanned.referenced),
        value: spanned.value,
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom("integer is too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Value, E> {
        // Only `!!binary` produces bytes; a manifest has no binary fields.
        Err(E::custom("binary values (`!!binary`) are not allowed"))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        self.visit_bytes(&v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(raw_node(item));
        }
        Ok(Value::Sequence(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Value>>()?;
            entries.push((
                Key {
                    span: span_of(&key.referenced),
                    name: key.value.0,
                },
                raw_node(value),
            ));
        }
        Ok(Value::Mapping(entries))
    }
}

/// A mapping key as text: scalars of any kind are accepted as their text (`1: x` has key
/// "1"), so that the validator can say "unknown key" rather than a type error; collections as
/// keys are refused.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a plain key such as `name`")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

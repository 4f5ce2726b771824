//! Reads a flow document's bytes, YAML or JSON, into a `serde_json::Value` plus the source
//! position of every value, so that later stages can report line and column for any JSON Pointer.
//!
//! This is the only place that knows about syntax. It enforces the limits that protect the
//! process (size, nesting, alias expansion) and the rules that make YAML and JSON mean the same
//! data (one document, string keys, no duplicates, finite numbers). It deliberately knows nothing
//! about the flow schema: whether a `nodes` field exists or a node type is known is the
//! compiler's job.

mod builder;
mod json;
mod number;
mod schema;
mod spans;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use spans::{Span, SpanMap, escape_pointer_token};

/// The syntax of a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// Picks the format from a file name: `.json` (any case) is JSON, everything else is YAML.
    ///
    /// YAML is the fallback because it is a superset of JSON in practice, so a JSON document in a
    /// file without the extension still reads correctly.
    pub fn from_path(path: &Path) -> Format {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Bounds that keep a hostile document from exhausting memory, stack or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest accepted input, in bytes.
    pub max_bytes: usize,
    /// The deepest accepted nesting of arrays and objects (the root collection is level 1).
    pub max_depth: usize,
    /// The most values (collections and scalars, YAML aliases expanded) a document may produce.
    ///
    /// YAML aliases are also held to a fixed allowance: together they may add at most
    /// 10,000 values, or ten per value written out in the document if that is more.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_depth: 128,
            max_nodes: 1_000_000,
        }
    }
}

/// A parsed document: its data and where each value came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub value: serde_json::Value,
    pub spans: SpanMap,
}

/// Why a document could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// Where the problem is; `None` when it concerns the whole input (too large, empty).
    pub span: Option<Span>,
    /// A sentence for humans, without the position (callers print the span themselves).
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            span,
            message: message.into(),
        }
    }
}

/// The category of a [`ParseError`], for callers that react differently to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The input holds no document: nothing, whitespace, or (YAML) only comments.
    Empty,
    /// The input is larger than `Limits::max_bytes`.
    TooLarge,
    /// The input is not UTF-8.
    NotUtf8,
    /// The text is not valid JSON or YAML, or uses an unsupported YAML feature.
    Syntax,
    /// Arrays and objects nest deeper than `Limits::max_depth`.
    TooDeep,
    /// The document has more values than `Limits::max_nodes`, usually through YAML aliases.
    TooManyNodes,
    /// An object has the same key twice.
    DuplicateKey,
    /// A YAML key is null or a collection, which JSON objects cannot hold.
    UnsupportedKey,
    /// A YAML stream holds more than one document.
    MultipleDocuments,
    /// A number JSON cannot hold (out of range, infinite, NaN) or a malformed `!!int`/`!!float`.
    InvalidNumber,
}

/// The UTF-8 byte-order mark, which editors on some systems put at the start of files.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `bytes` as one document in `format`.
///
/// Checks run cheapest first: the size, then emptiness, then UTF-8, then the syntax itself, so
/// that a huge or binary file is refused before any parsing work is done.
pub fn parse(bytes: &[u8], format: Format, limits: &Limits) -> Result<Document, ParseError> {
    if bytes.len() > limits.max_bytes {
        return Err(ParseError::new(
            ParseErrorKind::TooLarge,
            None,
            format!(
                "the document is {} bytes, more than the limit of {} bytes",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    let (body, base) = match bytes.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len()),
        None => (bytes, 0),
    };
    if is_blank(body, format) {
        let what = match format {
            Format::Json => "the document is empty",
            Format::Yaml => "the document is empty (it holds only whitespace or comments)",
        };
        return Err(ParseError::new(ParseErrorKind::Empty, None, what));
    }
    let text = std::str::from_utf8(body).map_err(|e| not_utf8(body, base, &e))?;
    let (value, spans) = match format {
        Format::Json => json::parse(text, base, limits)?,
        Format::Yaml => yaml::parse(text, base, limits)?,
    };
    Ok(Document { value, spans })
}

/// Whether `body` holds nothing but whitespace, plus comment lines in YAML.
fn is_blank(body: &[u8], format: Format) -> bool {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    match format {
        Format::Json => body.iter().all(is_space),
        // A `#` that starts a line (after indentation) always begins a comment in YAML, so a
        // line-by-line check is exact without a YAML scanner.
        Format::Yaml => {
            body.split(|&b| b == b'\n')
                .all(|line| match line.iter().position(|b| !is_space(b)) {
                    None => true,
                    Some(i) => line.get(i) == Some(&b'#'),
                })
        }
    }
}

/// Builds the error for invalid UTF-8, locating the first bad byte by line and column.
fn not_utf8(body: &[u8], base: usize, error: &std::str::Utf8Error) -> ParseError {
    let good = body.get(..error.valid_up_to()).unwrap_or_default();
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    // The prefix is valid UTF-8, so counting non-continuation bytes counts chars.
    let column = good
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    let bad = body.get(error.valid_up_to()).copied().unwrap_or_default();
    ParseError::new(
        ParseErrorKind::NotUtf8,
        Some(Span {
            line: to_u32(line),
            column: to_u32(column),
            offset: base + error.valid_up_to(),
        }),
        format!("the document is not valid UTF-8 (byte 0x{bad:02X} cannot appear here)"),
    )
}

/// Converts a count to the `u32` used in spans, saturating since no real document gets there.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

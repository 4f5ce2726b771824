//! Resolves YAML scalars to JSON values with the YAML 1.2 core schema, and checks tags.
//!
//! Plain scalars become null, booleans, integers, floats or strings by the core schema's rules
//! (so `yes`, `on` and `2024-01-01` stay strings, unlike YAML 1.1); quoted and block scalars are
//! always strings. Only the core schema's tags are honoured. This module does not track
//! positions: it returns an error kind and message that the caller pins to a span.

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::Value;

use super::ParseErrorKind;
use super::number;

/// The prefix that `!!` expands to: the tags of the YAML core schema.
const CORE: &str = "tag:yaml.org,2002:";

/// A node's tag, reduced to what resolution needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TagKind {
    /// No tag: resolve by content.
    None,
    /// The non-specific tag `!`, which forces a scalar to be a string.
    NonSpecific,
    /// A core schema tag such as `!!str`, by its suffix.
    Core(String),
    /// Any other tag, by its display form, which this reader refuses.
    Other(String),
}

impl TagKind {
    pub(super) fn of(tag: Option<&Tag>) -> Self {
        let Some(tag) = tag else {
            return TagKind::None;
        };
        let full = format!("{}{}", tag.handle, tag.suffix);
        if full == "!" {
            TagKind::NonSpecific
        } else if let Some(suffix) = full.strip_prefix(CORE) {
            TagKind::Core(suffix.to_owned())
        } else {
            TagKind::Other(tag.to_string())
        }
    }
}

/// An error without a position: the caller knows where the scalar is.
pub(super) type Unplaced = (ParseErrorKind, String);

/// Checks the tag of a sequence (`mapping == false`) or mapping.
pub(super) fn check_collection_tag(tag: &TagKind, mapping: bool) -> Result<(), Unplaced> {
    let wanted = if mapping { "map" } else { "seq" };
    match tag {
        TagKind::None | TagKind::NonSpecific => Ok(()),
        TagKind::Core(suffix) if suffix == wanted => Ok(()),
        TagKind::Core(suffix) => Err(unsupported_tag(&format!("!!{suffix}"), Some(wanted))),
        TagKind::Other(name) => Err(unsupported_tag(name, Some(wanted))),
    }
}

/// Resolves one scalar's text to a JSON value.
pub(super) fn resolve(text: &str, style: ScalarStyle, tag: &TagKind) -> Result<Value, Unplaced> {
    match tag {
        TagKind::None if style == ScalarStyle::Plain => plain(text),
        TagKind::None | TagKind::NonSpecific => Ok(Value::String(text.to_owned())),
        TagKind::Core(suffix) => tagged(text, suffix),
        TagKind::Other(name) => Err(unsupported_tag(name, None)),
    }
}

/// Resolves an untagged plain scalar by the core schema.
fn plain(text: &str) -> Result<Value, Unplaced> {
    if is_null(text) {
        return Ok(Value::Null);
    }
    if let Some(b) = as_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = as_int(text) {
        return n.map(Value::Number);
    }
    if is_float(text) {
        return float(text).map(Value::Number);
    }
    if is_special_float(text) {
        return Err(not_finite(text));
    }
    Ok(Value::String(text.to_owned()))
}

/// Resolves a scalar carrying the core tag `!!suffix`.
fn tagged(text: &str, suffix: &str) -> Result<Value, Unplaced> {
    let mismatch = |kind| Err((kind, format!("`{text}` is not a valid !!{suffix} value")));
    match suffix {
        "str" => Ok(Value::String(text.to_owned())),
        "null" if is_null(text) => Ok(Value::Null),
        "null" => mismatch(ParseErrorKind::Syntax),
        "bool" => {
            as_bool(text).map_or_else(|| mismatch(ParseErrorKind::Syntax), |b| Ok(Value::Bool(b)))
        }
        "int" => match as_int(text) {
            Some(n) => n.map(Value::Number),
            None => mismatch(ParseErrorKind::InvalidNumber),
        },
        "float" if is_special_float(text) => Err(not_finite(text)),
        "float" if is_float(text) => float(text).map(Value::Number),
        "float" => match as_int(text) {
            // An integer written under `!!float` is still a float, as the tag asks.
            Some(Ok(n)) => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| out_of_range(text)),
            Some(Err(e)) => Err(e),
            None => mismatch(ParseErrorKind::InvalidNumber),
        },
        "seq" | "map" => Err((
            ParseErrorKind::Syntax,
            format!("the tag !!{suffix} cannot be used on a scalar"),
        )),
        other => Err(unsupported_tag(&format!("!!{other}"), None)),
    }
}

/// Turns a resolved scalar into an object key: JSON keys are strings, so booleans and numbers
/// take their canonical text (`0x10` becomes "16"); null cannot be a key.
pub(super) fn key_string(value: Value) -> Result<String, Unplaced> {
    match value {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err((
            ParseErrorKind::UnsupportedKey,
            "a mapping key cannot be null (quote it, e.g. \"null\", to use it as text)".to_owned(),
        )),
        Value::Array(_) | Value::Object(_) => Err((
            ParseErrorKind::UnsupportedKey,
            "a mapping key must be a scalar".to_owned(),
        )),
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn as_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Resolves the core schema's integer forms (`[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`);
/// `None` if the text is not one of them.
fn as_int(text: &str) -> Option<Result<serde_json::Number, Unplaced>> {
    let (digits, radix, base) = if let Some(d) = text.strip_prefix("0o") {
        (d, 8, true)
    } else if let Some(d) = text.strip_prefix("0x") {
        (d, 16, true)
    } else {
        (text.strip_prefix(['-', '+']).unwrap_or(text), 10, false)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let number = if base {
        number::radix(digits, radix)
    } else {
        number::decimal(text, true)
    };
    Some(number.ok_or_else(|| out_of_range(text)))
}

/// Matches the core schema's float form:
/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`.
fn is_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (unsigned.get(..i).unwrap_or_default(), unsigned.get(i + 1..)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => all_digits(frac),
        Some((int, frac)) => all_digits(int) && (frac.is_empty() || all_digits(frac)),
        None => all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| all_digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Matches `.inf` and `.nan` in their core schema spellings.
fn is_special_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

fn float(text: &str) -> Result<serde_json::Number, Unplaced> {
    number::decimal(text, false).ok_or_else(|| out_of_range(text))
}

fn out_of_range(text: &str) -> Unplaced {
    (
        ParseErrorKind::InvalidNumber,
        format!("the number {text} is out of range"),
    )
}

fn not_finite(text: &str) -> Unplaced {
    (
        ParseErrorKind::InvalidNumber,
        format!("{text} is not a finite number, which JSON cannot hold (quote it to make it text)"),
    )
}

fn unsupported_tag(name: &str, on: Option<&str>) -> Unplaced {
    let target = match on {
        Some("map") => " on a mapping",
        Some(_) => " on a sequence",
        None => "",
    };
    (
        ParseErrorKind::Syntax,
        format!(
            "unsupported tag {name}{target}; only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are allowed"
        ),
    )
}

//! The structural pass: parse errors, the `aion` version, and the document checked against the
//! JSON Schema generated from the DSL model (unknown fields, missing fields, wrong types).
//!
//! Values with a meaning of their own (ids, durations, cron schedules, node configs, `inputs`)
//! are left to later passes, which give them specific codes; this pass drops the generic schema
//! errors about them so each problem is reported once.

use std::collections::BTreeMap;

use aion_dsl::source::{Format, ParseError, ParseErrorKind, escape_pointer_token};
use aion_types::codes;
use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use crate::{Diagnostic, schema_nav, suggest};

/// Turns a parse failure into the document's only diagnostic.
pub(crate) fn parse_error(error: &ParseError, format: Format) -> Diagnostic {
    let syntax_hint = match format {
        Format::Json => {
            "fix the JSON at this position (JSON has no comments, no trailing commas, and only double-quoted strings)"
        }
        Format::Yaml => {
            "fix the syntax at this position; in YAML, check indentation (spaces, not tabs) and quoting"
        }
    };
    let (code, hint) = match error.kind {
        ParseErrorKind::Empty => (
            codes::EMPTY_DOCUMENT,
            "a flow document needs at least `aion: 1`, an `id` and `nodes`",
        ),
        ParseErrorKind::TooLarge => (
            codes::DOCUMENT_TOO_LARGE,
            "split the flow into sub-flows, or move large data out of the document",
        ),
        ParseErrorKind::NotUtf8 => (codes::NOT_UTF8, "save the file as UTF-8"),
        ParseErrorKind::Syntax => (codes::SYNTAX, syntax_hint),
        ParseErrorKind::TooDeep => (
            codes::TOO_DEEP,
            "flatten the structure; values may nest at most 128 levels",
        ),
        ParseErrorKind::TooManyNodes => (
            codes::TOO_MANY_VALUES,
            "YAML aliases expanded into too many values; write the data out or use fewer aliases",
        ),
        ParseErrorKind::DuplicateKey => (codes::DUPLICATE_KEY, "remove or rename one of the keys"),
        ParseErrorKind::UnsupportedKey => (
            codes::UNSUPPORTED_KEY,
            "mapping keys must be strings; in YAML, quote a value that starts with `{{` \
             (`value: \"{{ inputs.name }}\"`), or it is read as a mapping",
        ),
        ParseErrorKind::MultipleDocuments => (
            codes::MULTIPLE_DOCUMENTS,
            "keep one flow per file; remove the extra `---` document",
        ),
        ParseErrorKind::InvalidNumber => (
            codes::INVALID_NUMBER,
            "JSON numbers must be finite; quote the value if it is text",
        ),
    };
    let mut diagnostic = Diagnostic::new(code, "", error.message.clone()).hint(hint);
    if let Some(span) = error.span {
        diagnostic.line = Some(span.line);
        diagnostic.column = Some(span.column);
    }
    diagnostic
}

/// Checks `aion`. Returns `false` when the version is unsupported, since the rest of the document
/// may follow rules this release does not know.
pub(crate) fn check_version(root: &Map<String, Value>, out: &mut Vec<Diagnostic>) -> bool {
    let supported = aion_dsl::model::SUPPORTED_VERSIONS;
    match root.get("aion") {
        None => {
            out.push(
                Diagnostic::new(
                    codes::MISSING_VERSION,
                    "",
                    "the document has no `aion` version",
                )
                .hint("add `aion: 1` as the first line"),
            );
            true
        }
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| supported.contains(&v)) => true,
        Some(other) => {
            out.push(
                Diagnostic::new(
                    codes::UNSUPPORTED_VERSION,
                    "/aion",
                    format!("`aion: {other}` is not a version this release reads"),
                )
                .hint("this release reads `aion: 1`"),
            );
            false
        }
    }
}

/// The compiled document schema.
pub(crate) struct DocumentSchema {
    schema: Value,
    validator: Option<jsonschema::Validator>,
    triggers: BTreeMap<String, jsonschema::Validator>,
}

impl DocumentSchema {
    pub(crate) fn new() -> Self {
        let schema = aion_dsl::model::json_schema();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .ok();
        let mut triggers = BTreeMap::new();
        let variants = schema
            .pointer("/$defs/Trigger/oneOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for variant in variants {
            let Some(name) = variant
                .pointer("/properties/type/const")
                .or_else(|| variant.pointer("/properties/type/enum/0"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let mut standalone = variant.clone();
            if let (Some(object), Some(defs)) = (standalone.as_object_mut(), schema.get("$defs")) {
                object.insert("$defs".into(), defs.clone());
            }
            if let Ok(validator) = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&standalone)
            {
                triggers.insert(name.to_owned(), validator);
            }
        }
        DocumentSchema {
            schema,
            validator,
            triggers,
        }
    }

    pub(crate) fn check(&self, document: &Value, out: &mut Vec<Diagnostic>) {
        let Some(validator) = &self.validator else {
            return;
        };
        for error in validator.iter_errors(document) {
            let pointer = error.instance_path().as_str().to_owned();
            if is_left_to_later_passes(&pointer) {
                continue;
            }
            if let Some(index) = trigger_index(&pointer) {
                if matches!(error.kind(), ValidationErrorKind::OneOfNotValid { .. })
                    && pointer.matches('/').count() == 2
                {
                    self.check_trigger(document, index, out);
                }
                continue;
            }
            self.report(document, &pointer, error.kind(), error.instance(), "", out);
        }
    }

    fn check_trigger(&self, document: &Value, index: usize, out: &mut Vec<Diagnostic>) {
        let pointer = format!("/triggers/{index}");
        let Some(trigger) = document.pointer(&pointer) else {
            return;
        };
        let Some(object) = trigger.as_object() else {
            out.push(Diagnostic::new(
                codes::INVALID_VALUE,
                pointer,
                format!("a trigger must be a mapping, not {}", type_name(trigger)),
            ));
            return;
        };
        let kinds: Vec<&str> = self.triggers.keys().map(String::as_str).collect();
        match object.get("type") {
            None => out.push(
                Diagnostic::new(codes::MISSING_FIELD, pointer, "the trigger has no `type`")
                    .hint(format!("set `type` to one of: {}", kinds.join(", "))),
            ),
            Some(Value::String(kind)) => match self.triggers.get(kind) {
                Some(validator) => {
                    for error in validator.iter_errors(trigger) {
                        let inner = error.instance_path().as_str();
                        if inner == "/path" || inner == "/secret" {
                            continue;
                        }
                        let full = format!("{pointer}{inner}");
                        self.report(document, &full, error.kind(), error.instance(), kind, out);
                    }
                }
                None => out.push(
                    Diagnostic::new(
                        codes::INVALID_VALUE,
                        format!("{pointer}/type"),
                        format!("`{kind}` is not a trigger type"),
                    )
                    .hint(suggest::hint(kind, &kinds, "trigger types")),
                ),
            },
            Some(other) => out.push(Diagnostic::new(
                codes::INVALID_VALUE,
                format!("{pointer}/type"),
                format!(
                    "the trigger `type` must be a string, not {}",
                    type_name(other)
                ),
            )),
        }
    }

    fn report(
        &self,
        document: &Value,
        pointer: &str,
        kind: &ValidationErrorKind,
        instance: &Value,
        trigger_kind: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let place = describe_place(pointer);
        let here = self.subschema(document, pointer, trigger_kind);
        let allowed = here.and_then(schema_nav::allowed_values);
        match kind {
            ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::Constant { .. }
            | ValidationErrorKind::OneOfNotValid { .. }
            | ValidationErrorKind::AnyOf { .. }
                if allowed.is_some() && pointer != "/aion" =>
            {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_VALUE,
                        pointer,
                        format!("{} is not a valid value for {place}", short(instance)),
                    )
                    .hint(format!(
                        "use one of: {}",
                        allowed.unwrap_or_default().join(", ")
                    )),
                );
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let allowed = self.allowed_fields(document, pointer, trigger_kind);
                let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
                for field in unexpected {
                    out.push(
                        Diagnostic::new(
                            codes::UNKNOWN_FIELD,
                            format!("{pointer}/{}", escape_pointer_token(field)),
                            format!("unknown field `{field}` in {place}"),
                        )
                        .hint(suggest::hint(field, &allowed, "fields")),
                    );
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                if pointer.is_empty() && name == "aion" {
                    return; // Reported by the version check.
                }
                out.push(
                    Diagnostic::new(
                        codes::MISSING_FIELD,
                        pointer,
                        format!("{place} is missing the required field `{name}`"),
                    )
                    .hint(required_hint(pointer, name)),
                );
            }
            ValidationErrorKind::Pattern { .. } | ValidationErrorKind::Constant { .. } => {
                // Ids, names and durations are checked by later passes with specific codes.
            }
            ValidationErrorKind::Type { .. } => out.push(Diagnostic::new(
                codes::INVALID_VALUE,
                pointer,
                format!(
                    "{place} must be {}, not {}",
                    here.and_then(schema_nav::expected_type)
                        .unwrap_or_else(|| "another type".into()),
                    type_name(instance)
                ),
            )),
            ValidationErrorKind::Enum { options } => {
                let listed: Vec<String> = options
                    .as_array()
                    .map(|values| values.iter().map(|v| v.to_string()).collect())
                    .unwrap_or_default();
                out.push(
                    Diagnostic::new(
                        codes::INVALID_VALUE,
                        pointer,
                        format!("{} is not a valid value for {place}", short(instance)),
                    )
                    .hint(format!("use one of: {}", listed.join(", "))),
                );
            }
            ValidationErrorKind::MinItems { limit } if pointer.ends_with("nodes") => {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_VALUE,
                        pointer,
                        format!("{place} must hold at least {limit} node"),
                    )
                    .hint("add a node, e.g. `- { id: start, type: core.noop }`"),
                );
            }
            other => {
                // Range errors of a policy get the policy's own code.
                let shape = shape_of(pointer);
                let code = if shape.starts_with("/nodes/*/retry/") {
                    codes::INVALID_RETRY
                } else if shape.starts_with("/nodes/*/cache/") {
                    codes::INVALID_CACHE
                } else {
                    codes::INVALID_VALUE
                };
                out.push(Diagnostic::new(
                    code,
                    pointer,
                    format!("{place}: {}", describe_kind(other, instance)),
                ));
            }
        }
    }

    /// The subschema that applies at `pointer`; trigger variants are chosen by their `type`.
    fn subschema<'s>(
        &'s self,
        document: &Value,
        pointer: &str,
        trigger_kind: &str,
    ) -> Option<&'s Value> {
        let Some(index) = trigger_index(pointer) else {
            return schema_nav::at(&self.schema, pointer);
        };
        let prefix = format!("/triggers/{index}");
        let kind = if trigger_kind.is_empty() {
            document
                .pointer(&format!("{prefix}/type"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        } else {
            trigger_kind
        };
        let variant = self
            .schema
            .pointer("/$defs/Trigger/oneOf")
            .and_then(Value::as_array)?
            .iter()
            .find(|v| v.pointer("/properties/type/const").and_then(Value::as_str) == Some(kind))?;
        let rest = &pointer[prefix.len()..];
        let mut current = variant;
        for token in rest.split('/').skip(1) {
            current = current.get("properties")?.get(token)?;
            if let Some(target) = current
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|p| self.schema.pointer(p))
            {
                current = target;
            }
        }
        Some(current)
    }

    /// The field names the schema allows for the object at `pointer`.
    fn allowed_fields(&self, document: &Value, pointer: &str, trigger_kind: &str) -> Vec<String> {
        let shape = shape_of(pointer);
        let definition = match shape.as_str() {
            "" => Some(&self.schema),
            "/triggers/*" => self
                .schema
                .pointer("/$defs/Trigger/oneOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    let wanted = if trigger_kind.is_empty() {
                        document
                            .pointer(&format!("{pointer}/type"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    } else {
                        trigger_kind
                    };
                    variants.iter().find(|v| {
                        v.pointer("/properties/type/const").and_then(Value::as_str) == Some(wanted)
                    })
                }),
            other => definition_name(other)
                .and_then(|name| self.schema.pointer(&format!("/$defs/{name}"))),
        };
        definition
            .and_then(|d| d.get("properties"))
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Errors under these places are reported by the passes that understand them.
fn is_left_to_later_passes(pointer: &str) -> bool {
    let shape = shape_of(pointer);
    shape == "/inputs"
        || shape.starts_with("/inputs/")
        || shape.starts_with("/output/")
        || shape.contains("/config/")
        || shape.ends_with("/body/output")
        || shape.contains("/body/output/")
}

fn trigger_index(pointer: &str) -> Option<usize> {
    let rest = pointer.strip_prefix("/triggers/")?;
    rest.split('/').next()?.parse().ok()
}

/// Replaces array indexes by `*` and collapses nested bodies: `/nodes/3/body/nodes/0/retry`
/// becomes `/nodes/*/retry`.
fn shape_of(pointer: &str) -> String {
    let mut shape = String::new();
    for token in pointer.split('/').skip(1) {
        if token.parse::<usize>().is_ok() {
            shape.push_str("/*");
        } else {
            shape.push('/');
            shape.push_str(token);
        }
    }
    while let Some(position) = shape.find("/nodes/*/body/nodes/*") {
        shape.replace_range(position..position + "/nodes/*/body".len(), "");
    }
    while let Some(position) = shape.find("/nodes/*/body/edges/*") {
        shape.replace_range(position..position + "/nodes/*/body".len(), "");
    }
    shape
}

fn definition_name(shape: &str) -> Option<&'static str> {
    Some(match shape {
        "/nodes/*" => "Node",
        "/edges/*" => "Edge",
        "/nodes/*/retry" => "Retry",
        "/nodes/*/cache" => "Cache",
        "/nodes/*/body" => "Body",
        "/nodes/*/position" => "Position",
        "/on_error" => "OnError",
        _ => return None,
    })
}

/// A short English name for a place: "the document", "node 3", "edge 1"...
pub(crate) fn describe_place(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the document".into();
    }
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    match tokens.as_slice() {
        [field] => format!("`{field}`"),
        ["nodes", index] => format!("node {index}"),
        ["edges", index] => format!("edge {index}"),
        ["triggers", index] => format!("trigger {index}"),
        ["nodes", index, rest @ ..] if !rest.contains(&"body") => {
            format!("`{}` of node {index}", rest.join("."))
        }
        ["edges", index, rest @ ..] => format!("`{}` of edge {index}", rest.join(".")),
        ["triggers", index, rest @ ..] => format!("`{}` of trigger {index}", rest.join(".")),
        _ => format!("`{pointer}`"),
    }
}

fn required_hint(pointer: &str, name: &str) -> String {
    match (shape_of(pointer).as_str(), name) {
        ("", "id") => "add `id: my-flow` (lowercase letters, digits and dashes)".into(),
        ("", "nodes") => "add `nodes:` with at least one node".into(),
        ("/nodes/*", "id") => "give the node an id such as `fetch_price`".into(),
        ("/nodes/*", "type") => "set `type`, e.g. `http.request`; `aion nodes` lists them".into(),
        ("/edges/*", _) => "an edge needs `from` and `to` (and optionally `port`)".into(),
        _ => format!("add `{name}`"),
    }
}

/// A JSON type name for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value for messages, cut to a readable length.
pub(crate) fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// `1 item`, `2 items`.
fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// A message for the less common schema keywords.
pub(crate) fn describe_kind(kind: &ValidationErrorKind, instance: &Value) -> String {
    match kind {
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is less than {limit}", short(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is greater than {limit}", short(instance))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("{} must be greater than {limit}", short(instance))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("{} must be less than {limit}", short(instance))
        }
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".into(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {} long", plural(*limit, "character"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {} long", plural(*limit, "character"))
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("must hold at least {}", plural(*limit, "item"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            format!("must hold at most {}", plural(*limit, "item"))
        }
        ValidationErrorKind::Format { format } => {
            format!("{} is not a valid {format}", short(instance))
        }
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            "does not match any allowed form".into()
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "matches more than one allowed form".into()
        }
        ValidationErrorKind::UniqueItems => "must not repeat items".into(),
        ValidationErrorKind::MultipleOf { multiple_of } => {
            format!("{} is not a multiple of {multiple_of}", short(instance))
        }
        ValidationErrorKind::FalseSchema => "no value is allowed here".into(),
        other => format!("{other:?}")
            .split(['{', '('])
            .next()
            .unwrap_or("invalid value")
            .trim()
            .to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_collapse_indexes_and_bodies() {
        assert_eq!(shape_of("/nodes/3/retry"), "/nodes/*/retry");
        assert_eq!(shape_of("/nodes/3/body/nodes/1/retry"), "/nodes/*/retry");
        assert_eq!(shape_of("/nodes/3/body/edges/0"), "/edges/*");
        assert_eq!(shape_of(""), "");
        assert!(is_left_to_later_passes("/nodes/1/config/url"));
        assert!(!is_left_to_later_passes("/nodes/1/retry"));
    }
}

//! Checks `inputs`: it must be a JSON Schema describing an object, and every default in it must
//! match the schema of its own property.

use aion_dsl::source::escape_pointer_token;
use aion_types::codes;
use serde_json::{Map, Value};

use crate::Diagnostic;

/// The JSON Schema drafts `inputs` may declare with `$schema`.
const KNOWN_DRAFTS: &[&str] = &[
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2019-09/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
];

/// Checks the input schema; returns it when it is usable for later checks.
pub(crate) fn check<'a>(
    root: &'a Map<String, Value>,
    out: &mut Vec<Diagnostic>,
) -> Option<&'a Map<String, Value>> {
    let schema = match root.get("inputs")? {
        Value::Object(schema) => schema,
        other => {
            out.push(
                Diagnostic::new(
                    codes::INVALID_INPUT_SCHEMA,
                    "/inputs",
                    format!(
                        "`inputs` must be a JSON Schema (a mapping), not {}",
                        crate::structure::type_name(other)
                    ),
                )
                .hint("e.g. `inputs: { type: object, properties: { symbol: { type: string } } }`"),
            );
            return None;
        }
    };
    if let Some(declared) = schema.get("$schema")
        && !declared.as_str().is_some_and(|d| KNOWN_DRAFTS.contains(&d))
    {
        out.push(
            Diagnostic::new(
                codes::INVALID_INPUT_SCHEMA,
                "/inputs/$schema",
                format!("{declared} is not a JSON Schema draft this release knows"),
            )
            .hint(
                "remove `$schema` (draft 2020-12 is assumed) or name draft 2020-12, 2019-09 or 07",
            ),
        );
        return None;
    }
    if let Some(declared) = schema.get("type").filter(|t| *t != "object") {
        out.push(
            Diagnostic::new(
                codes::INVALID_INPUT_SCHEMA,
                "/inputs/type",
                format!("the run input is always an object, but `inputs` says `type: {declared}`"),
            )
            .hint("use `type: object` and describe each input under `properties`"),
        );
        return None;
    }
    let as_value = Value::Object(schema.clone());
    let mut meta_errors = 0;
    if let Ok(meta) = jsonschema::meta::validator_for(&as_value) {
        for error in meta.iter_errors(&as_value).take(20) {
            meta_errors += 1;
            out.push(
                Diagnostic::new(
                    codes::INVALID_INPUT_SCHEMA,
                    format!("/inputs{}", error.instance_path().as_str()),
                    format!("`inputs` is not a valid JSON Schema: {error}"),
                )
                .hint("see the JSON Schema reference for the keywords and their values"),
            );
        }
    }
    if meta_errors > 0 {
        return None;
    }
    if let Err(error) = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&as_value)
    {
        let (pointer, message) = match find_external_ref(schema, "/inputs") {
            Some((pointer, reference)) => (
                pointer,
                format!("`$ref: {reference}` points outside `inputs`; nothing is fetched"),
            ),
            None => (
                "/inputs".to_owned(),
                format!("`inputs` cannot be used as a schema: {error}"),
            ),
        };
        out.push(
            Diagnostic::new(codes::INVALID_INPUT_SCHEMA, pointer, message)
                .hint("`$ref` may only point inside `inputs` (e.g. `#/$defs/name`)"),
        );
        return None;
    }
    check_defaults(schema, schema, "/inputs", out);
    Some(schema)
}

/// Validates every `default` found under `properties`, recursively, against its property.
fn check_defaults(
    root: &Map<String, Value>,
    schema: &Map<String, Value>,
    pointer: &str,
    out: &mut Vec<Diagnostic>,
) {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    for (name, property) in properties {
        let Value::Object(property) = property else {
            continue;
        };
        let here = format!("{pointer}/properties/{}", escape_pointer_token(name));
        if let Some(default) = property.get("default") {
            let mut standalone = property.clone();
            standalone.remove("default");
            if let Some(defs) = root.get("$defs") {
                standalone.insert("$defs".into(), defs.clone());
            }
            if let Ok(validator) = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&Value::Object(standalone))
                && let Some(error) = validator.iter_errors(default).next()
            {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_INPUT_DEFAULT,
                        format!("{here}/default{}", error.instance_path().as_str()),
                        format!("the default of input `{name}` does not match its schema: {error}"),
                    )
                    .hint("change the default or the property's schema so they agree"),
                );
            }
        }
        check_defaults(root, property, &here, out);
    }
}

/// The first `$ref` that does not point inside the document, with its pointer.
fn find_external_ref(schema: &Map<String, Value>, pointer: &str) -> Option<(String, String)> {
    for (key, value) in schema {
        let here = format!("{pointer}/{}", escape_pointer_token(key));
        match value {
            Value::String(reference) if key == "$ref" && !reference.starts_with('#') => {
                return Some((here, reference.clone()));
            }
            Value::Object(inner) => {
                if let Some(found) = find_external_ref(inner, &here) {
                    return Some(found);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item
                        && let Some(found) = find_external_ref(inner, &format!("{here}/{index}"))
                    {
                        return Some(found);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

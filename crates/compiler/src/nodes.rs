//! The node pass: each node's config against its type's schema, its credential, its policies,
//! and the rules particular to some core nodes (switch ports).
//!
//! Strings holding expressions are accepted wherever the schema expects a value: their type is
//! only known at run time, when the engine checks the resolved config again.

use std::collections::HashSet;

use aion_dsl::source::escape_pointer_token;
use aion_types::codes;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::graph::Graphs;
use crate::structure::{describe_kind, short, type_name};
use crate::{Compiler, Diagnostic, policies, schema_nav, suggest};

pub(crate) fn check(compiler: &Compiler, graphs: &Graphs<'_>, out: &mut Vec<Diagnostic>) {
    for (index, node) in graphs.nodes.iter().enumerate() {
        let Some(value) = node.value else { continue };
        policies::check_node(value, &node.pointer, out);
        check_credential_name(value, &node.pointer, out);
        let Some(manifest) = node.manifest else {
            continue;
        };
        let config = value.get("config");
        match config {
            None | Some(Value::Object(_)) => {
                let empty = Value::Object(serde_json::Map::new());
                let config = config.unwrap_or(&empty);
                check_config(compiler, graphs, index, manifest, config, out);
            }
            Some(_) => {} // Not a mapping: the structural pass reported it.
        }
        let credential = value.get("credential").and_then(Value::as_str);
        match (&manifest.credential, credential) {
            (None, Some(name)) => out.push(
                Diagnostic::new(
                    codes::CREDENTIAL_MISMATCH,
                    format!("{}/credential", node.pointer),
                    format!(
                        "`{}` nodes take no credential, but `{name}` is set",
                        manifest.node_type
                    ),
                )
                .hint("remove `credential`"),
            ),
            (Some(requirement), None) if requirement.required => out.push(
                Diagnostic::new(
                    codes::CREDENTIAL_MISMATCH,
                    node.pointer.clone(),
                    format!(
                        "`{}` nodes need a `{}` credential",
                        manifest.node_type, requirement.kind
                    ),
                )
                .hint(format!(
                    "add `credential: <name>` naming a `{}` credential of the workspace",
                    requirement.kind
                )),
            ),
            _ => {}
        }
        if manifest.node_type == "core.switch" {
            check_switch_ports(config, &node.pointer, out);
        }
    }
}

fn check_credential_name(
    node: &serde_json::Map<String, Value>,
    pointer: &str,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(Value::String(name)) = node.get("credential")
        && !aion_types::id::is_credential_name(name)
    {
        out.push(
            Diagnostic::new(
                codes::INVALID_VALUE,
                format!("{pointer}/credential"),
                format!("`{name}` is not a valid credential name"),
            )
            .hint("credential names use lowercase letters, digits, `-` and `_`"),
        );
    }
}

fn check_config(
    compiler: &Compiler,
    graphs: &Graphs<'_>,
    index: usize,
    manifest: &aion_node_sdk::Manifest,
    config: &Value,
    out: &mut Vec<Diagnostic>,
) {
    let node = &graphs.nodes[index];
    let base = format!("{}/config", node.pointer);
    let Some(validator) = compiler.config_validator(&manifest.node_type) else {
        return;
    };
    let schema = &manifest.config_schema;
    for error in validator.iter_errors(config) {
        let inner = error.instance_path().as_str();
        let pointer = format!("{base}{inner}");
        let instance = error.instance();
        let here = schema_nav::at(schema, inner);
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                unknown_fields(
                    manifest,
                    inner,
                    &pointer,
                    unexpected.iter().map(String::as_str),
                    out,
                );
            }
            ValidationErrorKind::FalseSchema if inner.is_empty() => {
                // A config type without fields: every key is unknown.
                if let Value::Object(map) = instance.as_ref() {
                    unknown_fields(
                        manifest,
                        inner,
                        &pointer,
                        map.keys().map(String::as_str),
                        out,
                    );
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let description = here
                    .and_then(|h| {
                        h.pointer(&format!(
                            "/properties/{}/description",
                            escape_pointer_token(name)
                        ))
                    })
                    .and_then(Value::as_str);
                let place = if inner.is_empty() {
                    "under `config`".to_owned()
                } else {
                    format!("to `{}`", display_field(inner))
                };
                let hint = match description {
                    Some(text) => format!("add `{name}` {place}: {text}"),
                    None => format!("add `{name}` {place}"),
                };
                out.push(
                    Diagnostic::new(
                        codes::MISSING_CONFIG_FIELD,
                        pointer,
                        format!("`{}` needs the config field `{name}`", manifest.node_type),
                    )
                    .hint(hint),
                );
            }
            _ if holds_expression(instance) => {
                // Known only at run time; the engine validates the resolved value.
            }
            ValidationErrorKind::OneOfNotValid { .. }
            | ValidationErrorKind::OneOfMultipleValid { .. }
                if manifest.node_type == "core.wait" && inner.is_empty() =>
            {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_CONFIG_VALUE,
                        base.clone(),
                        "`core.wait` needs exactly one of `duration` and `until`",
                    )
                    .hint("e.g. `duration: 1h`, or `until: \"{{ inputs.deadline }}\"`"),
                );
            }
            ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::Constant { .. }
            | ValidationErrorKind::OneOfNotValid { .. }
            | ValidationErrorKind::AnyOf { .. }
                if here.and_then(schema_nav::allowed_values).is_some() =>
            {
                let allowed = here
                    .and_then(schema_nav::allowed_values)
                    .unwrap_or_default();
                out.push(
                    Diagnostic::new(
                        codes::INVALID_CONFIG_VALUE,
                        pointer,
                        format!(
                            "{} is not a valid `{}`",
                            short(instance),
                            display_field(inner)
                        ),
                    )
                    .hint(format!("use one of: {}", allowed.join(", "))),
                );
            }
            ValidationErrorKind::Type { .. } => out.push(Diagnostic::new(
                codes::INVALID_CONFIG_VALUE,
                pointer,
                format!(
                    "`{}` must be {}, not {}",
                    display_field(inner),
                    here.and_then(schema_nav::expected_type)
                        .unwrap_or_else(|| "another type".into()),
                    type_name(instance)
                ),
            )),
            ValidationErrorKind::Pattern { pattern }
                if pattern.as_str() == aion_types::duration::PATTERN =>
            {
                let text = instance.as_str().unwrap_or_default();
                let reason = match aion_types::Duration::parse(text) {
                    Err(error) => error.to_string(),
                    Ok(_) => format!("`{text}` is not a duration"),
                };
                out.push(
                    Diagnostic::new(codes::INVALID_DURATION, pointer, reason).hint(
                        "durations are an integer and a unit: `250ms`, `10s`, `5m`, `2h`, `1d`",
                    ),
                );
            }
            ValidationErrorKind::Pattern { pattern } => out.push(Diagnostic::new(
                codes::INVALID_CONFIG_VALUE,
                pointer,
                format!(
                    "{} is not a valid `{}` (expected the pattern `{pattern}`)",
                    short(instance),
                    display_field(inner)
                ),
            )),
            ValidationErrorKind::Format { format } => out.push(
                Diagnostic::new(
                    codes::INVALID_CONFIG_VALUE,
                    pointer,
                    format!(
                        "{} is not a valid {format} for `{}`",
                        short(instance),
                        display_field(inner)
                    ),
                )
                .hint(if format == "date-time" {
                    "write an RFC 3339 instant such as `2026-12-01T09:00:00Z`, or an expression"
                } else {
                    "fix the value's format"
                }),
            ),
            other => out.push(Diagnostic::new(
                codes::INVALID_CONFIG_VALUE,
                pointer,
                format!(
                    "`{}` {}",
                    display_field(inner),
                    describe_kind(other, instance)
                ),
            )),
        }
    }
    check_config_durations(schema, config, &base, out);
}

fn unknown_fields<'a>(
    manifest: &aion_node_sdk::Manifest,
    inner: &str,
    pointer: &str,
    fields: impl Iterator<Item = &'a str>,
    out: &mut Vec<Diagnostic>,
) {
    let known: Vec<&str> = schema_nav::at(&manifest.config_schema, inner)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for field in fields {
        let hint = if known.is_empty() {
            format!("`{}` takes no config; remove the field", manifest.node_type)
        } else {
            suggest::hint(field, &known, "fields")
        };
        out.push(
            Diagnostic::new(
                codes::UNKNOWN_CONFIG_FIELD,
                format!("{pointer}/{}", escape_pointer_token(field)),
                format!("`{}` has no config field `{field}`", manifest.node_type),
            )
            .hint(hint),
        );
    }
}

/// Literal durations in a config: the schema's pattern checks the spelling; this checks the
/// value (at most a year; a `timeout` must be positive).
fn check_config_durations(schema: &Value, config: &Value, base: &str, out: &mut Vec<Diagnostic>) {
    let (Some(properties), Some(values)) = (
        schema.get("properties").and_then(Value::as_object),
        config.as_object(),
    ) else {
        return;
    };
    for (name, property) in properties {
        if property.get("pattern").and_then(Value::as_str) != Some(aion_types::duration::PATTERN) {
            continue;
        }
        let Some(Value::String(text)) = values.get(name) else {
            continue;
        };
        let pointer = || format!("{base}/{}", escape_pointer_token(name));
        match aion_types::Duration::parse(text) {
            Err(aion_types::duration::ParseError::TooLong(_)) => out.push(
                Diagnostic::new(
                    codes::INVALID_DURATION,
                    pointer(),
                    format!("`{text}` is longer than the maximum of 365d"),
                )
                .hint("durations may be at most `365d`; for longer waits use a schedule"),
            ),
            Ok(duration) if duration.as_millis() == 0 && name == "timeout" => out.push(
                Diagnostic::new(
                    codes::INVALID_TIMEOUT,
                    pointer(),
                    "a timeout of zero expires at once",
                )
                .hint("remove `timeout` to wait without limit, or give a positive duration"),
            ),
            _ => {}
        }
    }
}

/// Whether a value is, or contains, an expression string.
pub(crate) fn holds_expression(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        _ => false,
    }
}

fn display_field(inner: &str) -> String {
    if inner.is_empty() {
        "config".into()
    } else {
        inner.trim_start_matches('/').replace('/', ".")
    }
}

fn check_switch_ports(config: Option<&Value>, pointer: &str, out: &mut Vec<Diagnostic>) {
    if let Some(Value::String(text)) = config.and_then(|c| c.get("cases")) {
        out.push(
            Diagnostic::new(
                codes::INVALID_CONFIG_VALUE,
                format!("{pointer}/config/cases"),
                format!(
                    "`cases` must be written out, not computed (`{}`)",
                    text.trim()
                ),
            )
            .hint(
                "each case's `port` is part of the graph, so the compiler must see it; \
                 expressions belong in `when`",
            ),
        );
        return;
    }
    let Some(cases) = config
        .and_then(|c| c.get("cases"))
        .and_then(Value::as_array)
    else {
        return;
    };
    let mut seen = HashSet::new();
    for (index, case) in cases.iter().enumerate() {
        let Some(port) = case.get("port").and_then(Value::as_str) else {
            continue;
        };
        let case_pointer = format!("{pointer}/config/cases/{index}/port");
        if port == "default" || port == aion_node_sdk::ERROR_PORT {
            out.push(
                Diagnostic::new(
                    codes::DUPLICATE_PORT,
                    case_pointer,
                    format!("`{port}` is a reserved port name of `core.switch`"),
                )
                .hint("`default` takes unmatched values and `error` takes failures; pick another name"),
            );
        } else if !seen.insert(port) {
            out.push(
                Diagnostic::new(
                    codes::DUPLICATE_PORT,
                    case_pointer,
                    format!("two cases use the port `{port}`"),
                )
                .hint("give each case its own port; the first matching case wins"),
            );
        }
    }
}

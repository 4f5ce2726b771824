//! Evaluating compiled templates against a [`Scope`].
//!
//! The root of every evaluation is a lazy view of the scope (see `objects.rs`), so evaluation
//! cost depends on what the expression touches, not on the size of step outputs. Results are
//! converted to JSON within the output budget, and minijinja errors are mapped to this crate's
//! error kinds; an undefined value is reported with the variable path that was missing, found
//! by walking the expression's recorded paths through the scope. This module deliberately does
//! not compile anything except when a template is used with an engine whose limits differ from
//! the one that compiled it.

use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind as MjKind};
use serde_json::Value as Json;

use crate::Limits;
use crate::convert::{Budget, ConvError, render_into, to_json};
use crate::error::EvalError;
use crate::objects::{Meter, Root};
use crate::refs::{VarPath, write_segment};
use crate::scope::{Scope, ScopeData};
use crate::template::{CompiledExpr, Part, Template, describe, parse};

/// Evaluates a template.
pub(crate) fn eval(
    env: &'static Environment<'static>,
    limits: &Limits,
    template: &Template,
    scope: &Scope,
    fast: bool,
) -> Result<Json, EvalError> {
    let mut budget = Budget::new(limits.max_output_bytes, limits.max_string_bytes);
    match template {
        Template::Literal(s) => Ok(Json::String(s.clone())),
        Template::Expression(e) => {
            if fast
                && let Some(shape) = &e.expr.fast
                && let Some(value) = shape.eval(
                    &scope.data,
                    limits.max_string_bytes.min(limits.max_output_bytes),
                )
            {
                return Ok(value);
            }
            let value = eval_expr(env, limits, &e.expr, scope)?;
            to_json(&value, &mut budget)
                .map_err(|err| conv_error(err, limits, Some(&e.expr), scope))
        }
        Template::Interpolated(i) => {
            let mut out = String::new();
            for part in i.parts.iter() {
                match part {
                    Part::Text(text) => {
                        budget
                            .take_text(text.len())
                            .map_err(|err| conv_error(err, limits, None, scope))?;
                        out.push_str(text);
                    }
                    Part::Expr(expr) => {
                        let value = eval_expr(env, limits, expr, scope)?;
                        render_into(&value, &mut out, &mut budget)
                            .map_err(|err| conv_error(err, limits, Some(expr), scope))?;
                    }
                }
            }
            Ok(Json::String(out))
        }
    }
}

/// Evaluates one expression to a minijinja value.
fn eval_expr(
    env: &'static Environment<'static>,
    limits: &Limits,
    expr: &CompiledExpr,
    scope: &Scope,
) -> Result<Value, EvalError> {
    let root = Value::from_object(Root {
        scope: scope.data.clone(),
        // Bytes copied out of the scope are charged at minijinja's rate of 64 per fuel unit.
        meter: Meter::new(limits.fuel.saturating_mul(64)),
    });
    let result = if std::ptr::eq(expr.env, env) {
        expr.compiled.eval(root.clone())
    } else {
        // The template was compiled by an engine with other limits; recompiling here keeps
        // this engine's limits in force. It is slow but only happens when engines are mixed.
        let (compiled, _) =
            parse(env, expr.source.clone()).map_err(|(_, message)| EvalError::Invalid {
                message: format!("cannot recompile expression: {message}"),
            })?;
        compiled.eval(root.clone())
    };
    let exhausted = root
        .downcast_object_ref::<Root>()
        .is_some_and(|r| r.meter.is_exhausted());
    if exhausted {
        return Err(EvalError::FuelExhausted {
            budget: limits.fuel,
        });
    }
    result.map_err(|e| map_error(&e, limits, expr, scope))
}

fn map_error(
    e: &minijinja::Error,
    limits: &Limits,
    expr: &CompiledExpr,
    scope: &Scope,
) -> EvalError {
    match e.kind() {
        MjKind::OutOfFuel => EvalError::FuelExhausted {
            budget: limits.fuel,
        },
        MjKind::UndefinedError => EvalError::Undefined {
            path: undefined_path(expr, &scope.data, e.range()),
        },
        // Strict mode reports `1 + undefined` as an unsupported operation; the undefined
        // operand is the real problem, so it is reported as such.
        MjKind::InvalidOperation if e.detail().is_some_and(|d| d.contains("undefined")) => {
            EvalError::Undefined {
                path: undefined_path(expr, &scope.data, e.range()),
            }
        }
        MjKind::NonPrimitive
        | MjKind::NonKey
        | MjKind::CannotUnpack
        | MjKind::BadSerialization
        | MjKind::TooManyArguments
        | MjKind::MissingArgument => EvalError::Type {
            message: describe(e),
        },
        _ => EvalError::Invalid {
            message: describe(e),
        },
    }
}

fn conv_error(
    err: ConvError,
    limits: &Limits,
    expr: Option<&CompiledExpr>,
    scope: &Scope,
) -> EvalError {
    match err {
        ConvError::Undefined => EvalError::Undefined {
            path: expr.map_or_else(
                || "value".to_owned(),
                |expr| undefined_path(expr, &scope.data, None),
            ),
        },
        ConvError::TooLarge => EvalError::OutputTooLarge {
            limit: limits.max_output_bytes.min(limits.max_string_bytes),
        },
        ConvError::Type(message) => EvalError::Type { message },
    }
}

/// Names the undefined value: the first recorded path (preferring those inside the failing
/// span) that does not resolve in the scope, cut right after its first missing segment.
fn undefined_path(
    expr: &CompiledExpr,
    scope: &ScopeData,
    range: Option<std::ops::Range<usize>>,
) -> String {
    let in_range = |p: &&VarPath| {
        range.as_ref().is_none_or(|r| {
            let (start, end) = (expr.span.start + r.start, expr.span.start + r.end);
            p.span.start < end && start < p.span.end
        })
    };
    let first_missing = |p: &VarPath| missing_segment(scope, p).map(|n| prefix(p, n));
    expr.paths
        .iter()
        .filter(in_range)
        .find_map(first_missing)
        .or_else(|| expr.paths.iter().find_map(first_missing))
        .unwrap_or_else(|| match range {
            Some(r) => expr.source.get(r).unwrap_or("value").trim().to_owned(),
            None => expr.source.trim().to_owned(),
        })
}

/// Writes the path up to and including `segments[..n]`.
fn prefix(path: &VarPath, n: usize) -> String {
    let mut out = path.root.clone();
    for seg in path.segments.iter().take(n) {
        // Writing to a String cannot fail.
        let _ = write_segment(&mut out, seg);
    }
    out
}

/// How many segments of `path` resolve before one is missing: `Some(k)` means the path up to
/// `segments[k - 1]` is the undefined one (`Some(0)` when the root itself is missing), `None`
/// means the whole path resolves.
fn missing_segment<'s>(scope: &'s ScopeData, path: &VarPath) -> Option<usize> {
    let segs = &path.segments;
    let json_root = |v: &'s Option<Arc<Json>>| v.as_deref();
    let (start, skip) = match path.root.as_str() {
        "inputs" => (json_root(&scope.inputs), 0),
        "trigger" => (json_root(&scope.trigger), 0),
        "vars" => (json_root(&scope.vars), 0),
        "run" => (json_root(&scope.run), 0),
        "item" => (json_root(&scope.item), 0),
        "index" => {
            return match (scope.index, segs.is_empty()) {
                (None, _) => Some(0),
                (Some(_), true) => None,
                (Some(_), false) => Some(1),
            };
        }
        "steps" => {
            // Plain `steps` is always defined.
            let id = segs.first()?;
            let Some(step) = scope.steps.get(id) else {
                return Some(1);
            };
            let value = match segs.get(1).map(String::as_str) {
                None | Some("status") => return None,
                Some("output") => step.output.as_deref(),
                Some("error") => step.error.as_deref(),
                Some(_) => return Some(2),
            };
            (value, 2)
        }
        _ => return Some(0),
    };
    let Some(mut node) = start else {
        return Some(skip);
    };
    for (i, seg) in segs.iter().enumerate().skip(skip) {
        let next = match node {
            Json::Object(map) => map.get(seg),
            Json::Array(items) => seg.parse::<i64>().ok().and_then(|i| {
                let i = if i < 0 {
                    items
                        .len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(i).ok()?
                };
                items.get(i)
            }),
            // Indexing a string yields a character, so it is not the undefined part.
            Json::String(_) => return None,
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return Some(i + 1),
        }
    }
    None
}

//! The minijinja environment every template is compiled and evaluated with.
//!
//! The environment is configured for untrusted input: strict undefined values, a fuel budget
//! per evaluation, no template loader, and only the built-in filters, tests and functions that
//! neither reach the host nor expose engine internals (`debug()` prints the engine state and
//! `namespace()` only makes sense with statements, so both are removed). Expressions cannot
//! contain `{% include %}` or any other statement, so nothing can load a file.
//!
//! A compiled minijinja expression borrows its environment, while [`Template`](crate::Template)
//! must be an owned, shareable value. Environments are therefore created once per distinct
//! template limits (fuel, output and string sizes) and kept for the life of the process: an
//! interned set with one entry per configuration, not one per engine. This module deliberately
//! does not evaluate anything.

use std::sync::{Mutex, OnceLock, PoisonError};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::Limits;
use crate::convert::{Budget, ConvError, to_json};

/// Filters available in expressions: minijinja's built-ins plus `tojson`.
pub const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "zip",
];

/// Tests available after `is`: minijinja's built-ins.
pub const TESTS: &[&str] = &[
    "!=",
    "<",
    "<=",
    "==",
    ">",
    ">=",
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "equalto",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "int",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "safe",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// Functions callable at the top level; they are globals, not scope variables.
pub(crate) const FUNCTIONS: &[&str] = &["dict", "range"];

/// Globals of `Environment::new()` that are removed.
const REMOVED_GLOBALS: &[&str] = &["debug", "namespace"];

/// The limits an environment depends on (the jq limits do not matter here).
type Key = (u64, usize, usize);

type Interned = Vec<(Key, &'static Environment<'static>)>;

/// Returns the environment for `limits`, creating it on first use.
pub(crate) fn environment(limits: &Limits) -> &'static Environment<'static> {
    let key = (
        limits.fuel,
        limits.max_output_bytes,
        limits.max_string_bytes,
    );
    static ENVIRONMENTS: OnceLock<Mutex<Interned>> = OnceLock::new();
    let lock = ENVIRONMENTS.get_or_init(|| Mutex::new(Vec::new()));
    // A panic while holding this lock cannot leave the list half-updated (push is the only
    // write), so a poisoned lock is still safe to use.
    let mut interned = lock.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, env)) = interned.iter().find(|(k, _)| *k == key) {
        return env;
    }
    let env: &'static Environment<'static> = Box::leak(Box::new(build(limits)));
    interned.push((key, env));
    env
}

fn build(limits: &Limits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(limits.fuel));
    // Debug mode would capture engine state into every error; spans are recorded anyway.
    env.set_debug(false);
    for name in REMOVED_GLOBALS {
        env.remove_global(name);
    }
    let (max_output, max_string) = (limits.max_output_bytes, limits.max_string_bytes);
    env.add_filter("tojson", move |state: &State, value: Value| {
        tojson(state, &value, max_output, max_string)
    });
    env
}

/// `value | tojson`: compact JSON text, within the output limits.
fn tojson(
    state: &State,
    value: &Value,
    max_output: usize,
    max_string: usize,
) -> Result<Value, Error> {
    let mut budget = Budget::new(max_output.min(max_string), max_string);
    let json = to_json(value, &mut budget).map_err(|e| match e {
        ConvError::Undefined => Error::new(ErrorKind::UndefinedError, "tojson of undefined"),
        ConvError::TooLarge => Error::new(ErrorKind::InvalidOperation, "tojson result too large"),
        ConvError::Type(message) => Error::new(ErrorKind::InvalidOperation, message),
    })?;
    let text = serde_json::to_string(&json)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    // Charge the text like any other string the engine creates (64 bytes per fuel unit).
    state.consume_fuel(u64::try_from(text.len() / 64).unwrap_or(u64::MAX))?;
    Ok(Value::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_limits_share_one_environment() {
        let a = environment(&Limits::default());
        let b = environment(&Limits::default());
        assert!(std::ptr::eq(a, b));
        let other = Limits {
            fuel: 7,
            ..Limits::default()
        };
        assert!(!std::ptr::eq(a, environment(&other)));
    }

    #[test]
    fn every_listed_filter_and_test_exists() {
        let env = environment(&Limits::default());
        for name in FILTERS {
            let expr = env
                .compile_expression_owned(format!("[1] | {name}"))
                .unwrap();
            if let Err(e) = expr.eval(()) {
                assert_ne!(e.kind(), ErrorKind::UnknownFilter, "{name}");
            }
        }
        for name in TESTS {
            // Operator-named tests can only be reached by name, through `select`.
            let source = if name.chars().all(char::is_alphanumeric) {
                format!("1 is {name}")
            } else {
                format!("[1] | select('{name}', 1) | list")
            };
            let expr = env.compile_expression_owned(source).unwrap();
            if let Err(e) = expr.eval(()) {
                assert_ne!(e.kind(), ErrorKind::UnknownTest, "{name}");
            }
        }
    }

    #[test]
    fn host_reaching_globals_are_gone() {
        let env = environment(&Limits::default());
        for name in REMOVED_GLOBALS {
            let expr = env.compile_expression_owned(format!("{name}()")).unwrap();
            assert_eq!(
                expr.eval(()).unwrap_err().kind(),
                ErrorKind::UnknownFunction
            );
        }
    }
}

//! Turning minijinja results into `serde_json` values and text, within a byte budget.
//!
//! An expression can return a lazily repeated list (`[1] * 100000000`), a view of a large step
//! output, or the same large value many times over (`[x, x, x]`). Conversion therefore counts
//! the bytes of the JSON text it would produce and stops as soon as the budget is spent, before
//! allocating more. Nesting is capped at [`MAX_DEPTH`] because `serde_json` refuses to parse
//! deeper documents and because dropping very deep values recurses. This module deliberately
//! does not know about variable paths: it reports "undefined" and the caller names the path.

use minijinja::value::{Value, ValueKind};
use serde_json::{Number, Value as Json};

use crate::objects::JsonNode;

/// The deepest nesting a result may have; the same limit `serde_json` applies when parsing.
pub(crate) const MAX_DEPTH: usize = 128;

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConvError {
    /// The value, or something inside it, is undefined.
    Undefined,
    /// The JSON text would exceed the budget.
    TooLarge,
    /// The value has no JSON representation.
    Type(String),
}

/// Bytes of JSON text that may still be produced, and the largest single string allowed.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
    max_string: usize,
}

impl Budget {
    pub fn new(max_output: usize, max_string: usize) -> Self {
        Self {
            left: max_output,
            max_string,
        }
    }

    /// Charges literal text copied into an interpolated result.
    pub fn take_text(&mut self, bytes: usize) -> Result<(), ConvError> {
        self.take(bytes)
    }

    fn take(&mut self, bytes: usize) -> Result<(), ConvError> {
        self.left = self.left.checked_sub(bytes).ok_or(ConvError::TooLarge)?;
        Ok(())
    }

    fn take_string(&mut self, len: usize) -> Result<(), ConvError> {
        if len > self.max_string {
            return Err(ConvError::TooLarge);
        }
        self.take(len.saturating_add(2))
    }
}

/// Converts a minijinja value to JSON.
pub(crate) fn to_json(value: &Value, budget: &mut Budget) -> Result<Json, ConvError> {
    convert(value, budget, 0)
}

/// Appends the text form of a value used inside a mixed template: strings as they are, every
/// other value as compact JSON.
pub(crate) fn render_into(
    value: &Value,
    out: &mut String,
    budget: &mut Budget,
) -> Result<(), ConvError> {
    if let Some(s) = value.as_str() {
        if s.len() > budget.max_string {
            return Err(ConvError::TooLarge);
        }
        budget.take(s.len())?;
        out.push_str(s);
        return Ok(());
    }
    // The budget is charged while converting, so the text below is already bounded.
    let json = convert(value, budget, 0)?;
    let text = serde_json::to_string(&json).map_err(|e| ConvError::Type(e.to_string()))?;
    out.push_str(&text);
    Ok(())
}

fn too_deep() -> ConvError {
    ConvError::Type(format!("result nests deeper than {MAX_DEPTH} levels"))
}

fn convert(value: &Value, budget: &mut Budget, depth: usize) -> Result<Json, ConvError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if let Some(node) = value.downcast_object_ref::<JsonNode>() {
        return clone_json(node.resolve(), budget, depth);
    }
    match value.kind() {
        ValueKind::Undefined => Err(ConvError::Undefined),
        ValueKind::None => {
            budget.take(4)?;
            Ok(Json::Null)
        }
        ValueKind::Bool => {
            budget.take(5)?;
            Ok(Json::Bool(value.is_true()))
        }
        ValueKind::Number => {
            budget.take(8)?;
            number(value)
        }
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            budget.take_string(s.len())?;
            Ok(Json::String(s.to_owned()))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            budget.take(2)?;
            let iter = value
                .try_iter()
                .map_err(|e| ConvError::Type(e.to_string()))?;
            let mut items = Vec::new();
            for item in iter {
                budget.take(1)?;
                items.push(convert(&item, budget, depth + 1)?);
            }
            Ok(Json::Array(items))
        }
        ValueKind::Map => {
            budget.take(2)?;
            let pairs = value
                .as_object()
                .and_then(|o| o.try_iter_pairs())
                .ok_or_else(|| ConvError::Type("map cannot be iterated".into()))?;
            let mut map = serde_json::Map::new();
            for (key, item) in pairs {
                // JSON keys are strings; other keys (`{1: 'a'}`) use their text form.
                let key = match key.as_str() {
                    Some(s) => s.to_owned(),
                    None => key.to_string(),
                };
                budget.take_string(key.len())?;
                budget.take(2)?;
                let item = convert(&item, budget, depth + 1)?;
                map.insert(key, item);
            }
            Ok(Json::Object(map))
        }
        ValueKind::Bytes => Err(ConvError::Type(
            "bytes cannot be represented as JSON".into(),
        )),
        ValueKind::Plain => Err(ConvError::Type(format!(
            "a {} cannot be represented as JSON (is a function missing its call?)",
            value.kind()
        ))),
        _ => Err(ConvError::Type(format!(
            "a value of kind {} cannot be represented as JSON",
            value.kind()
        ))),
    }
}

fn number(value: &Value) -> Result<Json, ConvError> {
    if value.is_integer() {
        if let Ok(i) = i64::try_from(value.clone()) {
            return Ok(Json::from(i));
        }
        if let Ok(u) = u64::try_from(value.clone()) {
            return Ok(Json::from(u));
        }
    }
    // Integers beyond 64 bits become floats, like in JavaScript; they are rare and JSON
    // consumers could not read them exactly anyway.
    let f = f64::try_from(value.clone()).map_err(|e| ConvError::Type(e.to_string()))?;
    Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| ConvError::Type("result is not a finite number".into()))
}

/// Copies a JSON value, charging the budget as it goes.
pub(crate) fn clone_json(
    value: &Json,
    budget: &mut Budget,
    depth: usize,
) -> Result<Json, ConvError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match value {
        Json::Null => {
            budget.take(4)?;
            Json::Null
        }
        Json::Bool(b) => {
            budget.take(5)?;
            Json::Bool(*b)
        }
        Json::Number(n) => {
            budget.take(8)?;
            Json::Number(n.clone())
        }
        Json::String(s) => {
            budget.take_string(s.len())?;
            Json::String(s.clone())
        }
        Json::Array(items) => {
            budget.take(2)?;
            let mut out = Vec::with_capacity(items.len().min(1024));
            for item in items {
                budget.take(1)?;
                out.push(clone_json(item, budget, depth + 1)?);
            }
            Json::Array(out)
        }
        Json::Object(map) => {
            budget.take(2)?;
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                budget.take_string(key.len())?;
                budget.take(2)?;
                out.insert(key.clone(), clone_json(item, budget, depth + 1)?);
            }
            Json::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stops_lazy_repetition_early() {
        let env = minijinja::Environment::new();
        let value = env
            .compile_expression("[1] * 100000000")
            .unwrap()
            .eval(())
            .unwrap();
        let mut budget = Budget::new(1000, 1000);
        assert_eq!(to_json(&value, &mut budget), Err(ConvError::TooLarge));
    }

    #[test]
    fn renders_strings_raw_and_others_as_json() {
        let mut budget = Budget::new(1000, 1000);
        let mut out = String::new();
        render_into(&Value::from("a\"b"), &mut out, &mut budget).unwrap();
        render_into(&Value::from(vec![1, 2]), &mut out, &mut budget).unwrap();
        render_into(&Value::from(1.5), &mut out, &mut budget).unwrap();
        assert_eq!(out, "a\"b[1,2]1.5");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut value = Value::from(1);
        for _ in 0..200 {
            value = Value::from(vec![value]);
        }
        let mut budget = Budget::new(1 << 20, 1 << 20);
        assert!(matches!(
            to_json(&value, &mut budget),
            Err(ConvError::Type(_))
        ));
    }
}

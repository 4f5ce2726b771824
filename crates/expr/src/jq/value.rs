//! Conversions between `serde_json` values and jaq values, and bounded text for messages.
//!
//! Both directions are depth-limited and the jaq-to-JSON direction is also size-limited,
//! because a jq program can build values that share structure (`[., .]` repeated doubles the
//! logical size at each step) and converting those naively would never end. This module
//! deliberately does not run programs.

use std::fmt::{self, Write as _};

use jaq_json::{Map, Num, Val};
use serde_json::Value as Json;

use crate::convert::MAX_DEPTH;

/// The deepest input accepted (inputs come from trusted code but may be built by hand).
const MAX_INPUT_DEPTH: usize = 1024;

/// Why a conversion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValError {
    TooDeep(usize),
    TooLarge,
}

/// Converts a JSON value into a jaq value.
pub(crate) fn from_json(value: Json) -> Result<Val, ValError> {
    from_json_at(value, 0)
}

fn from_json_at(value: Json, depth: usize) -> Result<Val, ValError> {
    if depth > MAX_INPUT_DEPTH {
        return Err(ValError::TooDeep(MAX_INPUT_DEPTH));
    }
    Ok(match value {
        Json::Null => Val::Null,
        Json::Bool(b) => Val::Bool(b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(Num::from_integral(u))
            } else {
                Val::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Val::utf8_str(s.into_bytes()),
        Json::Array(items) => items
            .into_iter()
            .map(|v| from_json_at(v, depth + 1))
            .collect::<Result<Val, _>>()?,
        Json::Object(map) => {
            let entries = map
                .into_iter()
                .map(|(k, v)| Ok((Val::utf8_str(k.into_bytes()), from_json_at(v, depth + 1)?)))
                .collect::<Result<Map, ValError>>()?;
            Val::obj(entries)
        }
    })
}

/// Converts a jaq value into JSON, charging the JSON text size to `budget`.
pub(crate) fn to_json(value: &Val, budget: &mut usize) -> Result<Json, ValError> {
    to_json_at(value, budget, 0)
}

fn take(budget: &mut usize, bytes: usize) -> Result<(), ValError> {
    *budget = budget.checked_sub(bytes).ok_or(ValError::TooLarge)?;
    Ok(())
}

fn to_json_at(value: &Val, budget: &mut usize, depth: usize) -> Result<Json, ValError> {
    if depth > MAX_DEPTH {
        return Err(ValError::TooDeep(MAX_DEPTH));
    }
    Ok(match value {
        Val::Null => {
            take(budget, 4)?;
            Json::Null
        }
        Val::Bool(b) => {
            take(budget, 5)?;
            Json::Bool(*b)
        }
        Val::Num(n) => {
            take(budget, 8)?;
            number(n)
        }
        Val::TStr(b) | Val::BStr(b) => {
            take(budget, b.len().saturating_add(2))?;
            Json::String(String::from_utf8_lossy(b).into_owned())
        }
        Val::Arr(items) => {
            take(budget, 2)?;
            let mut out = Vec::with_capacity(items.len().min(1024));
            for item in items.iter() {
                take(budget, 1)?;
                out.push(to_json_at(item, budget, depth + 1)?);
            }
            Json::Array(out)
        }
        Val::Obj(map) => {
            take(budget, 2)?;
            let mut out = serde_json::Map::new();
            for (k, v) in map.iter() {
                // jaq allows non-string keys; JSON does not, so they use their text form.
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => bounded_display(other, 256),
                };
                take(budget, key.len().saturating_add(4))?;
                out.insert(key, to_json_at(v, budget, depth + 1)?);
            }
            Json::Object(out)
        }
    })
}

/// JSON has no NaN or infinities; like jq, NaN becomes `null` and infinities the largest
/// finite numbers.
fn number(n: &Num) -> Json {
    let float = |f: f64| {
        if f.is_nan() {
            Json::Null
        } else {
            let f = f.clamp(f64::MIN, f64::MAX);
            serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
        }
    };
    match n {
        Num::Int(i) => i64::try_from(*i).map_or_else(|_| float(*i as f64), Json::from),
        Num::Float(f) => float(*f),
        // Big integers and decimals keep their digits when `serde_json` can represent them
        // (as i64/u64), and become the nearest float otherwise.
        other => {
            let text = bounded_display(&Val::Num(other.clone()), 400);
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Json::Number)
                .unwrap_or_else(|_| float(text.parse::<f64>().unwrap_or(f64::NAN)))
        }
    }
}

/// Formats a value, cutting the text at about `max` bytes, so that error messages about huge
/// or widely shared values stay small and cheap to produce.
pub(crate) fn bounded_display(value: &impl fmt::Display, max: usize) -> String {
    struct Limited {
        out: String,
        max: usize,
        cut: bool,
    }
    impl fmt::Write for Limited {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = self.max.saturating_sub(self.out.len());
            if s.len() <= room {
                self.out.push_str(s);
                Ok(())
            } else {
                let mut end = room;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.out.push_str(&s[..end]);
                self.cut = true;
                // Failing stops the formatter from walking the rest of the value.
                Err(fmt::Error)
            }
        }
    }
    let mut w = Limited {
        out: String::new(),
        max,
        cut: false,
    };
    let _ = write!(w, "{value}");
    if w.cut {
        w.out.push_str("...");
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let value = json!({"a": [1, -2, 3.5, "x", null, true, {"b": 18446744073709551615u64}]});
        let mut budget = 1 << 20;
        assert_eq!(
            to_json(&from_json(value.clone()).unwrap(), &mut budget),
            Ok(value)
        );
    }

    #[test]
    fn refuses_deep_inputs_and_large_outputs() {
        // Deep values are built, converted and dropped recursively; in real use that happens
        // on the worker's large stack, so it does here too.
        let result = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let mut deep = json!(1);
                for _ in 0..2000 {
                    deep = json!([deep]);
                }
                from_json(deep).map(|_| ())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(result, Err(ValError::TooDeep(MAX_INPUT_DEPTH)));
        let big = from_json(json!(vec!["x"; 100])).unwrap();
        let mut budget = 50;
        assert_eq!(to_json(&big, &mut budget), Err(ValError::TooLarge));
    }

    #[test]
    fn display_is_cut() {
        let text = bounded_display(&"é".repeat(100), 11);
        assert_eq!(text, "ééééé...");
    }
}

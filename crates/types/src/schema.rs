//! Small helpers for the JSON Schemas generated from Rust types.
//!
//! Generated schemas describe `Option<T>` as "T or null"; in flow documents an absent field and
//! `null` are not the same promise, so published schemas drop the `null` alternative and rely on
//! `required` instead.

use serde_json::Value;

/// Removes the `null` alternative that schema generators add for optional fields, recursively.
pub fn strip_optional_nulls(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                if types.len() > 1 {
                    types.retain(|t| t != "null");
                }
                if types.len() == 1 {
                    let single = types.remove(0);
                    map.insert("type".into(), single);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(branches)) = map.get_mut(key) {
                    if branches.len() > 1 {
                        branches.retain(|b| b.get("type") != Some(&Value::String("null".into())));
                    }
                    if branches.len() == 1
                        && let Some(Value::Object(inner)) = branches.pop()
                    {
                        map.remove(key);
                        for (k, v) in inner {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            // `null` is also listed as an allowed default for optional fields; drop it.
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            for value in map.values_mut() {
                strip_optional_nulls(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_optional_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_null_alternatives() {
        let mut schema = json!({
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "default": null},
                "c": {"type": "null"}
            }
        });
        strip_optional_nulls(&mut schema);
        assert_eq!(
            schema,
            json!({"properties": {
                "a": {"type": "string"},
                "b": {"$ref": "#/$defs/X"},
                "c": {"type": "null"}
            }})
        );
    }
}

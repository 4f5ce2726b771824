//! Navigation in generated JSON Schemas: the subschema that applies at a path of an instance,
//! and the allowed values of an enumeration, for precise messages.

use serde_json::Value;

/// Follows a local `$ref` (`#/$defs/Name`), at most a few times.
fn deref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The subschema for the instance at `inner` (a JSON Pointer relative to the schema's root).
pub(crate) fn at<'a>(root: &'a Value, inner: &str) -> Option<&'a Value> {
    let mut current = deref(root, root);
    for token in inner.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let next = current
            .get("properties")
            .and_then(|p| p.get(&token))
            .or_else(|| {
                token
                    .parse::<usize>()
                    .ok()
                    .and_then(|_| current.get("items"))
            })
            .or_else(|| {
                current
                    .get("additionalProperties")
                    .filter(|a| a.is_object())
            })?;
        current = deref(root, next);
    }
    Some(current)
}

/// The values an enumeration allows: `enum`, or a `oneOf`/`anyOf` of `const`s (how schemars
/// writes documented enums).
pub(crate) fn allowed_values(schema: &Value) -> Option<Vec<String>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(Value::to_string).collect());
    }
    if let Some(constant) = schema.get("const") {
        return Some(vec![constant.to_string()]);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let consts: Option<Vec<String>> = branches
                .iter()
                .map(|b| b.get("const").map(Value::to_string))
                .collect();
            if consts.as_ref().is_some_and(|c| !c.is_empty()) {
                return consts;
            }
        }
    }
    None
}

/// The JSON type(s) a schema expects, in words.
pub(crate) fn expected_type(schema: &Value) -> Option<String> {
    let words = |t: &str| match t {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "integer" => "an integer".to_owned(),
        "boolean" => "true or false".to_owned(),
        "null" => "null".to_owned(),
        other => format!("a {other}"),
    };
    match schema.get("type")? {
        Value::String(t) => Some(words(t)),
        Value::Array(types) => Some(
            types
                .iter()
                .filter_map(Value::as_str)
                .map(words)
                .collect::<Vec<_>>()
                .join(" or "),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn navigates_refs_items_and_maps() {
        let schema = json!({
            "properties": {
                "a": {"$ref": "#/$defs/A"},
                "h": {"type": "object", "additionalProperties": {"type": "string"}},
                "m": {"oneOf": [{"const": "GET"}, {"const": "POST"}]}
            },
            "$defs": {"A": {"type": "array", "items": {"type": "boolean"}}}
        });
        assert_eq!(expected_type(at(&schema, "/a").unwrap()).unwrap(), "a list");
        assert_eq!(
            expected_type(at(&schema, "/a/3").unwrap()).unwrap(),
            "true or false"
        );
        assert_eq!(
            expected_type(at(&schema, "/h/X-Retry").unwrap()).unwrap(),
            "a string"
        );
        assert_eq!(
            allowed_values(at(&schema, "/m").unwrap()).unwrap(),
            vec!["\"GET\"", "\"POST\""]
        );
        assert!(at(&schema, "/zzz").is_none());
    }
}

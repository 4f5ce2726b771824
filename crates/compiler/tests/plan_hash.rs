//! Property test: the plan hash depends only on a flow's meaning, not on its format (YAML or
//! JSON) or on the order of keys in its mappings.

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Writes `value` as JSON with mapping keys in an order chosen by `seed`.
fn json_text(value: &Value, seed: &mut u64, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in shuffled(map, seed).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                json_text(item, seed, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_text(item, seed, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Writes `value` as block-style YAML with keys in an order chosen by `seed`. Scalars are
/// written as JSON scalars, which YAML reads the same way (double-quoted strings).
fn yaml_text(value: &Value, seed: &mut u64, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in shuffled(map, seed) {
                out.push_str(&pad);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_nested(item, seed, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write_nested(item, seed, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_nested(item: &Value, seed: &mut u64, indent: usize, out: &mut String) {
    match item {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_text(item, seed, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_text(item, seed, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

fn shuffled<'a>(
    map: &'a serde_json::Map<String, Value>,
    seed: &mut u64,
) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    // Fisher-Yates with a xorshift generator: deterministic per seed, different per case.
    for i in (1..entries.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let j = (*seed % (i as u64 + 1)) as usize;
        entries.swap(i, j);
    }
    entries
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 _.:#-]{0,12}".prop_map(Value::String),
        Just(json!("{{ inputs.name }}")),
    ]
}

fn config_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A random valid flow: a chain of `core.set` nodes, each reading its predecessor.
fn flow() -> impl Strategy<Value = Value> {
    (prop::collection::vec(config_value(), 1..6), any::<bool>()).prop_map(|(values, with_if)| {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let mut config = json!({ "value": value });
            if i > 0 {
                config["value"] = json!({ "previous": format!("{{{{ steps.n{}.output }}}}", i - 1), "own": value });
                edges.push(json!({ "from": format!("n{}", i - 1), "to": format!("n{i}") }));
            }
            nodes.push(json!({ "id": format!("n{i}"), "type": "core.set", "config": config }));
        }
        if with_if {
            nodes.push(json!({ "id": "check", "type": "core.if", "config": { "condition": "{{ inputs.name == 'x' }}" } }));
            edges.push(json!({ "from": "n0", "to": "check" }));
        }
        json!({
            "aion": 1,
            "id": "random-flow",
            "inputs": { "type": "object", "properties": { "name": { "type": "string", "default": "x" } } },
            "nodes": nodes,
            "edges": edges,
            "output": format!("{{{{ steps.n{}.output }}}}", values.len() - 1),
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hash_ignores_format_and_key_order(document in flow(), seed_a in 1u64.., seed_b in 1u64..) {
        let compiler = Compiler::new(aion_nodes::catalog());
        let mut seed = seed_a;
        let mut json_a = String::new();
        json_text(&document, &mut seed, &mut json_a);
        let mut seed = seed_b;
        let mut yaml_b = String::new();
        yaml_text(&document, &mut seed, 0, &mut yaml_b);
        let from_json = compiler.compile(json_a.as_bytes(), Format::Json);
        let from_yaml = compiler.compile(yaml_b.as_bytes(), Format::Yaml);
        let plan_json = from_json.plan.unwrap_or_else(|| panic!("{json_a}\n{:#?}", from_json.diagnostics));
        let plan_yaml = from_yaml.plan.unwrap_or_else(|| panic!("{yaml_b}\n{:#?}", from_yaml.diagnostics));
        prop_assert_eq!(&plan_json.hash, &plan_yaml.hash);
        prop_assert_eq!(plan_json, plan_yaml);
    }

    #[test]
    fn hash_changes_with_meaning(document in flow(), seed in 1u64..) {
        let compiler = Compiler::new(aion_nodes::catalog());
        let mut text = String::new();
        let mut s = seed;
        json_text(&document, &mut s, &mut text);
        let mut changed = document.clone();
        changed["id"] = json!("another-flow");
        let mut changed_text = String::new();
        let mut s = seed;
        json_text(&changed, &mut s, &mut changed_text);
        let a = compiler.compile(text.as_bytes(), Format::Json).plan.unwrap();
        let b = compiler.compile(changed_text.as_bytes(), Format::Json).plan.unwrap();
        prop_assert_ne!(a.hash, b.hash);
    }
}

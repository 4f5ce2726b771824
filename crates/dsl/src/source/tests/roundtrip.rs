//! Property tests: any JSON value, written as JSON or as JSON-compatible YAML flow style, reads
//! back equal, with a span for every value.
//!
//! The YAML writer here is test-only and deliberately minimal (flow style, double-quoted
//! strings); it is not a general YAML emitter.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::source::{Format, Limits, SpanMap, escape_pointer_token, parse};

/// Random JSON values: every scalar kind, finite floats, arbitrary Unicode strings and keys.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Writes `value` as YAML flow style: JSON syntax, except that strings escape every char YAML
/// does not allow raw (C0/C1 controls, DEL, BOM and non-characters), which JSON writers keep.
fn to_yaml_flow(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(s) => yaml_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                to_yaml_flow(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_string(key, out);
                out.push_str(": ");
                to_yaml_flow(item, out);
            }
            out.push('}');
        }
    }
}

fn yaml_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' | ' '..='~' => out.push(c),
            '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}' => {
                out.push(c)
            }
            c if u32::from(c) >= 0x10000 => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out.push('"');
}

/// Checks that every value in `value` has a span, and every member a key span.
fn assert_all_spanned(value: &Value, pointer: &mut String, spans: &SpanMap) {
    assert!(spans.value(pointer).is_some(), "no span for {pointer:?}");
    let len = pointer.len();
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointer.push_str(&format!("/{i}"));
                assert_all_spanned(item, pointer, spans);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                pointer.push('/');
                pointer.push_str(&escape_pointer_token(key));
                assert!(spans.key(pointer).is_some(), "no key span for {pointer:?}");
                assert_all_spanned(item, pointer, spans);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_text_reads_back_equal(value in any_value()) {
        let text = serde_json::to_string_pretty(&value).unwrap();
        let doc = parse(text.as_bytes(), Format::Json, &Limits::default()).unwrap();
        prop_assert_eq!(&doc.value, &value);
        assert_all_spanned(&doc.value, &mut String::new(), &doc.spans);
    }

    #[test]
    fn yaml_flow_text_reads_back_equal(value in any_value()) {
        let mut text = String::new();
        to_yaml_flow(&value, &mut text);
        let doc = parse(text.as_bytes(), Format::Yaml, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e:?} in {text}")))?;
        prop_assert_eq!(&doc.value, &value);
        assert_all_spanned(&doc.value, &mut String::new(), &doc.spans);
    }

    #[test]
    fn compact_json_is_also_yaml_when_strings_are_plain(value in any_value()) {
        // serde_json's compact output (`{"a":1}`) relies on YAML's adjacent-value rule after a
        // quoted key; only strings YAML accepts raw are kept so the text stays valid YAML.
        let text = serde_json::to_string(&value).unwrap();
        prop_assume!(text.chars().all(|c| c == '\t' || (c >= ' ' && c != '\u{7f}' && !('\u{80}'..'\u{a0}').contains(&c) && c != '\u{feff}' && c != '\u{fffe}' && c != '\u{ffff}')));
        let doc = parse(text.as_bytes(), Format::Yaml, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("{e:?} in {text}")))?;
        prop_assert_eq!(&doc.value, &value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(&bytes, Format::Json, &Limits::default());
        let _ = parse(&bytes, Format::Yaml, &Limits::default());
    }

    #[test]
    fn arbitrary_yamlish_text_never_panics(text in "[-\\[\\]{}:,?&*!|>'\"#%@` \\n\\ta-c0-9.~<]{0,64}") {
        let _ = parse(text.as_bytes(), Format::Yaml, &Limits::default());
        let _ = parse(text.as_bytes(), Format::Json, &Limits::default());
    }
}

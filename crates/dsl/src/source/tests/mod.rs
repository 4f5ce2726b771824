//! Tests for the source reader: the same document in both formats, and span lookups.
//!
//! Error kinds, YAML-specific features, limits and the round-trip property live in the sibling
//! modules; these tests do not cover the flow schema, which the compiler owns.

mod errors;
mod limits;
mod roundtrip;
mod yaml_features;

use super::{Document, Format, Limits, ParseError, Span, escape_pointer_token, parse};

/// The example flow in YAML; line 16 has non-ASCII text so that byte offsets differ from chars.
const YAML: &str = r##"aion: 1
id: price-alert
name: SOL price alert
tags: [crypto, alerts]
nodes:
  - id: price
    type: http.request
    config:
      method: GET
      url: "https://api.example.com/v1/price?symbol=SOL"
    retry: { max_attempts: 5, backoff: exponential, jitter: true }
  - id: notify
    type: slack.post_message
    config:
      channel: "#alerts"
      text: "Prix : {{ steps.price.output.body.price }} € — ok"
      url: https://hooks.example.com/é
edges:
  - { from: price, to: notify }
output: "{{ steps.notify.output }}"
timeout: null
ratio: 0.5
"##;

/// The same flow in JSON.
const JSON: &str = r##"{
  "aion": 1,
  "id": "price-alert",
  "name": "SOL price alert",
  "tags": ["crypto", "alerts"],
  "nodes": [
    {
      "id": "price",
      "type": "http.request",
      "config": {
        "method": "GET",
        "url": "https://api.example.com/v1/price?symbol=SOL"
      },
      "retry": { "max_attempts": 5, "backoff": "exponential", "jitter": true }
    },
    {
      "id": "notify",
      "type": "slack.post_message",
      "config": {
        "channel": "#alerts",
        "text": "Prix : {{ steps.price.output.body.price }} \u20ac \u2014 ok",
        "url": "https://hooks.example.com/é"
      }
    }
  ],
  "edges": [{ "from": "price", "to": "notify" }],
  "output": "{{ steps.notify.output }}",
  "timeout": null,
  "ratio": 0.5
}
"##;

pub(super) fn yaml(text: &str) -> Document {
    parse(text.as_bytes(), Format::Yaml, &Limits::default()).unwrap()
}

pub(super) fn json(text: &str) -> Document {
    parse(text.as_bytes(), Format::Json, &Limits::default()).unwrap()
}

pub(super) fn yaml_err(text: &str) -> ParseError {
    parse(text.as_bytes(), Format::Yaml, &Limits::default()).unwrap_err()
}

pub(super) fn json_err(text: &str) -> ParseError {
    parse(text.as_bytes(), Format::Json, &Limits::default()).unwrap_err()
}

/// The span of the first occurrence of `needle` on 1-based `line` of `text`, computed
/// independently of the parsers (column in chars, offset in bytes).
pub(super) fn at(text: &str, line: u32, needle: &str) -> Span {
    let mut offset = 0;
    for (index, content) in text.split('\n').enumerate() {
        if index + 1 == line as usize {
            let byte = content.find(needle).unwrap();
            let column = content[..byte].chars().count() + 1;
            return Span {
                line,
                column: u32::try_from(column).unwrap(),
                offset: offset + byte,
            };
        }
        offset += content.len() + 1;
    }
    panic!("line {line} not found");
}

/// A span from literal numbers, for the few places where the expectation is written out.
pub(super) fn span(line: u32, column: u32, offset: usize) -> Span {
    Span {
        line,
        column,
        offset,
    }
}

#[test]
fn yaml_and_json_give_the_same_value() {
    let from_yaml = yaml(YAML).value;
    let from_json = json(JSON).value;
    assert_eq!(from_yaml, from_json);
    assert_eq!(
        from_yaml["nodes"][1]["config"]["text"],
        "Prix : {{ steps.price.output.body.price }} € — ok"
    );
    assert_eq!(from_yaml["aion"], serde_json::json!(1));
    assert!(from_yaml["aion"].is_u64());
    assert!(from_yaml["ratio"].is_f64());
    assert!(from_yaml["timeout"].is_null());
    assert_eq!(from_yaml["nodes"][0]["retry"]["jitter"], true);
}

#[test]
fn yaml_spans_point_at_values_and_keys() {
    let spans = yaml(YAML).spans;
    assert_eq!(spans.value(""), Some(span(1, 1, 0)));
    assert_eq!(spans.key(""), None);
    assert_eq!(spans.value("/aion"), Some(at(YAML, 1, "1")));
    assert_eq!(spans.key("/aion"), Some(span(1, 1, 0)));
    assert_eq!(spans.value("/tags"), Some(at(YAML, 4, "[")));
    assert_eq!(spans.value("/tags/1"), Some(at(YAML, 4, "alerts")));
    assert_eq!(spans.key("/tags/1"), None);
    assert_eq!(
        spans.value("/nodes/0/config/url"),
        Some(at(YAML, 10, "\"https"))
    );
    assert_eq!(spans.value("/nodes/0/retry"), Some(at(YAML, 11, "{")));
    assert_eq!(
        spans.key("/nodes/0/retry/backoff"),
        Some(at(YAML, 11, "backoff"))
    );
    assert_eq!(
        spans.value("/nodes/0/retry/backoff"),
        Some(at(YAML, 11, "exponential"))
    );
    // A block mapping starts at its first key.
    assert_eq!(spans.value("/nodes/1"), Some(at(YAML, 12, "id")));
    assert_eq!(
        spans.value("/nodes/1/config/text"),
        Some(at(YAML, 16, "\"Prix"))
    );
    // Line 16 holds multi-byte chars, so the offsets after it check the char-to-byte mapping.
    assert_eq!(spans.key("/nodes/1/config/url"), Some(at(YAML, 17, "url")));
    assert_eq!(
        spans.value("/nodes/1/config/url"),
        Some(at(YAML, 17, "https"))
    );
    assert_eq!(
        spans.value("/nodes/1/config/url").map(|s| s.column),
        Some(12)
    );
    assert_eq!(spans.value("/edges/0/to"), Some(at(YAML, 19, "notify")));
    assert_eq!(spans.value("/ratio"), Some(at(YAML, 22, "0.5")));
}

#[test]
fn json_spans_point_at_values_and_keys() {
    let spans = json(JSON).spans;
    assert_eq!(spans.value(""), Some(span(1, 1, 0)));
    assert_eq!(spans.value("/aion"), Some(at(JSON, 2, "1")));
    assert_eq!(spans.key("/aion"), Some(at(JSON, 2, "\"aion\"")));
    assert_eq!(spans.value("/tags/1"), Some(at(JSON, 5, "\"alerts\"")));
    assert_eq!(spans.value("/nodes/1"), Some(at(JSON, 16, "{")));
    assert_eq!(
        spans.key("/nodes/0/retry/backoff"),
        Some(at(JSON, 14, "\"backoff\""))
    );
    assert_eq!(
        spans.value("/nodes/0/retry/backoff"),
        Some(at(JSON, 14, "\"exponential\""))
    );
    assert_eq!(
        spans.key("/nodes/1/config/url"),
        Some(at(JSON, 22, "\"url\""))
    );
    assert_eq!(
        spans.value("/nodes/1/config/url"),
        Some(at(JSON, 22, "\"https"))
    );
    assert_eq!(
        spans
            .value("/nodes/1/config/url")
            .map(|s| (s.line, s.column)),
        Some((22, 16))
    );
    assert_eq!(spans.value("/edges/0/to"), Some(at(JSON, 26, "\"notify\"")));
    assert_eq!(spans.value("/ratio"), Some(at(JSON, 29, "0.5")));
}

#[test]
fn columns_count_chars_and_offsets_count_bytes() {
    let text = "{\"é€\": [\"😀\", 1]}";
    let spans = json(text).spans;
    // `1` is the 14th char but starts at byte 19 (é is 2 bytes, € 3 and 😀 4).
    assert_eq!(spans.value("/é€/1"), Some(span(1, 14, 19)));
    let spans = yaml("é€: [😀, 1]").spans;
    assert_eq!(spans.value("/é€/1"), Some(span(1, 9, 14)));
}

#[test]
fn a_byte_order_mark_is_skipped_but_counted_in_offsets() {
    let with_bom = "\u{feff}a: [1, 2]";
    let doc = yaml(with_bom);
    assert_eq!(doc.value, serde_json::json!({ "a": [1, 2] }));
    assert_eq!(doc.spans.value("/a/1"), Some(span(1, 8, 10)));
    let doc = json("\u{feff}[1, 2]");
    assert_eq!(doc.spans.value("/1"), Some(span(1, 5, 7)));
}

#[test]
fn nearest_falls_back_to_the_closest_existing_ancestor() {
    let spans = yaml(YAML).spans;
    let config = spans.value("/nodes/1/config");
    assert!(config.is_some());
    assert_eq!(spans.nearest("/nodes/1/config/missing/deeper"), config);
    assert_eq!(spans.value("/nodes/1/config/missing"), None);
    assert_eq!(spans.key("/nodes/1/config/missing"), None);
    assert_eq!(spans.nearest("/nodes/7"), spans.value("/nodes"));
    assert_eq!(spans.nearest("/aion/0"), spans.value("/aion"));
    assert_eq!(spans.nearest(""), spans.value(""));
    // Not a pointer at all: no answer rather than a misleading one.
    assert_eq!(spans.nearest("nodes"), None);
    assert_eq!(spans.nearest("/bad~2escape"), None);
}

#[test]
fn pointers_follow_rfc_6901() {
    let text = r#"{"a/b": {"m~n": 1}, "": 2, "list": [10, 11]}"#;
    let spans = json(text).spans;
    assert_eq!(spans.value("/a~1b/m~0n").map(|s| s.column), Some(17));
    assert_eq!(spans.value("/").map(|s| s.column), Some(25));
    assert_eq!(spans.value("/list/1").map(|s| s.column), Some(41));
    // Leading zeros, signs and `-` are not array indexes.
    assert_eq!(spans.value("/list/01"), None);
    assert_eq!(spans.value("/list/+1"), None);
    assert_eq!(spans.value("/list/-"), None);
    assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
    assert_eq!(escape_pointer_token("~1"), "~01");
    assert_eq!(escape_pointer_token("plain"), "plain");
    let key = format!(
        "/{}/{}",
        escape_pointer_token("a/b"),
        escape_pointer_token("m~n")
    );
    assert_eq!(spans.key(&key).map(|s| s.column), Some(10));
}

#[test]
fn format_is_chosen_by_extension() {
    use std::path::Path;
    assert_eq!(Format::from_path(Path::new("flow.json")), Format::Json);
    assert_eq!(Format::from_path(Path::new("FLOW.JSON")), Format::Json);
    assert_eq!(Format::from_path(Path::new("flow.yaml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("flow.yml")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("flow")), Format::Yaml);
    assert_eq!(Format::from_path(Path::new("json")), Format::Yaml);
}

#[test]
fn a_json_document_is_also_read_as_yaml() {
    assert_eq!(yaml(JSON).value, json(JSON).value);
    let spans = yaml(JSON).spans;
    assert_eq!(
        spans.value("/nodes/1/config/url"),
        Some(at(JSON, 22, "\"https"))
    );
}

#[test]
fn scalars_at_the_root_are_documents_too() {
    assert_eq!(json(" 42 ").value, serde_json::json!(42));
    assert_eq!(yaml("hello").value, serde_json::json!("hello"));
    assert_eq!(yaml("---\n").value, serde_json::Value::Null);
    assert_eq!(json("\"x\"").spans.value(""), Some(span(1, 1, 0)));
}

#[test]
fn crlf_line_endings_count_as_one_line_break() {
    let text = "a: 1\r\nb:\r\n  c: [x, y]\r\n";
    let spans = yaml(text).spans;
    assert_eq!(spans.value("/b/c/1"), Some(span(3, 10, 19)));
    let text = "{\r\n  \"b\": [1,\r\n    2]\r\n}";
    let spans = json(text).spans;
    assert_eq!(spans.value("/b/1"), Some(span(3, 5, 19)));
    assert_eq!(spans.key("/b"), Some(span(2, 3, 5)));
}

#[test]
fn default_limits_match_the_documented_values() {
    let limits = Limits::default();
    assert_eq!(limits.max_bytes, 10 * 1024 * 1024);
    assert_eq!(limits.max_depth, 128);
    assert_eq!(limits.max_nodes, 1_000_000);
}

//! Tests that hostile documents fail fast and safely: alias bombs, extreme nesting, big flows.
//!
//! Time bounds are generous because tests run unoptimised on shared machines; they only catch
//! blow-ups (exponential or quadratic work), not small regressions.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{json, yaml, yaml_err};
use crate::source::{Format, Limits, ParseErrorKind, parse};

/// The classic "billion laughs": nine levels of nine aliases, 9^9 strings once expanded.
fn billion_laughs() -> String {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let (prev, name) = (pair[0], pair[1]);
        let aliases = vec![format!("*{prev}"); 9].join(",");
        writeln!(text, "{name}: &{name} [{aliases}]").unwrap();
    }
    text
}

#[test]
fn billion_laughs_fails_fast_at_an_alias() {
    let text = billion_laughs();
    let started = Instant::now();
    let e = yaml_err(&text);
    let elapsed = started.elapsed();
    assert_eq!(e.kind, ParseErrorKind::TooManyNodes, "{e:?}");
    let span = e.span.unwrap();
    // The failing alias is on one of the `*x` lines, which start at line 2.
    assert!(span.line >= 2, "{span:?}");
    assert_eq!(text[span.offset..].chars().next(), Some('*'));
    // The alias allowance (10,000 values for a small document) stops it at the second `*d`.
    assert_eq!((span.line, span.column), (5, 8));
    assert!(
        e.message.contains("alias *d expands to 7381 values"),
        "{}",
        e.message
    );
    assert!(e.message.contains("alias bomb"), "{}", e.message);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    // With the allowance out of the way (a big document), the absolute budget still holds.
    let padded = format!("pad: [{}0]\n{text}", "0, ".repeat(200_000));
    let e = yaml_err(&padded);
    assert_eq!(e.kind, ParseErrorKind::TooManyNodes, "{e:?}");
    assert!(
        e.message.contains("past the limit of 1000000 values"),
        "{}",
        e.message
    );
}

#[test]
fn aliases_may_add_ten_values_per_written_value() {
    // A 10-value mapping merged into 1,000 nodes adds 11,000 values (the alias's mapping and its
    // members) to a document that writes out about 4,000: within ten per written value.
    let mut text = String::from("defaults: &d {");
    for i in 0..9 {
        write!(text, "k{i}: {i}, ").unwrap();
    }
    text.push_str("k9: 9}\nnodes:\n");
    for i in 0..1000 {
        writeln!(text, "  - {{ <<: *d, id: n{i}, x: 1 }}").unwrap();
    }
    let doc = yaml(&text);
    assert_eq!(doc.value["nodes"][999]["k9"], 9);
    // The same anchor used 150 times by a tiny document is refused.
    let mut text = String::from("defaults: &d {");
    for i in 0..99 {
        write!(text, "k{i}: {i}, ").unwrap();
    }
    text.push_str("k99: 99}\nnodes: [");
    text.push_str(&vec!["*d"; 150].join(", "));
    text.push_str("]\n");
    let e = yaml_err(&text);
    assert_eq!(e.kind, ParseErrorKind::TooManyNodes);
    assert!(
        e.message
            .contains("the most allowed for a document that writes out"),
        "{}",
        e.message
    );
}

#[test]
fn an_alias_bomb_fails_before_building_anything_big() {
    // Each level doubles; level 40 would be a trillion values. With a small budget the first
    // alias that would cross it fails, long before memory is at risk.
    let mut text = String::from("l0: &l0 [x, x]\n");
    for level in 1..=40 {
        writeln!(text, "l{level}: &l{level} [*l{p}, *l{p}]", p = level - 1).unwrap();
    }
    let limits = Limits {
        max_nodes: 10_000,
        ..Limits::default()
    };
    let started = Instant::now();
    let e = parse(text.as_bytes(), Format::Yaml, &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooManyNodes);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Level k holds 2^(k+2) - 1 values. Lines 1-11 (levels 0-10) make 8,178 values with the
    // root, so the first `*l10` on line 12 (4,095 more) is the first alias that cannot fit.
    assert_eq!(e.span.map(|s| (s.line, s.column)), Some((12, 12)), "{e:?}");
    assert!(
        e.message.contains("*l10 expands to 4095 values"),
        "{}",
        e.message
    );
}

#[test]
fn a_deep_alias_chain_is_too_deep_at_the_alias() {
    let mut text = String::from("l0: &l0 [[[[[[[[[[1]]]]]]]]]]\n");
    for level in 1..=20 {
        writeln!(
            text,
            "l{level}: &l{level} [[[[[[[[[[*l{p}]]]]]]]]]]",
            p = level - 1
        )
        .unwrap();
    }
    let e = yaml_err(&text);
    assert_eq!(e.kind, ParseErrorKind::TooDeep, "{e:?}");
    assert_eq!(text[e.span.unwrap().offset..].chars().next(), Some('*'));
}

#[test]
fn hundred_thousand_nested_json_arrays_fail_without_overflow() {
    for open in ["[", "{\"k\":"] {
        let text = open.repeat(100_000);
        let e = json_err_owned(&text);
        assert_eq!(e.kind, ParseErrorKind::TooDeep);
        assert_eq!(e.span.map(|s| s.line), Some(1));
    }
    let text = "[".repeat(1_000_000);
    assert_eq!(json_err_owned(&text).kind, ParseErrorKind::TooDeep);
}

#[test]
fn hundred_thousand_nested_yaml_collections_fail_without_overflow() {
    // Flow style: the scanner's own limit (255 levels) may trigger before the builder's.
    let e = yaml_err(&"[".repeat(100_000));
    assert_eq!(e.kind, ParseErrorKind::TooDeep, "{e:?}");
    let e = yaml_err(&"{a: ".repeat(100_000));
    assert_eq!(e.kind, ParseErrorKind::TooDeep, "{e:?}");
    // Block style: compact nested sequences on one line.
    let e = yaml_err(&"- ".repeat(100_000));
    assert_eq!(e.kind, ParseErrorKind::TooDeep, "{e:?}");
    assert_eq!(e.span.map(|s| (s.line, s.column)), Some((1, 257)));
}

#[test]
fn the_depth_limit_is_configurable() {
    let limits = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    assert!(parse(b"[[1]]", Format::Json, &limits).is_ok());
    let e = parse(b"[[[1]]]", Format::Json, &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooDeep);
    assert_eq!(
        e.message,
        "the document nests deeper than the limit of 2 levels"
    );
    let e = parse(b"a:\n  b:\n    c: 1\n", Format::Yaml, &limits).unwrap_err();
    assert_eq!(e.span.map(|s| (s.line, s.column)), Some((3, 5)));
}

#[test]
fn a_thousand_node_flow_parses_quickly_in_both_formats() {
    let mut text = String::from("aion: 1\nid: big\nnodes:\n");
    for i in 0..1000 {
        write!(
            text,
            "  - id: n{i}\n    type: http.request\n    config:\n      method: GET\n      url: \"https://example.com/{i}\"\n      headers: {{ accept: application/json, x-n: {i} }}\n    retry: {{ max_attempts: 3, backoff: exponential }}\n"
        )
        .unwrap();
    }
    text.push_str("edges:\n");
    for i in 1..1000 {
        writeln!(text, "  - {{ from: n{}, to: n{i} }}", i - 1).unwrap();
    }
    let started = Instant::now();
    let doc = yaml(&text);
    let yaml_time = started.elapsed();
    let as_json = serde_json::to_string_pretty(&doc.value).unwrap();
    let started = Instant::now();
    let doc2 = json(&as_json);
    let json_time = started.elapsed();
    assert_eq!(doc.value, doc2.value);
    assert!(doc.spans.value("/nodes/999/config/headers/x-n").is_some());
    assert!(doc2.spans.value("/edges/998/to").is_some());
    assert!(
        yaml_time < Duration::from_secs(3),
        "yaml took {yaml_time:?}"
    );
    assert!(
        json_time < Duration::from_secs(3),
        "json took {json_time:?}"
    );
}

#[test]
fn a_long_single_line_json_document_keeps_column_work_linear() {
    // 200,000 values on one line: recounting columns from the line start would be quadratic.
    let text = serde_json::to_string(&vec!["é"; 200_000]).unwrap();
    let started = Instant::now();
    let doc = json(&text);
    assert!(started.elapsed() < Duration::from_secs(3));
    let last = doc.spans.value("/199999").unwrap();
    assert_eq!(last.column as usize, 2 + 199_999 * 4);
    assert_eq!(last.offset, 1 + 199_999 * 5);
    let doc = yaml(&text);
    assert_eq!(doc.spans.value("/199999"), Some(last));
}

fn json_err_owned(text: &str) -> crate::source::ParseError {
    parse(text.as_bytes(), Format::Json, &Limits::default()).unwrap_err()
}

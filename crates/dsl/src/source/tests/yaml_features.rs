//! Tests for YAML-specific behaviour: core-schema scalars, tags, anchors, aliases, merge keys
//! and key conversion. Errors for these features are in `errors`.

use serde_json::json;

use super::{at, span, yaml};

#[test]
fn plain_scalars_follow_the_yaml_1_2_core_schema() {
    let doc = yaml(
        "nulls: [null, Null, NULL, ~]\n\
         empty:\n\
         bools: [true, True, TRUE, false, False, FALSE]\n\
         ints: [0, -12, +7, 0o17, 0x1F, 0xff, 007, 18446744073709551615, -9223372036854775808]\n\
         floats: [1.5, -0.5, .5, 1., 1e3, 2.5E-3, +1.0]\n\
         big: 123456789012345678901234567890\n\
         strings: [yes, no, on, off, y, n, 1_000, 0b101, 0o8, 0x, 1.2.3, 2024-01-01, nulls, .Nan, 12:30]\n",
    );
    let expected = json!({
        "nulls": [null, null, null, null],
        "empty": null,
        "bools": [true, true, true, false, false, false],
        "ints": [0, -12, 7, 15, 31, 255, 7, 18_446_744_073_709_551_615_u64, i64::MIN],
        "floats": [1.5, -0.5, 0.5, 1.0, 1000.0, 0.0025, 1.0],
        "big": 1.234_567_890_123_456_8e29,
        "strings": ["yes", "no", "on", "off", "y", "n", "1_000", "0b101", "0o8", "0x", "1.2.3", "2024-01-01", "nulls", ".Nan", "12:30"],
    });
    assert_eq!(doc.value, expected);
    assert!(doc.value["floats"][3].is_f64());
    assert!(doc.value["ints"][2].is_u64());
}

#[test]
fn quoted_and_block_scalars_are_always_strings() {
    let doc = yaml(
        "a: 'true'\nb: \"12\"\nc: ''\nd: \"null\"\ne: |\n  line one\n  line two\nf: >-\n  folded\n  text\n",
    );
    assert_eq!(
        doc.value,
        json!({ "a": "true", "b": "12", "c": "", "d": "null", "e": "line one\nline two\n", "f": "folded text" })
    );
}

#[test]
fn core_tags_are_honoured() {
    let doc = yaml(
        "a: !!str 12\nb: !!str\nc: ! true\nd: !!int \"42\"\ne: !!float 3\nf: !!bool \"false\"\ng: !!null ''\nh: !!seq [1]\ni: !!map {x: 1}\nj: !<tag:yaml.org,2002:str> 7\n",
    );
    assert_eq!(
        doc.value,
        json!({ "a": "12", "b": "", "c": "true", "d": 42, "e": 3.0, "f": false, "g": null, "h": [1], "i": {"x": 1}, "j": "7" })
    );
    assert!(doc.value["e"].is_f64());
}

#[test]
fn aliases_expand_to_copies_with_spans() {
    let text = "base: &base\n  retry: 3\n  url: x\nuse: *base\nlist: [&n 5, *n, *n]\n";
    let doc = yaml(text);
    assert_eq!(
        doc.value,
        json!({ "base": {"retry": 3, "url": "x"}, "use": {"retry": 3, "url": "x"}, "list": [5, 5, 5] })
    );
    // The alias itself points at the `*`; values inside it point at the anchored text.
    assert_eq!(doc.spans.value("/use"), Some(at(text, 4, "*base")));
    assert_eq!(doc.spans.value("/use/url"), Some(at(text, 3, "x")));
    assert_eq!(doc.spans.key("/use/url"), Some(at(text, 3, "url")));
    assert_eq!(doc.spans.value("/list/0"), Some(at(text, 5, "&n")));
    assert_eq!(doc.spans.value("/list/2"), Some(span(5, 18, 60)));
    // An anchor may be redefined; later aliases see the new value.
    let doc = yaml("a: &x 1\nb: *x\nc: &x 2\nd: *x\n");
    assert_eq!(doc.value, json!({ "a": 1, "b": 1, "c": 2, "d": 2 }));
    // An alias can be a key when its anchor is a scalar.
    let doc = yaml("a: &k name\n*k : 1\n");
    assert_eq!(doc.value, json!({ "a": "name", "name": 1 }));
}

#[test]
fn nested_aliases_expand_fully() {
    let doc = yaml("a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]\n");
    assert_eq!(doc.value["c"], json!([[[1, 2], [1, 2]], [[1, 2], [1, 2]]]));
}

#[test]
fn merge_keys_merge_mappings() {
    let text =
        "defaults: &d\n  method: GET\n  timeout: 10s\nnode:\n  <<: *d\n  timeout: 5s\n  url: x\n";
    let doc = yaml(text);
    assert_eq!(
        doc.value["node"],
        json!({ "method": "GET", "timeout": "5s", "url": "x" })
    );
    // Explicit keys win even when they come before the merge.
    let doc = yaml("d: &d {a: 1, b: 2}\nn: {b: 3, <<: *d}\n");
    assert_eq!(doc.value["n"], json!({ "a": 1, "b": 3 }));
    // In a list of merges, earlier mappings win.
    let doc = yaml("x: &x {a: 1}\ny: &y {a: 2, b: 2}\nn:\n  <<: [*x, *y]\n");
    assert_eq!(doc.value["n"], json!({ "a": 1, "b": 2 }));
    // Merged members keep the positions of the mapping they came from.
    let doc = yaml(text);
    assert_eq!(doc.spans.key("/node/method"), Some(at(text, 2, "method")));
    assert_eq!(doc.spans.value("/node/method"), Some(at(text, 2, "GET")));
    assert_eq!(doc.spans.value("/node/timeout"), Some(at(text, 6, "5s")));
}

#[test]
fn a_merge_key_that_cannot_merge_is_an_ordinary_key() {
    let doc = yaml("a:\n  <<: 5\n  b: 1\n");
    assert_eq!(doc.value["a"], json!({ "<<": 5, "b": 1 }));
    let doc = yaml("a: {'<<': {x: 1}}\n");
    assert_eq!(doc.value["a"], json!({ "<<": {"x": 1} }));
    let doc = yaml("a: {<<: [{x: 1}, 2]}\n");
    assert_eq!(doc.value["a"], json!({ "<<": [{"x": 1}, 2] }));
}

#[test]
fn scalar_keys_become_strings() {
    let doc = yaml("1: a\n0x10: b\ntrue: c\n1.5: d\n\"2\": e\n");
    assert_eq!(
        doc.value,
        json!({ "1": "a", "16": "b", "true": "c", "1.5": "d", "2": "e" })
    );
    assert_eq!(doc.spans.key("/16"), Some(span(2, 1, 5)));
}

#[test]
fn empty_values_are_null_and_point_near_their_key() {
    let text = "a:\nb: 1\n";
    let doc = yaml(text);
    assert_eq!(doc.value, json!({ "a": null, "b": 1 }));
    let a = doc.spans.value("/a").unwrap();
    assert_eq!(a.line, 1);
}

#[test]
fn comments_and_documents_markers_are_ignored() {
    let doc =
        yaml("# leading\n%YAML 1.2\n---\na: 1 # trailing\n# between\nb: [1, # inside\n  2]\n...\n");
    assert_eq!(doc.value, json!({ "a": 1, "b": [1, 2] }));
}

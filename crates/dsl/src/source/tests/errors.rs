//! One or more tests per `ParseErrorKind`, checking the kind, the position and the message.
//!
//! Limits that need big inputs (alias bombs, deep nesting) are in `limits`; this file keeps to
//! small, readable documents.

use super::{json_err, span, yaml_err};
use crate::source::{Format, Limits, ParseErrorKind, parse};

/// The kind, line and column of an error, for compact assertions.
fn where_(e: &crate::source::ParseError) -> (ParseErrorKind, Option<(u32, u32)>) {
    (e.kind, e.span.map(|s| (s.line, s.column)))
}

#[test]
fn empty_input_is_empty_in_both_formats() {
    for text in ["", "   ", "\n\n\t\r\n", "\u{feff}", "\u{feff}  \n"] {
        assert_eq!(
            where_(&json_err(text)),
            (ParseErrorKind::Empty, None),
            "{text:?}"
        );
        assert_eq!(
            where_(&yaml_err(text)),
            (ParseErrorKind::Empty, None),
            "{text:?}"
        );
    }
    for text in ["# only a comment", "  # indented\n\n# two\n"] {
        let e = yaml_err(text);
        assert_eq!(where_(&e), (ParseErrorKind::Empty, None), "{text:?}");
        assert!(e.message.contains("empty"), "{}", e.message);
    }
    // JSON has no comments, so this is a syntax error there.
    assert_eq!(json_err("# c").kind, ParseErrorKind::Syntax);
}

#[test]
fn size_is_checked_before_anything_else() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    // Invalid UTF-8 and bad syntax too, but the size is what is reported.
    let e = parse(b"\xff\xff{{{{{{{{{{{{", Format::Json, &limits).unwrap_err();
    assert_eq!(where_(&e), (ParseErrorKind::TooLarge, None));
    assert_eq!(
        e.message,
        "the document is 14 bytes, more than the limit of 10 bytes"
    );
    assert!(parse(b"[1,2,3,45]", Format::Json, &limits).is_ok());
}

#[test]
fn invalid_utf8_is_located() {
    let e = parse(b"a: 1\nb: \xC3\xA9\xFF\n", Format::Yaml, &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::NotUtf8);
    assert_eq!(e.span, Some(span(2, 5, 10)));
    assert!(e.message.contains("0xFF"), "{}", e.message);
    // After a byte-order mark, the column ignores the mark and the offset counts it.
    let e = parse(b"\xEF\xBB\xBFx\x80", Format::Json, &Limits::default()).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::NotUtf8);
    assert_eq!(e.span, Some(span(1, 2, 4)));
}

#[test]
fn json_syntax_errors_are_precise() {
    let cases: &[(&str, u32, u32, &str)] = &[
        (
            "{\"a\": 1 \"b\": 2}",
            1,
            9,
            "expected ',' or '}' after object member, found `\"`",
        ),
        (
            "[1 2]",
            1,
            4,
            "expected ',' or ']' after array element, found `2`",
        ),
        ("{\"a\": \"abc", 1, 7, "unterminated string"),
        (
            "[\"a\tb\"]",
            1,
            4,
            "control character U+0009 inside a string (escape it)",
        ),
        ("[\"a\nb\"]", 1, 4, "a line break inside a string"),
        ("[\"\\x\"]", 1, 3, "invalid escape `\\x`"),
        ("[\"\\u12g4\"]", 1, 3, "expected four hex digits after \\u"),
        ("[\"\\ud800\"]", 1, 3, "invalid surrogate pair"),
        ("[\"\\ud800\\u0041\"]", 1, 3, "invalid surrogate pair"),
        (
            "[\"ok\", \"\\udc00\"]",
            1,
            9,
            "low surrogate without a high surrogate",
        ),
        (
            "{} x",
            1,
            4,
            "unexpected `x` after the end of the JSON document",
        ),
        ("[1]\n]", 2, 1, "unexpected `]` after the end"),
        ("[01]", 1, 2, "numbers cannot have leading zeros"),
        ("[-01]", 1, 2, "numbers cannot have leading zeros"),
        ("[-]", 1, 3, "expected a digit after '-'"),
        ("[1.]", 1, 4, "expected a digit after the decimal point"),
        ("[1e+]", 1, 5, "expected a digit in the exponent"),
        ("[.5]", 1, 2, "expected a JSON value, found `.`"),
        ("[1,]", 1, 4, "trailing commas"),
        ("{\"a\": 1,\n}", 2, 1, "trailing commas"),
        (
            "{\"a\" 1}",
            1,
            6,
            "expected ':' after object key, found `1`",
        ),
        (
            "{a: 1}",
            1,
            2,
            "expected an object key in double quotes, found `a`",
        ),
        ("['a']", 1, 2, "expected a JSON value, found `'`"),
        ("[tru]", 1, 2, "expected a JSON value, found `tru`"),
        ("[NaN]", 1, 2, "expected a JSON value, found `NaN`"),
        ("[1, // c\n 2]", 1, 5, "expected a JSON value, found `/`"),
        (
            "[1,\n  2",
            2,
            4,
            "expected ',' or ']' after array element, found the end of the input",
        ),
        (
            "{\"a\":",
            1,
            6,
            "expected a JSON value, found the end of the input",
        ),
        (
            "[\"é\" x]",
            1,
            6,
            "expected ',' or ']' after array element, found `x`",
        ),
        ("[\u{7f}]", 1, 2, "expected a JSON value, found U+007F"),
    ];
    for (text, line, column, message) in cases {
        let e = json_err(text);
        assert_eq!(e.kind, ParseErrorKind::Syntax, "{text:?}: {}", e.message);
        assert_eq!(
            e.span.map(|s| (s.line, s.column)),
            Some((*line, *column)),
            "{text:?}: {}",
            e.message
        );
        assert!(
            e.message.contains(message),
            "{text:?}: {:?} lacks {message:?}",
            e.message
        );
    }
}

#[test]
fn yaml_syntax_errors_carry_the_scanner_position() {
    let e = yaml_err("a: [1, 2\nb: 3\n");
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    assert!(e.span.is_some_and(|s| s.line >= 2), "{e:?}");
    let e = yaml_err("a: 1\n b: 2\n");
    assert_eq!(where_(&e).0, ParseErrorKind::Syntax);
    assert_eq!(e.span.map(|s| s.line), Some(2), "{e:?}");
    let e = yaml_err("a: \"unterminated\n");
    assert_eq!(e.kind, ParseErrorKind::Syntax);
    let e = yaml_err("a: *nowhere\n");
    assert_eq!(where_(&e), (ParseErrorKind::Syntax, Some((1, 4))));
    assert!(e.message.contains("unknown anchor"), "{}", e.message);
    let e = yaml_err("a: !custom 1\n");
    assert_eq!(where_(&e), (ParseErrorKind::Syntax, Some((1, 4))));
    assert!(
        e.message.contains("unsupported tag !custom"),
        "{}",
        e.message
    );
    let e = yaml_err("a: !!binary aGk=\n");
    assert!(
        e.message.contains("unsupported tag !!binary"),
        "{}",
        e.message
    );
    let e = yaml_err("a: !!map [1]\n");
    assert_eq!(where_(&e), (ParseErrorKind::Syntax, Some((1, 4))));
    let e = yaml_err("a: !!bool maybe\n");
    assert_eq!(where_(&e), (ParseErrorKind::Syntax, Some((1, 4))));
    assert!(e.message.contains("not a valid !!bool"), "{}", e.message);
    let e = yaml_err("a: &x [1, *x]\n");
    assert_eq!(where_(&e), (ParseErrorKind::Syntax, Some((1, 11))));
    assert!(e.message.contains("recursive alias"), "{}", e.message);
}

#[test]
fn too_deep_is_reported_at_the_collection_that_crosses_the_limit() {
    let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(parse(ok.as_bytes(), Format::Json, &Limits::default()).is_ok());
    assert!(parse(ok.as_bytes(), Format::Yaml, &Limits::default()).is_ok());
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    for e in [json_err(&deep), yaml_err(&deep)] {
        assert_eq!(where_(&e), (ParseErrorKind::TooDeep, Some((1, 129))));
        assert_eq!(
            e.message,
            "the document nests deeper than the limit of 128 levels"
        );
    }
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(129), "}".repeat(129));
    let e = json_err(&deep_objects);
    assert_eq!(
        where_(&e),
        (ParseErrorKind::TooDeep, Some((1, 1 + 128 * 5)))
    );
    // Block nesting in YAML counts the same way.
    let mut block = String::new();
    for level in 0..129 {
        block.push_str(&" ".repeat(level));
        block.push_str("k:\n");
    }
    block.push_str(&" ".repeat(129));
    block.push_str("v\n");
    let e = yaml_err(&block);
    assert_eq!(where_(&e), (ParseErrorKind::TooDeep, Some((129, 129))));
}

#[test]
fn too_many_nodes_counts_every_value() {
    let limits = Limits {
        max_nodes: 5,
        ..Limits::default()
    };
    // The array and four numbers make five values; a fifth number makes six.
    assert!(parse(b"[1, 2, 3, 4]", Format::Json, &limits).is_ok());
    let e = parse(b"[1, 2, 3, 4, 5]", Format::Json, &limits).unwrap_err();
    assert_eq!(where_(&e), (ParseErrorKind::TooManyNodes, Some((1, 14))));
    assert_eq!(
        e.message,
        "the document has more than 5 values (aliases expanded)"
    );
    // Keys are not values: an object with four members is five values.
    assert!(parse(b"{a: 1, b: 2, c: 3, d: 4}", Format::Yaml, &limits).is_ok());
    let e = parse(b"a: &x [1, 2]\nb: *x\n", Format::Yaml, &limits).unwrap_err();
    assert_eq!(where_(&e), (ParseErrorKind::TooManyNodes, Some((2, 4))));
    assert!(
        e.message.contains("alias *x expands to 3 values"),
        "{}",
        e.message
    );
}

#[test]
fn duplicate_keys_point_at_the_second_key() {
    let e = json_err("{\n  \"url\": 1,\n  \"url\": 2\n}");
    assert_eq!(where_(&e), (ParseErrorKind::DuplicateKey, Some((3, 3))));
    assert_eq!(
        e.message,
        "duplicate key `url` (first defined at line 2, column 3)"
    );
    let e = yaml_err("config:\n  url: a\n  method: GET\n  url: b\n");
    assert_eq!(where_(&e), (ParseErrorKind::DuplicateKey, Some((4, 3))));
    assert_eq!(
        e.message,
        "duplicate key `url` (first defined at line 2, column 3)"
    );
    // Keys are compared after resolution: `1` and `01` are the same integer key.
    let e = yaml_err("{1: a, 01: b}");
    assert_eq!(where_(&e), (ParseErrorKind::DuplicateKey, Some((1, 8))));
    let e = yaml_err("{'a': 1, \"a\": 2}");
    assert_eq!(where_(&e), (ParseErrorKind::DuplicateKey, Some((1, 10))));
}

#[test]
fn unsupported_keys_are_refused() {
    let cases: &[(&str, u32, u32)] = &[
        ("null: 1\n", 1, 1),
        ("a: 1\n~: 2\n", 2, 1),
        ("{a: 1, ? [x]: 2}", 1, 10),
        ("? {a: 1}\n: 2\n", 1, 3),
        ("? - x\n: 2\n", 1, 3),
        ("a:\n  : 1\n", 2, 3),
    ];
    for (text, line, column) in cases {
        let e = yaml_err(text);
        assert_eq!(e.kind, ParseErrorKind::UnsupportedKey, "{text:?}: {e:?}");
        assert_eq!(
            e.span.map(|s| (s.line, s.column)),
            Some((*line, *column)),
            "{text:?}: {e:?}"
        );
    }
    assert!(yaml_err("null: 1").message.contains("cannot be null"));
    assert!(
        yaml_err("? [x]\n: 1")
            .message
            .contains("must be a scalar, not a sequence")
    );
}

#[test]
fn a_second_document_is_refused() {
    let e = yaml_err("a: 1\n---\nb: 2\n");
    assert_eq!(
        where_(&e),
        (ParseErrorKind::MultipleDocuments, Some((2, 1)))
    );
    assert!(e.message.contains("exactly one document"), "{}", e.message);
    let e = yaml_err("--- 1\n...\n--- 2\n");
    assert_eq!(
        where_(&e),
        (ParseErrorKind::MultipleDocuments, Some((3, 1)))
    );
    // One document with explicit markers is fine.
    assert!(crate::source::parse(b"---\na: 1\n...\n", Format::Yaml, &Limits::default()).is_ok());
}

#[test]
fn numbers_json_cannot_hold_are_refused() {
    let e = json_err("{\"a\": [1e400]}");
    assert_eq!(where_(&e), (ParseErrorKind::InvalidNumber, Some((1, 8))));
    assert_eq!(e.message, "the number 1e400 is out of range");
    for (text, column) in [
        ("a: .inf", 4),
        ("a: -.Inf", 4),
        ("a: .NaN", 4),
        ("a: 1e999", 4),
        ("a: !!float .nan", 4),
    ] {
        let e = yaml_err(text);
        assert_eq!(
            where_(&e),
            (ParseErrorKind::InvalidNumber, Some((1, column))),
            "{text}"
        );
    }
    assert!(yaml_err("a: .inf").message.contains("not a finite number"));
    let e = yaml_err("a:\n  b: !!int twelve\n");
    assert_eq!(where_(&e), (ParseErrorKind::InvalidNumber, Some((2, 6))));
    assert_eq!(e.message, "`twelve` is not a valid !!int value");
}

#[test]
fn errors_display_their_message() {
    let e = json_err("[1,]");
    assert_eq!(e.to_string(), e.message);
}

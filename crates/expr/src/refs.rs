//! Which variable paths an expression reads, found from its tokens.
//!
//! The flow compiler needs `steps.price.output.body.price` as `root = "steps"`, `segments =
//! ["price", "output", "body", "price"]` to check that `price` is upstream, and it wants the byte
//! offset to point at the problem. minijinja only exposes dotted names without subscripts or
//! offsets, so paths are read from the token stream here: a path starts at an identifier in
//! variable position and follows `.name`, `.0` and constant subscripts (`['a-b']`, `[0]`,
//! `[-1]`), stopping at the first non-constant subscript or at a method call. The result is
//! cross-checked against minijinja's own list of undeclared names by the caller. This module
//! deliberately does not decide which roots are allowed.

use std::fmt;
use std::ops::Range;

use crate::lexer::{TokKind, Token, string_value};

/// One variable path read by an expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct VarPath {
    /// The top-level variable, e.g. `steps`.
    pub root: String,
    /// Attribute names and constant subscripts after the root, in order.
    pub segments: Vec<String>,
    /// Byte range of the path in the field (from the root to the last segment).
    pub span: Range<usize>,
}

impl VarPath {
    /// Byte offset of the root in the field.
    pub fn offset(&self) -> usize {
        self.span.start
    }
}

impl fmt::Display for VarPath {
    /// Writes the path the way it would be written in an expression: `steps.a.output[0]`,
    /// `steps['a-b'].output`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)?;
        for seg in &self.segments {
            write_segment(f, seg)?;
        }
        Ok(())
    }
}

/// Writes one segment as `.name`, `[0]` or `['text']`.
pub(crate) fn write_segment(out: &mut impl fmt::Write, seg: &str) -> fmt::Result {
    let is_ident = seg
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && seg.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    let is_index = !seg.is_empty()
        && seg
            .strip_prefix('-')
            .unwrap_or(seg)
            .chars()
            .all(|c| c.is_ascii_digit());
    if is_ident {
        write!(out, ".{seg}")
    } else if is_index {
        write!(out, "[{seg}]")
    } else {
        write!(out, "[{seg:?}]")
    }
}

/// Keywords of the expression language, which are never variables.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
];

/// A name used at a byte offset.
pub(crate) type Use = (String, usize);

/// Everything the compiler wants to know about an expression's names.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    /// Variable paths, in source order.
    pub paths: Vec<VarPath>,
    /// Filters applied with `|`.
    pub filters: Vec<Use>,
    /// Tests used after `is` / `is not`.
    pub tests: Vec<Use>,
    /// Method calls such as `x.items()`, which the environment does not support.
    pub methods: Vec<Use>,
    /// Top-level names that are called like functions, such as `range(3)`.
    pub calls: Vec<Use>,
}

/// Reads the names of an expression from its tokens.
pub(crate) fn analyze(tokens: &[Token<'_>]) -> Analysis {
    let mut out = Analysis::default();
    let at = |i: usize| tokens.get(i);
    for (i, tok) in tokens.iter().enumerate() {
        if tok.kind != TokKind::Ident {
            continue;
        }
        let prev = i.checked_sub(1).and_then(at);
        let prev2 = i.checked_sub(2).and_then(at);
        if prev.is_some_and(|p| p.is_punct(".")) {
            // An attribute: either part of a path found earlier or of a value that is not a
            // variable (`(x).y`), so it is not a root.
            continue;
        }
        if prev.is_some_and(|p| p.is_punct("|")) {
            out.filters.push((tok.text.to_owned(), tok.start));
            continue;
        }
        let after_is = prev.is_some_and(|p| p.is_ident("is"))
            || (prev.is_some_and(|p| p.is_ident("not")) && prev2.is_some_and(|p| p.is_ident("is")));
        if after_is && !tok.is_ident("not") {
            out.tests.push((tok.text.to_owned(), tok.start));
            continue;
        }
        if KEYWORDS.contains(&tok.text) {
            continue;
        }
        if at(i + 1).is_some_and(|n| n.is_punct("=")) {
            // A keyword argument name, as in `round(precision=2)`.
            continue;
        }
        if at(i + 1).is_some_and(|n| n.is_punct("(")) {
            out.calls.push((tok.text.to_owned(), tok.start));
            continue;
        }
        let (path, method) = follow_path(tokens, i);
        if let Some(method) = method {
            out.methods.push(method);
        }
        out.paths.push(path);
    }
    out
}

/// Follows attribute and constant-subscript accesses from the root at `tokens[i]`.
fn follow_path(tokens: &[Token<'_>], i: usize) -> (VarPath, Option<Use>) {
    let root = &tokens[i];
    let mut path = VarPath {
        root: root.text.to_owned(),
        segments: Vec::new(),
        span: root.start..root.end,
    };
    let at = |j: usize| tokens.get(j);
    let mut j = i + 1;
    while let Some(next) = at(j) {
        if next.is_punct(".") {
            let Some(name) = at(j + 1).filter(|t| matches!(t.kind, TokKind::Ident | TokKind::Int))
            else {
                break;
            };
            if at(j + 2).is_some_and(|t| t.is_punct("(")) {
                return (path, Some((name.text.to_owned(), name.start)));
            }
            path.segments.push(name.text.to_owned());
            path.span.end = name.end;
            j += 2;
        } else if next.is_punct("[") {
            let Some((segment, close)) = constant_subscript(tokens, j + 1) else {
                break;
            };
            path.segments.push(segment);
            path.span.end = tokens[close].end;
            j = close + 1;
        } else {
            break;
        }
    }
    (path, None)
}

/// Reads `'text']`, `"text"]`, `12]` or `-1]` starting at `tokens[j]`; returns the segment and
/// the index of the closing bracket.
fn constant_subscript(tokens: &[Token<'_>], j: usize) -> Option<(String, usize)> {
    let first = tokens.get(j)?;
    let (segment, close) = match first.kind {
        TokKind::Str => (string_value(first.text)?, j + 1),
        TokKind::Int => (first.text.replace('_', ""), j + 1),
        TokKind::Punct if first.text == "-" => {
            let int = tokens.get(j + 1).filter(|t| t.kind == TokKind::Int)?;
            (format!("-{}", int.text.replace('_', "")), j + 2)
        }
        _ => return None,
    };
    tokens.get(close).filter(|t| t.is_punct("]"))?;
    Some((segment, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::Lexer;

    fn tokens(src: &str) -> Vec<Token<'_>> {
        let mut lexer = Lexer::new(src, 0);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token().unwrap() {
            out.push(t);
        }
        out
    }

    fn paths(src: &str) -> Vec<String> {
        analyze(&tokens(src))
            .paths
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn follows_attributes_and_constant_subscripts() {
        assert_eq!(
            paths("steps.price.output.body.price < inputs.threshold"),
            ["steps.price.output.body.price", "inputs.threshold"]
        );
        assert_eq!(
            paths("steps['a-b'].output[0][-1].x"),
            ["steps[\"a-b\"].output[0][-1].x"]
        );
        assert_eq!(paths("steps[inputs.id].output"), ["steps", "inputs.id"]);
        assert_eq!(paths("item.0.name"), ["item[0].name"]);
    }

    #[test]
    fn skips_filters_tests_keywords_and_kwargs() {
        let a = analyze(&tokens(
            "steps.x.output | default(vars.d) if item is not defined and index is divisibleby(2) \
             else run.id | round(precision=2) is sameas none",
        ));
        let names: Vec<String> = a.paths.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["steps.x.output", "vars.d", "item", "index", "run.id"]
        );
        let filters: Vec<&str> = a.filters.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(filters, ["default", "round"]);
        let tests: Vec<&str> = a.tests.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(tests, ["defined", "divisibleby", "sameas"]);
    }

    #[test]
    fn finds_paths_in_literals_and_calls() {
        assert_eq!(
            paths("{'a': steps.a.output, 'b': [inputs.x, range(vars.n)]}"),
            ["steps.a.output", "inputs.x", "vars.n"]
        );
        let a = analyze(&tokens("range(3) ~ steps.a.output.items()"));
        assert_eq!(a.calls, [("range".to_owned(), 0)]);
        assert_eq!(a.methods, [("items".to_owned(), 26)]);
        assert_eq!(a.paths[0].to_string(), "steps.a.output");
    }

    #[test]
    fn reports_spans() {
        let a = analyze(&tokens("1 + steps['x'].output"));
        assert_eq!(a.paths[0].span, 4..21);
        assert_eq!(a.paths[0].offset(), 4);
    }
}

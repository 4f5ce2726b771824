//! Compiling string fields with `{{ expression }}` into [`Template`]s.
//!
//! A field without `{{` is a literal. A field that is exactly one `{{ ... }}` (surrounding
//! whitespace allowed) is an expression with a typed result; anything else is interpolated
//! text. Splitting is done with the crate's own tokenizer so that `}}` inside a string literal
//! or a dict literal (`{{ {'a': {'b': 1}} }}`) does not end the expression. Each expression is
//! then compiled by minijinja, its names are checked (unknown variables, filters and tests are
//! compile errors, not run-time surprises), and its variable paths are recorded for the flow
//! compiler. This module deliberately does not evaluate: see `eval.rs`.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use minijinja::Environment;

use crate::env::{FILTERS, FUNCTIONS, TESTS};
use crate::error::CompileError;
use crate::lexer::{Lexer, Token};
use crate::objects::ROOT_NAMES;
use crate::refs::{Analysis, VarPath, analyze};
use crate::stack::{COMPILE_STACK, run_with_stack};

/// The longest expression (the text between `{{` and `}}`) that is accepted.
pub const MAX_EXPRESSION_BYTES: usize = 16 * 1024;

/// Expressions up to this length are compiled on the caller's thread: they cannot nest deeper
/// than this many levels, which fits any reasonable stack.
const INLINE_COMPILE_BYTES: usize = 256;

/// A compiled string field.
#[derive(Debug, Clone)]
pub enum Template {
    /// A field without `{{`: its value is the string itself.
    Literal(String),
    /// A field that is exactly one `{{ ... }}`: its value is the expression's typed result.
    Expression(ExpressionTemplate),
    /// Text mixed with expressions: its value is a string.
    Interpolated(InterpolatedTemplate),
}

/// A field holding exactly one expression.
#[derive(Debug, Clone)]
pub struct ExpressionTemplate {
    pub(crate) field: Arc<str>,
    pub(crate) expr: Arc<CompiledExpr>,
}

impl ExpressionTemplate {
    /// The expression text between the braces, as written.
    pub fn expression(&self) -> &str {
        &self.expr.source
    }

    /// Byte range of the expression text in the field.
    pub fn span(&self) -> Range<usize> {
        self.expr.span.clone()
    }
}

/// A field mixing text and expressions.
#[derive(Debug, Clone)]
pub struct InterpolatedTemplate {
    pub(crate) field: Arc<str>,
    pub(crate) parts: Arc<[Part]>,
}

/// A piece of an interpolated field.
#[derive(Debug)]
pub(crate) enum Part {
    Text(String),
    Expr(Arc<CompiledExpr>),
}

/// One compiled expression and what is known about it.
pub(crate) struct CompiledExpr {
    /// Byte range of the expression text (without the braces) in the field.
    pub span: Range<usize>,
    /// The expression text.
    pub source: String,
    /// The compiled form, tied to the environment it was compiled with.
    pub compiled: minijinja::Expression<'static, 'static>,
    /// The environment of `compiled`, to detect use with another engine.
    pub env: &'static Environment<'static>,
    /// Variable paths read by the expression, in source order.
    pub paths: Vec<VarPath>,
    /// The direct evaluator of the expression's shape, when it is a simple one.
    pub fast: Option<crate::fast::Fast>,
}

impl fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledExpr")
            .field("span", &self.span)
            .field("source", &self.source)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// True for a field without expressions.
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// The field exactly as it was compiled.
    pub fn source(&self) -> &str {
        match self {
            Self::Literal(s) => s,
            Self::Expression(e) => &e.field,
            Self::Interpolated(i) => &i.field,
        }
    }

    /// Every variable path the field reads, in source order (duplicates included, each with
    /// its own span).
    pub fn references(&self) -> Vec<VarPath> {
        match self {
            Self::Literal(_) => Vec::new(),
            Self::Expression(e) => e.expr.paths.clone(),
            Self::Interpolated(i) => i
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Expr(e) => Some(e.paths.iter().cloned()),
                    Part::Text(_) => None,
                })
                .flatten()
                .collect(),
        }
    }
}

impl PartialEq for Template {
    /// Two templates are equal when they were compiled from the same field.
    fn eq(&self, other: &Self) -> bool {
        self.is_literal() == other.is_literal()
            && matches!(self, Self::Expression(_)) == matches!(other, Self::Expression(_))
            && self.source() == other.source()
    }
}

impl Eq for Template {}

/// An expression found in a field: the text range between the braces, the offset of its
/// `{{`, and its tokens.
struct Found<'s> {
    open: usize,
    span: Range<usize>,
    tokens: Vec<Token<'s>>,
}

/// Compiles a field with `env`.
pub(crate) fn compile(
    env: &'static Environment<'static>,
    field: &str,
) -> Result<Template, CompileError> {
    if !field.contains("{{") {
        return Ok(Template::Literal(field.to_owned()));
    }
    let mut parts = Vec::new();
    let mut pos = 0;
    while let Some(rel) = field[pos..].find("{{") {
        let open = pos + rel;
        if open > pos {
            parts.push(Err(field[pos..open].to_owned()));
        }
        let found = find_expression(field, open)?;
        pos = found.span.end + 2;
        parts.push(Ok(found));
    }
    if pos < field.len() {
        parts.push(Err(field[pos..].to_owned()));
    }
    let single = parts.len() <= 3
        && parts.iter().filter(|p| p.is_ok()).count() == 1
        && parts
            .iter()
            .all(|p| p.as_ref().is_ok() || p.as_ref().is_err_and(|t| t.trim().is_empty()));
    let field_arc: Arc<str> = Arc::from(field);
    let mut compiled = Vec::with_capacity(parts.len());
    for part in parts {
        compiled.push(match part {
            Ok(found) => Part::Expr(Arc::new(compile_expression(env, field, found)?)),
            Err(text) => Part::Text(text),
        });
    }
    if single {
        let expr = compiled.into_iter().find_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        });
        if let Some(expr) = expr {
            return Ok(Template::Expression(ExpressionTemplate {
                field: field_arc,
                expr,
            }));
        }
        return Ok(Template::Literal(field.to_owned()));
    }
    Ok(Template::Interpolated(InterpolatedTemplate {
        field: field_arc,
        parts: compiled.into(),
    }))
}

/// Finds the `}}` closing the `{{` at `open`, skipping string literals and braces.
fn find_expression(field: &str, open: usize) -> Result<Found<'_>, CompileError> {
    let start = open + 2;
    let mut lexer = Lexer::new(field, start);
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    loop {
        let token = lexer.next_token().map_err(|e| CompileError::Syntax {
            offset: e.offset,
            message: "string literal is not closed".into(),
        })?;
        let Some(token) = token else {
            return Err(CompileError::Syntax {
                offset: open,
                message: "`{{` is not closed by `}}`".into(),
            });
        };
        if depth == 0 && token.is_punct("}") && field[token.end..].starts_with('}') {
            let span = start..token.start;
            if field[span.clone()].trim().is_empty() {
                return Err(CompileError::Syntax {
                    offset: open,
                    message: "empty expression `{{ }}`".into(),
                });
            }
            if span.len() > MAX_EXPRESSION_BYTES {
                return Err(CompileError::Syntax {
                    offset: open,
                    message: format!(
                        "expression is longer than {MAX_EXPRESSION_BYTES} bytes; \
                         use a core.transform step for large computations"
                    ),
                });
            }
            return Ok(Found { open, span, tokens });
        }
        match token.text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth = depth.saturating_sub(1),
            _ => {}
        }
        tokens.push(token);
        if lexer.pos() - start > MAX_EXPRESSION_BYTES + 2 {
            return Err(CompileError::Syntax {
                offset: open,
                message: format!("expression is longer than {MAX_EXPRESSION_BYTES} bytes"),
            });
        }
    }
}

/// Compiles one expression and checks its names.
fn compile_expression(
    env: &'static Environment<'static>,
    field: &str,
    found: Found<'_>,
) -> Result<CompiledExpr, CompileError> {
    let source = field[found.span.clone()].to_owned();
    let base = found.span.start;
    let (compiled, undeclared) =
        parse(env, source.clone()).map_err(|(offset, message)| CompileError::Syntax {
            offset: offset.map_or(found.open, |o| base + o),
            message,
        })?;
    let analysis = analyze(&found.tokens);
    let paths = check_names(analysis, &undeclared, &found.tokens, base)?;
    let fast = crate::fast::Fast::recognise(&source);
    Ok(CompiledExpr {
        span: found.span,
        source,
        compiled,
        env,
        paths,
        fast,
    })
}

type Parsed = (minijinja::Expression<'static, 'static>, HashSet<String>);

/// Runs minijinja's parser and code generator, on a large stack when the text is long.
/// Errors carry the offset within the expression, when minijinja knows it, and a message.
pub(crate) fn parse(
    env: &'static Environment<'static>,
    source: String,
) -> Result<Parsed, (Option<usize>, String)> {
    let inline = source.len() <= INLINE_COMPILE_BYTES;
    let work = move || match env.compile_expression_owned(source) {
        Ok(expr) => {
            let undeclared = expr.undeclared_variables(false);
            Ok((expr, undeclared))
        }
        Err(e) => Err((e.range().map(|r| r.start), describe(&e))),
    };
    if inline {
        return work();
    }
    run_with_stack("aion-expr-compile", COMPILE_STACK, work).map_err(|e| (None, e))?
}

/// minijinja's message without the location suffix, which is reported as an offset instead.
pub(crate) fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Checks filters, tests, methods and roots; returns the variable paths.
fn check_names(
    analysis: Analysis,
    undeclared: &HashSet<String>,
    tokens: &[Token<'_>],
    base: usize,
) -> Result<Vec<VarPath>, CompileError> {
    if let Some((name, offset)) = analysis.methods.first() {
        return Err(CompileError::Syntax {
            offset: *offset,
            message: format!(
                "method calls such as `.{name}()` are not supported; use a filter, \
                 e.g. `| {name}`"
            ),
        });
    }
    if let Some((name, offset)) = analysis.filters.iter().find(|f| !FILTERS.contains(&&*f.0)) {
        return Err(CompileError::UnknownFilter {
            name: name.clone(),
            offset: *offset,
        });
    }
    if let Some((name, offset)) = analysis.tests.iter().find(|t| !TESTS.contains(&&*t.0)) {
        return Err(CompileError::UnknownTest {
            name: name.clone(),
            offset: *offset,
        });
    }
    // The token-based paths are the primary source (they have segments and offsets);
    // minijinja's own set of undeclared names backs them up, so that a name the tokenizer
    // misread can never slip past the unknown-variable check. (minijinja's set alone is not
    // enough: it misses the subject of a slice such as `item[1:3]`.)
    let mut paths: Vec<VarPath> = analysis
        .paths
        .into_iter()
        .filter(|p| !FUNCTIONS.contains(&p.root.as_str()))
        .collect();
    let mut missing: Vec<&str> = undeclared
        .iter()
        .map(String::as_str)
        .filter(|n| !FUNCTIONS.contains(n))
        .filter(|r| !paths.iter().any(|p| p.root == *r))
        .collect();
    missing.sort_unstable();
    for root in missing {
        let at = tokens.iter().find(|t| t.is_ident(root));
        let span = at.map_or(base..base, |t| t.start..t.end);
        paths.push(VarPath {
            root: root.to_owned(),
            segments: Vec::new(),
            span,
        });
    }
    paths.sort_by_key(|p| p.span.start);
    if let Some(p) = paths
        .iter()
        .find(|p| !ROOT_NAMES.contains(&p.root.as_str()))
    {
        return Err(CompileError::UnknownVariable {
            name: p.root.clone(),
            offset: p.span.start,
        });
    }
    Ok(paths)
}

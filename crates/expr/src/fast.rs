//! A direct evaluator for the commonest expression shapes, which skips minijinja's setup for
//! each evaluation (its state, frame and value conversions cost several thousand instructions,
//! more than the lookup itself).
//!
//! Recognised, with optional spaces around tokens:
//! - a variable path: a root (`inputs`, `steps`, `trigger`, `vars`, `run`, `item`, `index`)
//!   followed by `.name`, `[0]` or `["key"]` segments;
//! - a path and an integer literal joined by `+`, `-`, `*`, `<`, `<=`, `>`, `>=`, `==` or `!=`
//!   (either side first).
//!
//! The fast path only answers when its answer is certain to be minijinja's: every segment is
//! found, a path result is a scalar within the string limit, arithmetic and comparisons are on
//! integers that fit `i64` (no overflow). Anything else returns `None` and the expression goes
//! through minijinja as before, which also produces every error message. A differential test
//! (`tests` below) holds the two evaluators to the same answers.

use serde_json::Value as Json;

use crate::scope::ScopeData;

/// The shape of a recognised expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fast {
    /// A variable path.
    Path(Path),
    /// `path op literal` (or `literal op path` when `flipped`).
    Binary {
        path: Path,
        op: Op,
        literal: i64,
        flipped: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    root: Root,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    Inputs,
    Steps,
    Trigger,
    Vars,
    Run,
    Item,
    Index,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Fast {
    /// Recognises `source`, or `None` when it is not one of the shapes.
    pub(crate) fn recognise(source: &str) -> Option<Fast> {
        let mut p = Parser {
            s: source.as_bytes(),
            i: 0,
        };
        p.skip_spaces();
        let fast = if p.peek().is_some_and(|c| c.is_ascii_digit() || c == b'-') {
            let literal = p.integer()?;
            p.skip_spaces();
            let op = p.op()?;
            p.skip_spaces();
            let path = p.path()?;
            Fast::Binary {
                path,
                op,
                literal,
                flipped: true,
            }
        } else {
            let path = p.path()?;
            p.skip_spaces();
            if p.at_end() {
                Fast::Path(path)
            } else {
                let op = p.op()?;
                p.skip_spaces();
                let literal = p.integer()?;
                Fast::Binary {
                    path,
                    op,
                    literal,
                    flipped: false,
                }
            }
        };
        p.skip_spaces();
        p.at_end().then_some(fast)
    }

    /// The value, when the fast path is certain of it.
    pub(crate) fn eval(&self, scope: &ScopeData, max_string: usize) -> Option<Json> {
        match self {
            Fast::Path(path) => match path.lookup(scope)? {
                Found::Json(value) => scalar(value, max_string).cloned(),
                Found::Index(index) => Some(Json::from(index)),
                Found::Status(status) => Some(Json::from(status)),
            },
            Fast::Binary {
                path,
                op,
                literal,
                flipped,
            } => {
                let value = match path.lookup(scope)? {
                    Found::Json(value) => value.as_i64()?,
                    Found::Index(index) => i64::try_from(index).ok()?,
                    Found::Status(_) => return None,
                };
                let (a, b) = if *flipped {
                    (*literal, value)
                } else {
                    (value, *literal)
                };
                Some(match op {
                    Op::Add => Json::from(a.checked_add(b)?),
                    Op::Sub => Json::from(a.checked_sub(b)?),
                    Op::Mul => Json::from(a.checked_mul(b)?),
                    Op::Lt => Json::Bool(a < b),
                    Op::Le => Json::Bool(a <= b),
                    Op::Gt => Json::Bool(a > b),
                    Op::Ge => Json::Bool(a >= b),
                    Op::Eq => Json::Bool(a == b),
                    Op::Ne => Json::Bool(a != b),
                })
            }
        }
    }
}

/// A scalar minijinja would hand back unchanged.
fn scalar(value: &Json, max_string: usize) -> Option<&Json> {
    match value {
        Json::Null | Json::Bool(_) => Some(value),
        Json::Number(n) if n.is_i64() || n.is_u64() => Some(value),
        Json::String(s) if s.len() <= max_string => Some(value),
        _ => None,
    }
}

enum Found<'a> {
    Json(&'a Json),
    Index(u64),
    Status(&'static str),
}

impl Path {
    fn lookup<'a>(&self, scope: &'a ScopeData) -> Option<Found<'a>> {
        let mut segments = self.segments.iter();
        let mut value: &Json = match self.root {
            Root::Inputs => scope.inputs.as_deref()?,
            Root::Trigger => scope.trigger.as_deref()?,
            Root::Vars => scope.vars.as_deref()?,
            Root::Run => scope.run.as_deref()?,
            Root::Item => scope.item.as_deref()?,
            Root::Index => {
                return match segments.next() {
                    None => scope.index.map(Found::Index),
                    Some(_) => None,
                };
            }
            Root::Steps => {
                let Some(Segment::Key(id)) = segments.next() else {
                    return None;
                };
                let step = scope.steps.get(id)?;
                match segments.next()? {
                    Segment::Key(field) if field == "output" => step.output.as_deref()?,
                    Segment::Key(field) if field == "error" => step.error.as_deref()?,
                    Segment::Key(field) if field == "status" => {
                        return match segments.next() {
                            None => Some(Found::Status(step.status.as_str())),
                            Some(_) => None,
                        };
                    }
                    _ => return None,
                }
            }
        };
        for segment in segments {
            value = match (segment, value) {
                (Segment::Key(key), Json::Object(map)) => map.get(key)?,
                (Segment::Index(index), Json::Array(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(Found::Json(value))
    }
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|c| c == b' ') {
            self.i += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(self.s.get(start..self.i)?).ok()?;
        let first = text.bytes().next()?;
        (first.is_ascii_alphabetic() || first == b'_').then(|| text.to_owned())
    }

    fn path(&mut self) -> Option<Path> {
        let root = match self.ident()?.as_str() {
            "inputs" => Root::Inputs,
            "steps" => Root::Steps,
            "trigger" => Root::Trigger,
            "vars" => Root::Vars,
            "run" => Root::Run,
            "item" => Root::Item,
            "index" => Root::Index,
            _ => return None,
        };
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    segments.push(Segment::Key(self.ident()?));
                }
                Some(b'[') => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' => segments.push(Segment::Key(self.string()?)),
                        c if c.is_ascii_digit() => {
                            let index = self.integer()?;
                            segments.push(Segment::Index(usize::try_from(index).ok()?));
                        }
                        _ => return None,
                    }
                    if self.peek()? != b']' {
                        return None;
                    }
                    self.i += 1;
                }
                _ => return Some(Path { root, segments }),
            }
        }
    }

    /// A double-quoted string without escapes (anything fancier goes to minijinja).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let start = self.i;
        while self.peek()? != b'"' {
            if self.peek()? == b'\\' {
                return None;
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(self.s.get(start..self.i)?)
            .ok()?
            .to_owned();
        self.i += 1;
        Some(text)
    }

    /// A decimal integer, optionally negative, without leading zeros, that fits `i64`.
    fn integer(&mut self) -> Option<i64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let text = std::str::from_utf8(self.s.get(start..self.i)?).ok()?;
        let digit_count = self.i - digits;
        if digit_count == 0 || (digit_count > 1 && self.s.get(digits) == Some(&b'0')) {
            return None;
        }
        // `1.5`, `1e3`, `1_000` and names like `1a` are not integers here.
        if self
            .peek()
            .is_some_and(|c| c == b'.' || c == b'_' || c.is_ascii_alphabetic())
        {
            return None;
        }
        text.parse().ok()
    }

    fn op(&mut self) -> Option<Op> {
        let two = self.s.get(self.i..self.i + 2);
        let (op, len) = match two {
            Some(b"<=") => (Op::Le, 2),
            Some(b">=") => (Op::Ge, 2),
            Some(b"==") => (Op::Eq, 2),
            Some(b"!=") => (Op::Ne, 2),
            _ => match self.peek()? {
                b'+' => (Op::Add, 1),
                b'-' => (Op::Sub, 1),
                b'*' => (Op::Mul, 1),
                b'<' => (Op::Lt, 1),
                b'>' => (Op::Gt, 1),
                _ => return None,
            },
        };
        self.i += len;
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Fast;
    use crate::{Engine, Scope, StepState};

    fn scope() -> Scope {
        Scope::new()
            .with_inputs(json!({
                "n": 41, "neg": -3, "big": i64::MAX, "f": 1.5, "s": "text", "b": true,
                "nul": null, "list": [10, 20, {"k": "v"}], "obj": {"a b": 1, "x": {"y": 2}},
                "u": u64::MAX
            }))
            .with_step(
                "a",
                StepState::succeeded(json!({ "price": 93, "tags": ["x"] })),
            )
            .with_step("bad", StepState::failed(json!({ "kind": "timeout" })))
            .with_step("skip", StepState::skipped())
            .with_item(json!(7), 3)
    }

    /// Every expression is evaluated both ways: when the fast path answers, minijinja must
    /// give the same value; `expect_fast` says whether the fast path should answer.
    #[test]
    fn the_fast_path_agrees_with_minijinja() {
        let engine = Engine::default();
        let scope = scope();
        let cases: &[(&str, bool)] = &[
            ("inputs.n", true),
            ("inputs.n + 1", true),
            ("inputs.n+1", true),
            ("1 + inputs.n", true),
            ("inputs.n - 50", true),
            ("50 - inputs.n", true),
            ("inputs.n * -2", true),
            ("inputs.neg * 3", true),
            ("inputs.n < 42", true),
            ("inputs.n <= 41", true),
            ("inputs.n > 41", true),
            ("inputs.n >= 41", true),
            ("inputs.n == 41", true),
            ("inputs.n != 41", true),
            ("100 > inputs.n", true),
            ("inputs.big + 1", false),
            ("inputs.big * 2", false),
            ("inputs.f + 1", false),
            ("inputs.f", false),
            ("inputs.s", true),
            ("inputs.b", true),
            ("inputs.nul", true),
            ("inputs.u", true),
            ("inputs.list[1]", true),
            ("inputs.list[2].k", true),
            ("inputs.list[2][\"k\"]", true),
            ("inputs.list[9]", false),
            ("inputs.list", false),
            ("inputs.obj[\"a b\"]", true),
            ("inputs.obj.x.y + 0", true),
            ("inputs.s + 1", false),
            ("inputs.missing", false),
            ("steps.a.output.price", true),
            ("steps.a.output.price < 100", true),
            ("steps.a.output.tags[0]", true),
            ("steps.a.status", true),
            ("steps.bad.error.kind", true),
            ("steps.bad.status", true),
            ("steps.skip.status", true),
            ("steps.skip.output", false),
            ("steps.a.nope", false),
            ("item + 1", true),
            ("item * item", false),
            ("index", true),
            ("index + 1", true),
            ("inputs.n + 1.5", false),
            ("inputs.n + 01", false),
            ("inputs.n | string", false),
            ("inputs.n + 1 + 1", false),
            ("(inputs.n)", false),
            ("inputs.list[-1]", false),
            ("inputs.n + inputs.n", false),
            ("inputs.n\t+ 1", false),
        ];
        for (source, expect_fast) in cases {
            let template = engine
                .compile(&format!("{{{{ {source} }}}}"))
                .unwrap_or_else(|e| panic!("{source}: {e}"));
            let slow = engine.eval_slow(&template, &scope);
            let fast = Fast::recognise(source).and_then(|f| f.eval(&scope.data, 1 << 20));
            assert_eq!(fast.is_some(), *expect_fast, "{source}: fast gave {fast:?}");
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), slow, "{source}");
            }
            // And the public evaluation, whichever path it takes, equals minijinja's.
            assert_eq!(engine.eval(&template, &scope), slow, "{source}");
        }
    }

    #[test]
    fn integer_edges_fall_back_instead_of_overflowing() {
        let engine = Engine::default();
        for n in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let scope = Scope::new().with_inputs(json!({ "n": n }));
            for op in ["+ 1", "- 1", "* 2", "* -1", "< 0", "== 0"] {
                let source = format!("{{{{ inputs.n {op} }}}}");
                let template = engine.compile(&source).unwrap();
                assert_eq!(
                    engine.eval(&template, &scope),
                    engine.eval_slow(&template, &scope),
                    "{n} {op}"
                );
            }
        }
    }
}

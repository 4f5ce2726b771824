//! Rewriting parsed jq programs so that the operations that can allocate without bound are
//! checked first.
//!
//! jaq evaluates `+`, `*`, string interpolation and array construction inside its own code,
//! where no hook can see the values. The parsed syntax tree is public, though, so before
//! compiling, the user's program and the standard library definitions are rewritten:
//!
//! * `l + r` becomes `__aion_add(l; r)` and `l * r` becomes `__aion_mul(l; r)`, natives that
//!   refuse strings and arrays over the limits before delegating to jaq's own operators (the
//!   argument order keeps jq's output order for generators: `l` outer, `r` inner);
//! * `l += r` and `l *= r` become `r as $x | l |= __aion_add(.; $x)` (jaq documents them as
//!   exactly that);
//! * each interpolated term `"\(f)"` becomes `"\(f | __aion_strcheck)"`, which refuses values
//!   whose text would exceed the string limit before jaq formats them;
//! * `[f]` becomes `[f | __aion_tick]`, so collecting a stream produced by a native iterator
//!   (such as `..`) costs a step per element and honours the deadline;
//! * calls of built-ins that copy or expand their input (`explode`, `sort`, `ascii_downcase`,
//!   ...) become `f | __aion_charge`, which charges each output's size to the step budget.
//!
//! This module deliberately does not change anything else: all other terms are rebuilt as they
//! were, so error positions (which are slices of the source) stay valid.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};

pub(crate) const ADD: &str = "__aion_add";
pub(crate) const MUL: &str = "__aion_mul";
pub(crate) const STRCHECK: &str = "__aion_strcheck";
pub(crate) const TICK: &str = "__aion_tick";
pub(crate) const CHARGE: &str = "__aion_charge";

/// Built-ins whose output can be much larger than the work of calling them (they copy or
/// expand their input); their outputs are charged to the step budget by size.
const ALLOCATING: &[&str] = &[
    "ascii_downcase",
    "ascii_upcase",
    "decode_base64",
    "decode_uri",
    "encode_base64",
    "encode_uri",
    "escape_html",
    "escape_sh",
    "explode",
    "fromjson",
    "group_by",
    "implode",
    "indices",
    "key_values",
    "keys_unsorted",
    "matches",
    "reverse",
    "sort",
    "sort_by",
    "split_",
    "split_matches",
    "tobytes",
    "unescape_html",
];
const UPDATE_VAR: &str = "$__aion_update";

type T<'s> = Term<&'s str>;

fn call<'s>(name: &'s str, args: Vec<T<'s>>) -> T<'s> {
    Term::Call(name, args)
}

fn pipe<'s>(l: T<'s>, r: T<'s>) -> T<'s> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

/// Rewrites a definition's body.
pub(crate) fn def(d: Def<&str>) -> Def<&str> {
    Def {
        name: d.name,
        args: d.args,
        body: term(d.body),
    }
}

/// Rewrites a term (recursively; this runs on a thread with a large stack).
pub(crate) fn term(t: T<'_>) -> T<'_> {
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_) => t,
        Term::Str(fmt, parts) => Term::Str(
            fmt,
            parts
                .into_iter()
                .map(|part| match part {
                    StrPart::Term(f) => StrPart::Term(pipe(term(f), call(STRCHECK, Vec::new()))),
                    other => other,
                })
                .collect(),
        ),
        Term::Arr(None) => Term::Arr(None),
        Term::Arr(Some(f)) => Term::Arr(Some(Box::new(pipe(term(*f), call(TICK, Vec::new()))))),
        Term::Obj(entries) => Term::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (term(k), v.map(term)))
                .collect(),
        ),
        Term::Neg(f) => Term::Neg(Box::new(term(*f))),
        Term::BinOp(l, op, r) => binop(term(*l), op, term(*r)),
        Term::Label(name, f) => Term::Label(name, Box::new(term(*f))),
        Term::Fold(kind, xs, pat, args) => Term::Fold(
            kind,
            Box::new(term(*xs)),
            pattern(pat),
            args.into_iter().map(term).collect(),
        ),
        Term::TryCatch(f, c) => Term::TryCatch(Box::new(term(*f)), c.map(|c| Box::new(term(*c)))),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(cond, then)| (term(cond), term(then)))
                .collect(),
            otherwise.map(|o| Box::new(term(*o))),
        ),
        Term::Def(defs, body) => {
            Term::Def(defs.into_iter().map(def).collect(), Box::new(term(*body)))
        }
        Term::Call(name, args) => {
            let call = Term::Call(name, args.into_iter().map(term).collect());
            if ALLOCATING.contains(&name) {
                pipe(call, Term::Call(CHARGE, Vec::new()))
            } else {
                call
            }
        }
        Term::Path(f, path) => Term::Path(
            Box::new(term(*f)),
            Path(
                path.0
                    .into_iter()
                    .map(|(part, opt)| (path_part(part), opt))
                    .collect(),
            ),
        ),
    }
}

fn path_part(part: Part<T<'_>>) -> Part<T<'_>> {
    match part {
        Part::Index(i) => Part::Index(term(i)),
        Part::Range(from, to) => Part::Range(from.map(term), to.map(term)),
    }
}

fn pattern(p: Pattern<&str>) -> Pattern<&str> {
    match p {
        Pattern::Var(v) => Pattern::Var(v),
        Pattern::Arr(items) => Pattern::Arr(items.into_iter().map(pattern).collect()),
        Pattern::Obj(entries) => Pattern::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (term(k), pattern(v)))
                .collect(),
        ),
    }
}

fn binop<'s>(l: T<'s>, op: BinaryOp<&'s str>, r: T<'s>) -> T<'s> {
    let checked = |op: &Math| match op {
        Math::Add => Some(ADD),
        Math::Mul => Some(MUL),
        _ => None,
    };
    match op {
        BinaryOp::Math(ref m) => match checked(m) {
            Some(name) => call(name, vec![l, r]),
            None => Term::BinOp(Box::new(l), op, Box::new(r)),
        },
        BinaryOp::UpdateMath(ref m) => match checked(m) {
            // `l op= r` is `r as $x | l |= . op $x`.
            Some(name) => Term::BinOp(
                Box::new(r),
                BinaryOp::Pipe(Some(Pattern::Var(UPDATE_VAR))),
                Box::new(Term::BinOp(
                    Box::new(l),
                    BinaryOp::Update,
                    Box::new(call(name, vec![Term::Id, Term::Var(UPDATE_VAR)])),
                )),
            ),
            None => Term::BinOp(Box::new(l), op, Box::new(r)),
        },
        BinaryOp::Pipe(Some(p)) => {
            Term::BinOp(Box::new(l), BinaryOp::Pipe(Some(pattern(p))), Box::new(r))
        }
        other => Term::BinOp(Box::new(l), other, Box::new(r)),
    }
}

//! The native filters available to jq programs.
//!
//! This is jaq's core, std and JSON natives with host access removed and a few replaced:
//!
//! * removed (so using them is a compile error): `env` (the process environment), `now`
//!   (wall-clock time makes runs non-deterministic; use `run.started_at`), `localtime` and
//!   `strflocaltime` (they read the host's time zone); `input`/`inputs` are never registered;
//! * replaced: `debug_empty` and `stderr_empty` (behind `debug`, `stderr`) log nothing,
//!   `range/3` counts a step per item so `[range(1e18)]` honours the deadline, `tojson` checks
//!   the text size first, `fromjson` parses with `serde_json` (nesting limited to 128 levels);
//! * added: the checked operators and markers that `rewrite.rs` inserts. They charge the data
//!   they let through to the step budget (one step per 16 bytes), so that the budget bounds
//!   memory as well as time.
//!
//! `halt` stays registered because the standard definitions refer to it; its exception is
//! turned into an error by the runner. This module deliberately does not decide limits: they
//! come from the run's guard.

use jaq_core::box_iter::{box_once, flat_map_then_with, map_with};
use jaq_core::native::{Filter, Fun, bome, run, v};
use jaq_core::{Bind, Cv, Error, Exn, RunPtr, ValX, ValXs};
use jaq_json::{Num, Val};

use super::guard::{BYTES_PER_STEP, Guard, Jq};
use super::rewrite::{ADD, CHARGE, MUL, STRCHECK, TICK};
use super::value::from_json;

/// Natives removed or replaced by this crate, by name and arity.
const DROPPED: &[(&str, usize)] = &[
    ("env", 0),
    ("now", 0),
    ("localtime", 0),
    ("strflocaltime", 1),
    ("range", 3),
    ("tojson", 0),
    ("fromjson", 0),
    ("debug_empty", 0),
    ("stderr_empty", 0),
];

/// Every native filter a program may call.
pub(crate) fn all() -> Vec<Fun<Jq>> {
    let upstream = jaq_core::funs::<Jq>()
        .chain(jaq_std::funs::<Jq>())
        .chain(jaq_json::funs::<Jq>())
        .filter(|(name, args, _)| !DROPPED.contains(&(*name, args.len())));
    upstream
        .chain(ours().into_vec().into_iter().map(run::<Jq>))
        .collect()
}

fn guard<'a>(cv: &Cv<'a, Jq>) -> &'a Guard {
    cv.0.data().guard
}

fn ours() -> Box<[Filter<RunPtr<Jq>>]> {
    Box::new([
        ("range", v(3), |mut cv| {
            let guard = guard(&cv);
            let by = cv.0.pop_var();
            let to = cv.0.pop_var();
            let from = cv.0.pop_var();
            Box::new(range(Ok(from), to, by).inspect(move |_| guard.step()))
        }),
        (TICK, v(0), |cv| box_once(Ok(cv.1))),
        (STRCHECK, v(0), |cv| {
            let guard = guard(&cv);
            // The text is about to be built, so it is charged as well as checked.
            let checked = text_len(&cv.1, guard.max_string).map(|len| guard.charge_bytes(len));
            bome(checked.map(|()| cv.1))
        }),
        (CHARGE, v(0), |cv| {
            let guard = guard(&cv);
            let size = text_len(&cv.1, guard.remaining_bytes()).unwrap_or(usize::MAX);
            guard.charge_bytes(size);
            box_once(Ok(cv.1))
        }),
        (ADD, fun2(), |cv| binary(cv, checked_add)),
        (MUL, fun2(), |cv| binary(cv, checked_mul)),
        ("tojson", v(0), |cv| {
            let guard = guard(&cv);
            let checked = text_len(&cv.1, guard.max_string).map(|len| guard.charge_bytes(len));
            bome(checked.map(|()| Val::utf8_str(cv.1.to_string().into_bytes())))
        }),
        ("fromjson", v(0), |cv| Box::new(fromjson(&cv.1).into_iter())),
        ("debug_empty", v(0), |_| Box::new(core::iter::empty())),
        ("stderr_empty", v(0), |_| Box::new(core::iter::empty())),
    ])
}

/// Two filter arguments, like jaq's own binary operators take.
fn fun2() -> Box<[Bind]> {
    Box::new([Bind::Fun(()), Bind::Fun(())])
}

/// Evaluates `op(l, r)` for every output of `l` (outer) and `r` (inner), exactly like jaq
/// evaluates `l + r`. The filters run inside this native rather than being bound as variables,
/// so that an accumulator such as `.` in `reduce ... (""; . + $x)` stays uniquely owned and
/// jaq can append to it in place instead of copying it at every step.
fn binary<'a>(
    mut cv: Cv<'a, Jq>,
    op: fn(Val, Val, &Guard) -> Result<Val, Error<Val>>,
) -> ValXs<'a, Val> {
    let guard = guard(&cv);
    let (r, r_ctx) = cv.0.pop_fun();
    let (l, l_ctx) = cv.0.pop_fun();
    let input = cv.1;
    flat_map_then_with(
        l.run((l_ctx, input.clone())),
        (r_ctx, input),
        move |lv, (r_ctx, input)| {
            map_with(r.run((r_ctx, input)), lv, move |rv, lv| {
                Ok(op(lv, rv?, guard)?)
            })
        },
    )
}

fn too_long(what: &str, limit: usize) -> Error<Val> {
    Error::str(format_args!(
        "{what} would be longer than the limit of {limit}"
    ))
}

/// The length of the JSON text of `value` if it is at most `max` bytes, else an error. At
/// most about `max` bytes' worth of the value are visited, so shared structure cannot make
/// this slow.
fn text_len(value: &Val, max: usize) -> Result<usize, Error<Val>> {
    fn take(left: &mut usize, n: usize) -> bool {
        match left.checked_sub(n) {
            Some(rest) => {
                *left = rest;
                true
            }
            None => false,
        }
    }
    fn visit(value: &Val, left: &mut usize) -> bool {
        match value {
            Val::Null | Val::Bool(_) => take(left, 5),
            Val::Num(_) => take(left, 8),
            Val::TStr(b) | Val::BStr(b) => take(left, b.len().saturating_add(2)),
            Val::Arr(items) => {
                take(left, 2) && items.iter().all(|item| take(left, 1) && visit(item, left))
            }
            Val::Obj(map) => {
                take(left, 2)
                    && map
                        .iter()
                        .all(|(k, v)| take(left, 2) && visit(k, left) && visit(v, left))
            }
        }
    }
    let mut left = max;
    if visit(value, &mut left) {
        Ok(max - left)
    } else {
        Err(too_long("string", max))
    }
}

fn str_len(value: &Val) -> Option<usize> {
    match value {
        Val::TStr(b) | Val::BStr(b) => Some(b.len()),
        _ => None,
    }
}

/// `l + r`, refusing strings and arrays over the limits before they are built.
fn checked_add(l: Val, r: Val, guard: &Guard) -> Result<Val, Error<Val>> {
    if let (Some(a), Some(b)) = (str_len(&l), str_len(&r))
        && a.saturating_add(b) > guard.max_string
    {
        return Err(too_long("string", guard.max_string));
    }
    if let (Val::Arr(a), Val::Arr(b)) = (&l, &r)
        && a.len().saturating_add(b.len()) > guard.max_array
    {
        return Err(too_long("array", guard.max_array));
    }
    // jaq appends the right operand to the left one (in place when it can), so the growth
    // is what the right operand adds.
    guard.charge_bytes(match &r {
        Val::TStr(b) | Val::BStr(b) => b.len(),
        Val::Arr(items) => items.len().saturating_mul(BYTES_PER_STEP),
        Val::Obj(map) => map.len().saturating_mul(2 * BYTES_PER_STEP),
        _ => 0,
    });
    l + r
}

/// `l * r`, refusing string repetitions over the limit before they are built.
fn checked_mul(l: Val, r: Val, guard: &Guard) -> Result<Val, Error<Val>> {
    let repeat = match (&l, &r) {
        (s, Val::Num(n)) | (Val::Num(n), s) => str_len(s).map(|len| (len, n)),
        _ => None,
    };
    if let Some((len, n)) = repeat {
        let times = match n {
            Num::Int(i) => usize::try_from(*i).unwrap_or(0),
            // jaq saturates big integers; a positive one repeats as often as possible.
            Num::BigInt(_) if !n.to_string().starts_with('-') => usize::MAX,
            _ => 0,
        };
        let total = len.saturating_mul(times);
        if total > guard.max_string {
            return Err(too_long("string", guard.max_string));
        }
        guard.charge_bytes(total);
    }
    l * r
}

/// `fromjson` via `serde_json`, which limits nesting to 128 levels; a string holding several
/// JSON values yields each of them, like jaq's own version.
fn fromjson<'a>(input: &Val) -> Vec<ValX<'a, Val>> {
    let Some(bytes) = (match input {
        Val::TStr(b) | Val::BStr(b) => Some(b),
        _ => None,
    }) else {
        return vec![Err(Exn::from(Error::typ(input.clone(), "string")))];
    };
    let mut out = Vec::new();
    for item in serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>() {
        let converted = item
            .map_err(|e| Error::str(format_args!("cannot parse as JSON: {e}")))
            .and_then(|json| from_json(json).map_err(|_| Error::str("JSON nests too deeply")));
        let failed = converted.is_err();
        out.push(converted.map_err(Exn::from));
        if failed {
            break;
        }
    }
    out
}

/// jaq's `range/3` (MIT licensed, from jaq-core), unchanged except that the caller counts a
/// step per item.
fn range<'a>(
    mut from: ValX<'a, Val>,
    to: Val,
    by: Val,
) -> impl Iterator<Item = ValX<'a, Val>> + 'a {
    use core::cmp::Ordering::{Equal, Greater, Less};
    let cmp = by.partial_cmp(&Val::from(0isize)).unwrap_or(Equal);
    core::iter::from_fn(move || match from.clone() {
        Ok(x) => match cmp {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        }
        .then(|| core::mem::replace(&mut from, (x + by.clone()).map_err(Exn::from))),
        e @ Err(_) => {
            // Return nothing more after an error.
            from = Ok(to.clone());
            Some(e)
        }
    })
}

//! `aion_expr`: the expression language of flow documents and the jq runner of
//! `core.transform`.
//!
//! # Templates
//!
//! A string field may hold `{{ expression }}` in Jinja2 expression syntax (minijinja; no
//! statements, no `{% %}` blocks, no whitespace control). [`Engine::compile`] turns a field
//! into a [`Template`]:
//!
//! * a field without `{{` is a literal string (write `{{ '{{' }}` for literal braces);
//! * a field that is exactly one `{{ ... }}`, surrounding whitespace allowed, evaluates to the
//!   expression's typed value (number, bool, null, list, object);
//! * any other field is a string: text as written, each expression rendered with strings as
//!   they are and every other value (including `null`) as compact JSON.
//!
//! Compile errors ([`CompileError`]) carry the byte offset in the field: unclosed `{{`, empty
//! `{{ }}`, syntax errors (with minijinja's message), unknown variables (anything but `inputs`,
//! `steps`, `trigger`, `vars`, `run`, `item`, `index`), unknown filters and tests, and method
//! calls (`x.items()`; use filters). [`Template::references`] lists the variable paths a field
//! reads, for the flow compiler's upstream checks.
//!
//! # Safety of templates
//!
//! * **Bounded work.** Every evaluation has minijinja's fuel budget ([`Limits::fuel`]): each
//!   instruction costs fuel, and so does every byte of string or list slot the engine creates;
//!   allocations of known size (`'x' * 100000000`, `'%999999999s' | format(1)`, `join`) are
//!   refused before they happen. Bytes copied out of the scope are charged the same way.
//!   Running out is [`ErrorKind::FuelExhausted`].
//! * **Bounded results.** Results are converted with a byte budget ([`Limits::max_output_bytes`],
//!   and [`Limits::max_string_bytes`] per string) that stops lazy values such as
//!   `[1] * 100000000` before they are materialised, and nesting deeper than 128 levels is
//!   refused.
//! * **Bounded stack.** Long expressions (over 256 bytes; at most 16 KiB are accepted) are
//!   compiled on a thread with a large stack, because minijinja's code generator recurses once
//!   per operator in chains such as `1+1+...+1`. Evaluation itself does not recurse on input.
//! * **No host access.** Expressions cannot contain statements, so there is no `include` or
//!   loader; the environment has no loader anyway. `debug()` and `namespace()` are removed;
//!   `range` (at most 100 000 items) and `dict` remain. No filter does I/O.
//! * **Strict undefined values.** Using an undefined value is an [`ErrorKind::Undefined`] error
//!   naming the path (`steps.x.output.foo is undefined`), except in `| default(...)` and
//!   `is defined` / `is undefined` tests.
//!
//! # jq
//!
//! [`Engine::compile_jq`] compiles a jq program with jaq (core, std and JSON definitions) and
//! [`Engine::run_jq`] runs it. A program yielding one value returns that value, several values
//! return an array of them, and no value returns `null` ([`Engine::run_jq_outputs`] returns
//! the list itself when that ambiguity matters). Filters that reach the host are unavailable:
//! `input`, `inputs`, `$ENV`, `env`, `input_filename`, `now`, `localtime`, `strflocaltime`,
//! module `import`/`include` are compile errors; `debug`, `stderr` and their variants log
//! nothing and pass their input through; `halt` and `halt_error` are run-time errors.
//!
//! What a run guarantees, precisely (see `jq/run.rs`, `jq/guard.rs` and `jq/rewrite.rs` for
//! the mechanism):
//!
//! * The caller gets an answer by the deadline ([`Limits::jq_timeout`]) plus the time to hand
//!   the run to a worker, whatever the program does: the program runs on a worker thread and
//!   the caller waits on a channel with a timeout.
//! * Every evaluation step of jaq (each term it evaluates, each item `range` produces, each
//!   element collected into an array) counts against a step budget ([`Limits::jq_fuel`]) and
//!   checks the stack depth, and every 1024 steps the worker polls the cancellation flag that
//!   the caller sets at the deadline. When any of these says stop, the worker unwinds at that
//!   step, dropping everything the program allocated. Loops and recursion written in jq
//!   (`def f: f; f`, `repeat(1)`, `[range(1e18)]`, `last(range(infinite))`) therefore stop
//!   well under a millisecond after the deadline, and free their memory.
//! * Recursion in jq code cannot overflow the stack: evaluation is stopped once it uses 64 MiB
//!   of stack. The worker has a 1 GiB reservation (committed only as used) so that built-ins
//!   that recurse on values without passing the guard (dropping or comparing a deeply nested
//!   value) have headroom; values gain a bounded amount of nesting per step, so the step budget
//!   bounds their depth (the default allows a few million levels, well within the
//!   reservation). `fromjson` parses with `serde_json` and refuses more than 128 levels.
//! * Strings and arrays built with `+` and `*` (also in `join`, `add` and the other standard
//!   definitions, which are rewritten too) are checked before they are built: a string longer
//!   than [`Limits::max_string_bytes`] or an array with more than `max_output_bytes / 8` items
//!   is an error, so `"x" * 1e15` and repeated doubling fail instead of exhausting memory.
//!   String interpolation, `tostring` and `tojson` check the size of the text first, visiting
//!   at most that many bytes of the value.
//! * Outputs are converted one at a time within [`Limits::max_output_bytes`] and counted
//!   against [`Limits::jq_max_outputs`]; results nested deeper than 128 levels are refused.
//!
//! What is **not** guaranteed: a single built-in that is already running cannot be
//! interrupted, so it finishes before the worker reaches its next step. Most built-ins do work
//! proportional to the size of their input, but jq values can share structure (`reduce
//! range(60) as $i (0; [., .])` has 2^60 leaves after 60 steps), and comparing, sorting,
//! hashing or deduplicating such a value (`sort`, `unique`, `group_by`, `contains`, `<`) walks
//! every leaf: it can keep one core busy for a very long time after the deadline (it does not
//! allocate in proportion, though). The caller still gets [`ErrorKind::JqTimeout`] on time. To
//! keep such stragglers from piling up, at most [`MAX_OVERDUE_JQ_RUNS`] timed-out workers may
//! be alive at once; further runs fail fast with [`ErrorKind::JqBusy`] until they finish
//! (a worker that is cancelled normally stops within a millisecond, so this only lasts while
//! real stragglers run)
//! ([`overdue_jq_runs`] reports how many there are). Memory is bounded through the step
//! budget: data built by `+`, `*`, interpolation, `tojson` and the built-ins that copy or
//! expand their input (`explode`, `sort`, `ascii_downcase`, ...) costs one step per 16 bytes,
//! so the default budget lets a program build about 160 MiB in total. Not charged beyond their
//! single step are array slices (`.[a:b]`, which copy the slice) and the scratch memory of
//! built-ins. Cancellation uses unwinding (without a panic message or hook); if the final
//! binary is built with `panic = "abort"`, workers cannot be stopped early: they run to
//! completion, and only the deadline and the straggler cap hold.
//!
//! Workers that finished normally are kept for the next run (at most four idle); a worker that
//! was stopped exits, returning any stack it committed.
//!
//! `now` is unavailable on purpose: a flow run should be reproducible, and the run's start
//! time is in `run.started_at`.
//!
//! # Example
//!
//! ```
//! use aion_expr::{Engine, Scope, StepState};
//! use serde_json::json;
//!
//! let engine = Engine::default();
//! let scope = Scope::new()
//!     .with_inputs(json!({ "threshold": 100 }))
//!     .with_step("price", StepState::succeeded(json!({ "body": { "price": 93.5 } })));
//!
//! let cheap = engine.compile("{{ steps.price.output.body.price < inputs.threshold }}")?;
//! assert_eq!(engine.eval(&cheap, &scope)?, json!(true));
//! assert_eq!(cheap.references()[0].to_string(), "steps.price.output.body.price");
//!
//! let text = engine.compile("SOL is at {{ steps.price.output.body.price }}")?;
//! assert_eq!(engine.eval(&text, &scope)?, json!("SOL is at 93.5"));
//!
//! let count = engine.compile_jq(".items | map(select(.active)) | length")?;
//! let input = json!({ "items": [{ "active": true }, { "active": false }] });
//! assert_eq!(engine.run_jq(&count, input)?, json!(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate deliberately does not know flows, nodes or the run engine: the caller builds a
//! [`Scope`] and decides what a result means.

mod convert;
mod env;
mod error;
mod eval;
mod fast;
mod jq;
mod lexer;
mod objects;
mod refs;
mod scope;
mod stack;
mod template;

use std::time::Duration;

pub use env::{FILTERS, TESTS};
pub use error::{CompileError, ErrorKind, EvalError};
pub use jq::{JqProgram, MAX_OVERDUE_JQ_RUNS, MAX_PROGRAM_BYTES};
pub use refs::VarPath;
pub use scope::{Scope, StepState, StepStatus};
pub use template::{ExpressionTemplate, InterpolatedTemplate, MAX_EXPRESSION_BYTES, Template};

/// Budgets that bound every evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// minijinja fuel per template evaluation: roughly one unit per instruction and per 64
    /// bytes of data created or read.
    pub fuel: u64,
    /// Largest result, in bytes of JSON text (templates and jq).
    pub max_output_bytes: usize,
    /// Largest single string a result may hold or a jq program may build.
    pub max_string_bytes: usize,
    /// How long a jq program may run.
    pub jq_timeout: Duration,
    /// How many values a jq program may output.
    pub jq_max_outputs: usize,
    /// How many evaluation steps a jq program may take (roughly 10 million per second of
    /// CPU); building data costs one step per 16 bytes, so this also bounds memory.
    pub jq_fuel: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 50_000,
            max_output_bytes: 1 << 20,
            max_string_bytes: 1 << 20,
            jq_timeout: Duration::from_secs(1),
            jq_max_outputs: 10_000,
            jq_fuel: 10_000_000,
        }
    }
}

/// Compiles and evaluates templates and jq programs under fixed [`Limits`].
///
/// An engine is cheap to clone and to share between threads. Engines with equal limits share
/// one minijinja environment, which lives for the rest of the process.
#[derive(Debug, Clone)]
pub struct Engine {
    limits: Limits,
    env: &'static minijinja::Environment<'static>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Engine {
    /// Creates an engine with the given limits.
    pub fn new(limits: Limits) -> Self {
        let env = env::environment(&limits);
        Self { limits, env }
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles a string field.
    pub fn compile(&self, field: &str) -> Result<Template, CompileError> {
        template::compile(self.env, field)
    }

    /// Evaluates a compiled field against a scope.
    pub fn eval(&self, template: &Template, scope: &Scope) -> Result<serde_json::Value, EvalError> {
        eval::eval(self.env, &self.limits, template, scope, true)
    }

    /// [`Engine::eval`] always through minijinja, to hold the fast path to its answers.
    #[cfg(test)]
    pub(crate) fn eval_slow(
        &self,
        template: &Template,
        scope: &Scope,
    ) -> Result<serde_json::Value, EvalError> {
        eval::eval(self.env, &self.limits, template, scope, false)
    }

    /// Compiles a jq program.
    pub fn compile_jq(&self, program: &str) -> Result<JqProgram, CompileError> {
        jq::compile(program)
    }

    /// Runs a jq program: one output is returned as is, several as an array, none as `null`.
    ///
    /// This blocks the calling thread until the program finishes or its deadline passes
    /// ([`Limits::jq_timeout`]); from async code, call it in a blocking context.
    pub fn run_jq(
        &self,
        program: &JqProgram,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, EvalError> {
        let mut outputs = self.run_jq_outputs(program, input)?;
        Ok(match outputs.len() {
            0 => serde_json::Value::Null,
            1 => outputs.pop().unwrap_or_default(),
            _ => serde_json::Value::Array(outputs),
        })
    }

    /// Runs a jq program and returns all of its outputs (blocking, like [`Engine::run_jq`]).
    pub fn run_jq_outputs(
        &self,
        program: &JqProgram,
        input: serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, EvalError> {
        jq::run(program, input, &self.limits)
    }
}

/// How many jq workers that passed their deadline are still running (normally 0; see the
/// crate documentation). Useful as a health metric.
pub fn overdue_jq_runs() -> usize {
    jq::overdue_runs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Engine>();
        assert_send_sync::<Template>();
        assert_send_sync::<JqProgram>();
        assert_send_sync::<Scope>();
    }
}

//! Running a compiled jq program on a worker thread with a deadline.
//!
//! The caller hands the program and the input to a worker thread with a 1 GiB stack
//! reservation (see `pool.rs`) and waits on a channel until [`Limits::jq_timeout`]. If the
//! deadline passes, the caller returns [`EvalError::JqTimeout`] and flags the run as
//! abandoned; the worker notices at its next evaluation step and unwinds (see `guard.rs`).
//! Outputs are pulled one at a time, converted to JSON within the output budget, and counted
//! against [`Limits::jq_max_outputs`], so an endless stream never piles up. This module
//! deliberately does not measure time on the worker: only the caller's clock matters.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use jaq_core::{Ctx, Vars};
use serde_json::Value as Json;

use super::guard::{Data, Guard, Jq, OVERDUE, RunState, Stop};
use super::pool;
use super::value::{ValError, bounded_display, from_json, to_json};
use super::{JqProgram, MAX_OVERDUE_JQ_RUNS};
use crate::Limits;
use crate::error::EvalError;

/// Stack that recursion through jq terms may use before the run is stopped.
const TERM_STACK: usize = 64 << 20;

/// The longest error message kept from a program.
const MAX_MESSAGE: usize = 1000;

/// How many timed-out workers are still running.
pub(crate) fn overdue_runs() -> usize {
    OVERDUE.load(Ordering::Acquire)
}

/// Runs `program` on `input` and returns all of its outputs.
pub(crate) fn run(
    program: &JqProgram,
    input: Json,
    limits: &Limits,
) -> Result<Vec<Json>, EvalError> {
    if OVERDUE.load(Ordering::Acquire) >= MAX_OVERDUE_JQ_RUNS {
        return Err(EvalError::JqBusy);
    }
    let state = Arc::new(RunState::default());
    let (tx, rx) = mpsc::sync_channel(1);
    let filter = program.filter.clone();
    let worker_state = state.clone();
    let worker_limits = limits.clone();
    let job: pool::Job = Box::new(move |stack| {
        let (result, reusable) = work(&filter, input, &worker_limits, worker_state.clone(), stack);
        // The caller may have stopped waiting; a closed channel is fine.
        let _ = tx.send(result);
        worker_state.finish();
        reusable
    });
    if let Err(e) = pool::execute(job) {
        return Err(EvalError::JqRuntime {
            message: format!("could not start a jq worker: {e}"),
        });
    }
    match rx.recv_timeout(limits.jq_timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            state.abandon();
            Err(EvalError::JqTimeout {
                timeout: limits.jq_timeout,
            })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(EvalError::JqRuntime {
            message: "the jq worker stopped unexpectedly".into(),
        }),
    }
}

/// The worker's body: evaluates, and turns an unwinding stop into an error. The flag says
/// whether the run ended normally, so that the thread can serve another run.
fn work(
    filter: &jaq_core::Filter<Jq>,
    input: Json,
    limits: &Limits,
    state: Arc<RunState>,
    stack: usize,
) -> (Result<Vec<Json>, EvalError>, bool) {
    // Recursion in jq code may use up to TERM_STACK (far more than any sensible program
    // needs), so a runaway recursion is stopped before it commits much memory; the rest of the
    // reservation is headroom for built-ins that recurse on values (dropping, comparing)
    // without passing the guard.
    let guard = Guard::new(
        state,
        limits.jq_fuel,
        TERM_STACK.min(stack / 2),
        limits.max_string_bytes,
        (limits.max_output_bytes / 8).max(1),
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| evaluate(filter, input, limits, &guard)));
    let error = match outcome {
        Ok(result) => return (result, true),
        Err(payload) => match payload.downcast_ref::<Stop>() {
            Some(Stop::Timeout) => EvalError::JqTimeout {
                timeout: limits.jq_timeout,
            },
            Some(Stop::Fuel) => EvalError::JqFuelExhausted {
                budget: limits.jq_fuel,
            },
            Some(Stop::Stack) => EvalError::JqRuntime {
                message: "recursion is too deep".into(),
            },
            // A genuine panic inside jaq: report it instead of taking the process down.
            None => EvalError::JqRuntime {
                message: "internal error while running the program".into(),
            },
        },
    };
    (Err(error), false)
}

fn evaluate(
    filter: &jaq_core::Filter<Jq>,
    input: Json,
    limits: &Limits,
    guard: &Guard,
) -> Result<Vec<Json>, EvalError> {
    let input = from_json(input).map_err(|e| EvalError::JqRuntime {
        message: match e {
            ValError::TooDeep(max) => format!("input nests deeper than {max} levels"),
            ValError::TooLarge => "input is too large".into(),
        },
    })?;
    let data = Data {
        lut: &filter.lut,
        guard,
    };
    let ctx = Ctx::<Jq>::new(data, Vars::new([]));
    let mut budget = limits.max_output_bytes;
    let mut outputs = Vec::new();
    for output in filter.id.run((ctx, input)) {
        let value = output.map_err(exception)?;
        if outputs.len() >= limits.jq_max_outputs {
            return Err(EvalError::JqTooManyOutputs {
                limit: limits.jq_max_outputs,
            });
        }
        let json = to_json(&value, &mut budget).map_err(|e| match e {
            ValError::TooLarge => EvalError::OutputTooLarge {
                limit: limits.max_output_bytes,
            },
            ValError::TooDeep(max) => {
                EvalError::type_error(format!("jq output nests deeper than {max} levels"))
            }
        })?;
        outputs.push(json);
    }
    Ok(outputs)
}

/// Turns a jaq exception that reached the top into an error.
fn exception(exn: jaq_core::Exn<'_, jaq_json::Val>) -> EvalError {
    match exn.get_err() {
        Ok(err) => {
            let text = bounded_display(&err, MAX_MESSAGE);
            // `error("boom")` carries a string value, which jq prints without quotes.
            let message = match serde_json::from_str::<String>(&text) {
                Ok(unquoted) => unquoted,
                Err(_) => text,
            };
            EvalError::JqRuntime { message }
        }
        Err(exn) => match exn.get_halt() {
            Ok(code) => EvalError::JqRuntime {
                message: format!("halt is not supported (exit code {code})"),
            },
            Err(_) => EvalError::JqRuntime {
                message: "unexpected control flow at the top of the program".into(),
            },
        },
    }
}

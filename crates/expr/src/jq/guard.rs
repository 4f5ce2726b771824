//! The hook that lets a running jq program be stopped: a step counter, a cancellation flag
//! and a stack-depth check, consulted on every evaluation step.
//!
//! jaq looks up the term to evaluate through the program's data (`HasLut::lut`) every time it
//! evaluates a term, and this crate supplies that data type. So [`Data::lut`] is a reliable
//! per-step hook: it counts the step against the budget, polls the cancellation flag every
//! 1024 steps, and compares the current stack address with the thread's base. When any of these
//! says stop, it unwinds the worker thread with [`std::panic::resume_unwind`], which runs no
//! panic hook (nothing is printed) and drops every value the program built; the worker catches
//! the unwind at its top and reports why it stopped. Unwinding through jaq is memory-safe (it
//! has no unsafe code) and nothing it owns outlives the run. This module deliberately does not
//! measure time itself: the caller sets the flag when the deadline passes.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use jaq_core::data::HasLut;
use jaq_core::{DataT, Lut};
use jaq_json::Val;

/// Bytes of newly built data that cost one step, so that the step budget also bounds memory.
pub(crate) const BYTES_PER_STEP: usize = 16;

/// How often (in steps) the cancellation flag is polled; a power of two keeps it cheap.
const POLL_EVERY: u64 = 1024;

/// Why a worker stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The caller's deadline passed.
    Timeout,
    /// The step budget ran out.
    Fuel,
    /// The evaluation recursed too deeply.
    Stack,
}

/// Timed-out workers that have not finished yet.
pub(crate) static OVERDUE: AtomicUsize = AtomicUsize::new(0);

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

/// State shared by the caller and the worker of one run.
#[derive(Debug, Default)]
pub(crate) struct RunState {
    cancelled: AtomicBool,
    status: AtomicU8,
}

impl RunState {
    /// Called by the caller at the deadline: asks the worker to stop, and counts it as overdue
    /// if it is still running.
    pub fn abandon(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        if self
            .status
            .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            OVERDUE.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Called by the worker when it is about to exit.
    pub fn finish(&self) {
        if self.status.swap(DONE, Ordering::AcqRel) == ABANDONED {
            OVERDUE.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Per-run limits and counters, living on the worker thread.
#[derive(Debug)]
pub(crate) struct Guard {
    state: Arc<RunState>,
    steps_left: Cell<u64>,
    stack_base: usize,
    stack_limit: usize,
    /// Longest string `+`, `*`, interpolation and `tojson` may build.
    pub max_string: usize,
    /// Most items an array built with `+` may have.
    pub max_array: usize,
}

impl Guard {
    /// Creates a guard for the current thread; `stack_limit` is how many bytes of stack the
    /// evaluation may use beyond the current frame.
    pub fn new(
        state: Arc<RunState>,
        steps: u64,
        stack_limit: usize,
        max_string: usize,
        max_array: usize,
    ) -> Self {
        Self {
            state,
            steps_left: Cell::new(steps),
            stack_base: stack_address(),
            stack_limit,
            max_string,
            max_array,
        }
    }

    /// Charges `bytes` of newly built data against the step budget (one step per
    /// [`BYTES_PER_STEP`] bytes), stopping the run if the budget cannot pay for it.
    pub fn charge_bytes(&self, bytes: usize) {
        let steps = u64::try_from(bytes.div_ceil(BYTES_PER_STEP)).unwrap_or(u64::MAX);
        let left = self.steps_left.get();
        if steps > left {
            self.steps_left.set(0);
            stop(Stop::Fuel);
        } else {
            self.steps_left.set(left - steps);
        }
    }

    /// How many bytes the remaining budget could still pay for.
    pub fn remaining_bytes(&self) -> usize {
        usize::try_from(self.steps_left.get())
            .unwrap_or(usize::MAX)
            .saturating_mul(BYTES_PER_STEP)
    }

    /// Accounts for one evaluation step and stops the run if it must end.
    #[inline]
    pub fn step(&self) {
        let left = self.steps_left.get();
        if left == 0 {
            stop(Stop::Fuel);
            return;
        }
        self.steps_left.set(left - 1);
        if left.is_multiple_of(POLL_EVERY) && self.state.is_cancelled() {
            stop(Stop::Timeout);
        }
        if stack_address().abs_diff(self.stack_base) > self.stack_limit {
            stop(Stop::Stack);
        }
    }
}

/// The address of a local in the calling frame, a cheap measure of stack depth.
#[inline(always)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::ptr::from_ref(&marker).addr()
}

/// Unwinds the worker thread (see the module documentation). When the binary is built with
/// `panic = "abort"`, unwinding is not available and the run simply continues; the caller's
/// deadline still holds.
fn stop(reason: Stop) {
    #[cfg(panic = "unwind")]
    std::panic::resume_unwind(Box::new(reason));
    #[cfg(not(panic = "unwind"))]
    let _ = reason;
}

/// The jaq data kind of this crate: JSON values, with the guard reachable from every step.
#[derive(Debug)]
pub(crate) struct Jq;

impl DataT for Jq {
    type V<'a> = Val;
    type Data<'a> = Data<'a>;
}

/// What every step of a run can see.
#[derive(Clone)]
pub(crate) struct Data<'a> {
    pub lut: &'a Lut<Jq>,
    pub guard: &'a Guard,
}

impl<'a> HasLut<'a, Jq> for Data<'a> {
    fn lut(&self) -> &'a Lut<Jq> {
        self.guard.step();
        self.lut
    }
}

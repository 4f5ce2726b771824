//! A small pool of jq worker threads with large stacks.
//!
//! Mapping and unmapping a 1 GiB stack for every run costs about 150 µs, more than the run
//! itself, so finished workers wait for the next job instead of exiting. A worker only goes
//! back to the pool after a run that ended normally: one that was stopped (deadline, budget,
//! recursion) may have committed a lot of stack, so it exits and returns that memory, and one
//! that is stuck in a built-in after its deadline is simply not available until it finishes.
//! So the pool never makes a later run wait for an earlier one. This module deliberately does
//! not bound the number of busy workers; the runner's straggler cap does.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, PoisonError};

use crate::stack::spawn_with_fallback;

/// Stack reserved for a worker. Only touched pages cost memory.
pub(crate) const WORKER_STACK: usize = 1 << 30;

/// Idle workers kept for reuse; more finished workers exit.
const MAX_IDLE: usize = 4;

/// A run to execute; it receives the worker's stack size and says whether the worker may be
/// reused afterwards.
pub(crate) type Job = Box<dyn FnOnce(usize) -> bool + Send>;

/// Senders to the idle workers.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

fn idle() -> std::sync::MutexGuard<'static, Vec<Sender<Job>>> {
    // Pushing and popping cannot leave the list inconsistent, so a poisoned lock is usable.
    IDLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `job` on an idle worker, or on a new one.
pub(crate) fn execute(mut job: Job) -> io::Result<()> {
    loop {
        let Some(worker) = idle().pop() else { break };
        match worker.send(job) {
            Ok(()) => return Ok(()),
            // That worker is gone (it can only have exited by unwinding); try another.
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    spawn_with_fallback("aion-jq", WORKER_STACK, move |stack| {
        let (tx, rx) = mpsc::channel();
        serve(stack, job, &tx, &rx);
    })
    .map(drop)
}

/// Runs jobs until one says the worker must not be reused, or the pool is full.
fn serve(stack: usize, first: Job, tx: &Sender<Job>, rx: &Receiver<Job>) {
    let mut job = first;
    loop {
        if !job(stack) {
            return;
        }
        {
            let mut idle = idle();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(tx.clone());
        }
        // The receiver lives as long as this loop, so a popped sender always reaches it.
        match rx.recv() {
            Ok(next) => job = next,
            Err(_) => return,
        }
    }
}

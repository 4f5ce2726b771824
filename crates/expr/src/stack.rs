//! Running work that recurses on untrusted input on a thread with a large stack.
//!
//! minijinja's code generator and jaq's parser and interpreter recurse once per nesting level
//! of their input (`1+1+...+1` is a left-deep tree), so a long enough expression overflows an
//! ordinary 2 MiB thread stack, and a stack overflow aborts the whole process. Work that may
//! recurse deeply therefore runs on a dedicated thread whose stack is sized for the largest
//! input this crate accepts. Stack memory is reserved, not committed: only the pages actually
//! touched cost memory. This module deliberately does not impose deadlines; `jq::run` does.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

/// Stack size for compiling templates and jq programs (inputs are capped in length).
pub(crate) const COMPILE_STACK: usize = 256 << 20;

/// Runs `f` on a new thread with `stack` bytes of stack and waits for its result.
///
/// Returns an error message if the thread could not be started or did not return normally.
pub(crate) fn run_with_stack<T, F>(name: &str, stack: usize, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let handle = spawn_with_fallback(name, stack, move |_| f())
        .map_err(|e| format!("could not start a worker thread: {e}"))?;
    match handle.join() {
        Ok(Some(value)) => Ok(value),
        Ok(None) | Err(_) => Err("the worker thread failed unexpectedly".to_owned()),
    }
}

/// Spawns `f`, retrying with smaller stacks if the system refuses the requested reservation
/// (for instance under a strict overcommit policy); `f` receives the stack size it got. The
/// thread returns `None` only if `f` was somehow not handed over, which the single successful
/// spawn rules out.
pub(crate) fn spawn_with_fallback<T, F>(
    name: &str,
    stack: usize,
    f: F,
) -> std::io::Result<thread::JoinHandle<Option<T>>>
where
    T: Send + 'static,
    F: FnOnce(usize) -> T + Send + 'static,
{
    // A failed spawn consumes its closure, so `f` is parked in a slot that the one thread
    // that does start takes it from.
    let slot = Arc::new(Mutex::new(Some(f)));
    let mut size = stack;
    loop {
        let task = slot.clone();
        let spawned = thread::Builder::new()
            .name(name.to_owned())
            .stack_size(size)
            .spawn(move || {
                let f = task.lock().unwrap_or_else(PoisonError::into_inner).take();
                f.map(|f| f(size))
            });
        match spawned {
            Ok(handle) => return Ok(handle),
            Err(e) if size <= MIN_STACK => return Err(e),
            Err(_) => size = (size / 4).max(MIN_STACK),
        }
    }
}

/// The smallest stack the fallback goes down to.
const MIN_STACK: usize = 16 << 20;

//! Named fault points for crash tests (the `failpoints` cargo feature).
//!
//! The worker passes three points while driving a run:
//! - [`BEFORE_COMMIT`]: an event was applied in memory and is about to be committed;
//! - [`AFTER_COMMIT`]: the commit was acknowledged and nothing has acted on it yet;
//! - [`MID_NODE`]: a node's implementation returned, its result is not yet reported to the
//!   driver (its side effects happened, its result is not recorded).
//!
//! A process-level registry says what a point does when it is hit: nothing (the default),
//! abort the process ([`std::process::abort`], for tests that run the worker in a child process
//! and restart it) or return an injected error. Each armed point fires once, on its `n`-th hit,
//! and is then disarmed, so a resumed run gets past it. Without the feature every point is a
//! no-op the compiler removes.
//!
//! The registry is set by tests through [`arm`], or from one configuration string (see
//! [`configure`]) that the `aion worker --failpoints` argument (env `AION_FAILPOINTS`) carries:
//! configuration is read in one place.

/// Before an event's commit.
pub const BEFORE_COMMIT: &str = "commit.before";
/// After an event's commit, before acting on it.
pub const AFTER_COMMIT: &str = "commit.after";
/// In the middle of a node's execution: after the node returned, before its result is reported.
pub const MID_NODE: &str = "node.mid";

/// Every point's name.
pub const POINTS: [&str; 3] = [BEFORE_COMMIT, AFTER_COMMIT, MID_NODE];

/// What an armed point does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `std::process::abort()`: the process dies on the spot, like a SIGKILL.
    Abort,
    /// The point returns an error (a commit point makes the driver stop with
    /// [`crate::Error::Injected`]; the node point fails the attempt with a retryable
    /// `injected_fault` step error).
    Error,
}

#[cfg(feature = "failpoints")]
mod registry {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::Fault;

    /// Armed points: name → (fault, hits left before it fires).
    pub(super) static ARMED: Mutex<BTreeMap<String, (Fault, u32)>> = Mutex::new(BTreeMap::new());
}

/// Arms `point` to do `fault` on its `nth` hit from now (1 = the next hit), once.
///
/// # Errors
/// An unknown point name.
#[cfg(feature = "failpoints")]
pub fn arm(point: &str, fault: Fault, nth: u32) -> Result<(), String> {
    if !POINTS.contains(&point) {
        return Err(format!(
            "unknown fault point `{point}` (known: {})",
            POINTS.join(", ")
        ));
    }
    if let Ok(mut armed) = registry::ARMED.lock() {
        armed.insert(point.to_owned(), (fault, nth.max(1)));
    }
    Ok(())
}

/// Disarms every point.
#[cfg(feature = "failpoints")]
pub fn clear() {
    if let Ok(mut armed) = registry::ARMED.lock() {
        armed.clear();
    }
}

/// Whether `point` is still armed (it has not fired yet).
#[cfg(feature = "failpoints")]
pub fn is_armed(point: &str) -> bool {
    registry::ARMED
        .lock()
        .map(|armed| armed.contains_key(point))
        .unwrap_or(false)
}

/// Arms points from a specification: `;`-separated `point=abort|error[@n]`, e.g.
/// `commit.after=abort@3;node.mid=error`. An empty specification arms nothing.
///
/// # Errors
/// A malformed entry or an unknown point; nothing is armed then.
#[cfg(feature = "failpoints")]
pub fn configure(spec: &str) -> Result<(), String> {
    let mut parsed = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (point, what) = entry
            .split_once('=')
            .ok_or_else(|| format!("fault point entry `{entry}` is not `point=action[@n]`"))?;
        let (action, nth) = match what.split_once('@') {
            Some((action, nth)) => (
                action,
                nth.parse::<u32>()
                    .map_err(|_| format!("`{nth}` in `{entry}` is not a hit count"))?,
            ),
            None => (what, 1),
        };
        let fault = match action {
            "abort" => Fault::Abort,
            "error" => Fault::Error,
            other => return Err(format!("unknown fault `{other}` (abort or error)")),
        };
        if !POINTS.contains(&point) {
            return Err(format!(
                "unknown fault point `{point}` (known: {})",
                POINTS.join(", ")
            ));
        }
        parsed.push((point, fault, nth));
    }
    for (point, fault, nth) in parsed {
        arm(point, fault, nth)?;
    }
    Ok(())
}

/// Passes `point`: aborts the process or returns `Err(Fault::Error)` when it is armed and
/// this is the hit it waits for; otherwise `Ok(())`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(point: &str) -> Result<(), Fault> {
    let fired = match registry::ARMED.lock() {
        Ok(mut armed) => match armed.get_mut(point) {
            Some((fault, left)) if *left <= 1 => {
                let fault = *fault;
                armed.remove(point);
                Some(fault)
            }
            Some((_, left)) => {
                *left -= 1;
                None
            }
            None => None,
        },
        Err(_) => None,
    };
    match fired {
        Some(Fault::Abort) => std::process::abort(),
        Some(Fault::Error) => Err(Fault::Error),
        None => Ok(()),
    }
}

/// Without the `failpoints` feature a point does nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_point: &str) -> Result<(), Fault> {
    Ok(())
}

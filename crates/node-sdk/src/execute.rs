//! The [`Execute`] trait that action nodes implement, the [`Compute`] trait of pure nodes, and
//! what the engine hands them.
//!
//! A node sees only this: its resolved config, its credential, a stable idempotency key and a
//! log sink. It never sees the store, the run state or other nodes, which keeps connectors
//! testable on their own and lets the engine replay runs without them.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A boxed, sendable future, so `Execute` stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Severity of a log line a node writes into the run history.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that did not fail the step.
    Warn,
    /// A problem worth attention.
    Error,
}

/// Where a node's log lines and metered usage go; the engine keeps them in the run history.
pub trait LogSink: Send + Sync {
    /// Records one line with optional structured fields.
    fn log(&self, level: LogLevel, message: &str, fields: Option<&serde_json::Value>);

    /// Records what a call to a metered service (an LLM, say) consumed: tokens and cost. May
    /// be called several times per attempt, also by an attempt that then fails; the step and
    /// the run add it all up. A sink that keeps no history ignores it.
    fn usage(&self, usage: aion_types::Usage) {
        let _ = usage;
    }
}

/// Everything a node receives for one attempt.
#[derive(Clone)]
pub struct Context<'a> {
    /// The run's id.
    pub run_id: &'a str,
    /// The node's id in the flow.
    pub step_id: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Stable across attempts and crashes (run id + step id + loop index): pass it on to APIs
    /// that deduplicate, so a repeated side effect is recognised.
    pub idempotency_key: &'a str,
    /// The config with every expression already evaluated.
    pub config: &'a serde_json::Value,
    /// The credential's secret fields, decrypted only for this call; never log them.
    pub credential: Option<&'a serde_json::Value>,
    /// Where log lines and usage go.
    pub log: &'a dyn LogSink,
    /// The W3C `traceparent` of this attempt (the run's trace, the step's span): nodes that
    /// call other services over HTTP send it on, so their spans join the run's trace.
    pub traceparent: Option<&'a str>,
}

impl std::fmt::Debug for Context<'_> {
    /// Leaves the credential out so a stray `{:?}` cannot leak it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .field("attempt", &self.attempt)
            .field("idempotency_key", &self.idempotency_key)
            .field("traceparent", &self.traceparent)
            .field("credential", &self.credential.map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A successful result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Output {
    /// The value downstream nodes read as `steps.<id>.output`.
    pub value: serde_json::Value,
    /// The output port to activate; `None` means `out`.
    pub port: Option<String>,
}

impl Output {
    /// An output on the default port.
    pub fn new(value: serde_json::Value) -> Self {
        Output { value, port: None }
    }
}

/// A failed attempt. `kind` is a stable, machine-readable word (`http_status`, `timeout`, …).
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct NodeError {
    /// Stable machine-readable category.
    pub kind: String,
    /// A message for people; never contains secrets.
    pub message: String,
    /// Whether a retry policy may try again.
    pub retryable: bool,
    /// Extra structured data (an HTTP status and body, say).
    pub details: Option<serde_json::Value>,
}

impl NodeError {
    /// An error that retrying will not fix.
    pub fn permanent(kind: impl Into<String>, message: impl Into<String>) -> Self {
        NodeError {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// An error that may go away on a later attempt.
    pub fn retryable(kind: impl Into<String>, message: impl Into<String>) -> Self {
        NodeError {
            retryable: true,
            ..NodeError::permanent(kind, message)
        }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// The behaviour of an action node. Implementations must be cancel-safe: the engine drops the
/// future when an attempt times out or the run is cancelled.
pub trait Execute: Send + Sync + 'static {
    /// Runs one attempt.
    fn execute<'a>(&'a self, ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>>;
}

/// The behaviour of a pure node: its output is a function of its resolved config alone. It does
/// no I/O, never waits, keeps no state between calls and finishes quickly (its expressions were
/// already evaluated, under their own fuel limit, before it is called).
///
/// Because of that promise the worker runs a pure node inside the run's own task, without a task
/// of its own, and may commit the records of a chain of pure steps in one transaction: a crash
/// before that commit loses only work that replay computes again, identically. A node that
/// breaks the promise (reads a clock, calls out) breaks replay; make it an [`Execute`] instead.
pub trait Compute: Send + Sync + 'static {
    /// Computes one attempt's result.
    fn compute(&self, ctx: Context<'_>) -> Result<Output, NodeError>;
}

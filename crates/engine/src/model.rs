//! The engine's vocabulary: step keys, the events a worker reports, the actions the engine asks
//! for, and the records it keeps for run history.
//!
//! Events are journaled, so every event type is serde-serializable and its JSON form is a
//! storage format: add fields with `#[serde(default)]`, never rename them.

use std::sync::Arc;

use aion_types::Usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One loop iteration a step runs in: the `core.foreach` step (an index into the graph that
/// holds it) and the item index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// Index of the `core.foreach` step in its graph.
    pub foreach: u32,
    /// Index of the item in the loop's list.
    pub item: u32,
}

/// Identifies one step instance of a run: the loop frames it runs in (outermost first) and its
/// index in the innermost graph. A step outside loops has no frames.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StepKey {
    /// Enclosing loop iterations, outermost first.
    pub frames: Vec<Frame>,
    /// Index of the step in the graph the frames lead to.
    pub step: u32,
}

impl StepKey {
    /// A top-level step.
    pub fn top(step: u32) -> Self {
        StepKey {
            frames: Vec::new(),
            step,
        }
    }

    /// A step in the graph instance `frames`.
    pub fn new(frames: Vec<Frame>, step: u32) -> Self {
        StepKey { frames, step }
    }
}

/// Identifies a timer the engine armed; unique within a run (a counter kept in the state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimerId(pub u64);

/// A step failure as reported by a worker (or produced by the engine itself, for expression
/// errors, signal timeouts and failed child runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    /// A stable, machine-readable kind: `timeout`, `expression`, `http_status`, ...
    pub kind: String,
    /// A message for the flow author.
    pub message: String,
    /// Whether another attempt may succeed; only retryable errors are retried.
    #[serde(default)]
    pub retryable: bool,
    /// Structured details, when the node gives any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl StepError {
    /// A permanent error.
    pub fn permanent(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A retryable error.
    pub fn retryable(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            retryable: true,
            ..Self::permanent(kind, message)
        }
    }
}

/// A fact reported to the engine. Every event carries the time the worker observed it, which is
/// the engine's only notion of time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run was created; always the first event of a journal.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The flow's id.
        flow_id: String,
        /// The flow version the run executes.
        flow_version: u64,
        /// The run input, before defaults.
        input: Value,
        /// The trigger payload (`null` for a manual run).
        trigger: Value,
        /// Workspace variables.
        vars: Value,
        /// When the run started, in milliseconds since the Unix epoch.
        at_ms: i64,
        /// Seed of the run's random source (retry jitter).
        seed: u64,
    },
    /// A worker took a step attempt.
    StepStarted {
        /// The step.
        key: StepKey,
        /// The attempt, from 1.
        attempt: u32,
        /// The lease epoch under which the worker runs it.
        fencing: u64,
        /// When.
        at_ms: i64,
    },
    /// A step attempt succeeded.
    StepSucceeded {
        /// The step.
        key: StepKey,
        /// The attempt, from 1.
        attempt: u32,
        /// The step's output.
        output: Value,
        /// The output port taken; `out` when absent.
        #[serde(default)]
        port: Option<String>,
        /// Whether the output came from the cache.
        #[serde(default)]
        cache_hit: bool,
        /// What the attempt consumed from metered services.
        #[serde(default, skip_serializing_if = "Usage::is_zero")]
        usage: Usage,
        /// When.
        at_ms: i64,
    },
    /// A step attempt failed.
    StepFailed {
        /// The step.
        key: StepKey,
        /// The attempt, from 1.
        attempt: u32,
        /// What went wrong.
        error: StepError,
        /// What the attempt consumed from metered services before it failed.
        #[serde(default, skip_serializing_if = "Usage::is_zero")]
        usage: Usage,
        /// When.
        at_ms: i64,
    },
    /// A timer armed by [`Action::ScheduleTimer`] is due.
    TimerFired {
        /// The timer.
        timer: TimerId,
        /// When.
        at_ms: i64,
    },
    /// A named signal arrived for the run.
    SignalReceived {
        /// The signal's name.
        name: String,
        /// Its payload.
        payload: Value,
        /// When.
        at_ms: i64,
    },
    /// A child run started by [`Action::StartChildRun`] with `wait: true` finished.
    ChildRunFinished {
        /// The `core.subflow` step.
        key: StepKey,
        /// The child's output, or why it failed.
        result: Result<Value, StepError>,
        /// When.
        at_ms: i64,
    },
    /// Someone asked to cancel the run.
    CancelRequested {
        /// Why, for the history.
        reason: String,
        /// When.
        at_ms: i64,
    },
}

impl Event {
    /// When the worker observed the event.
    pub fn at_ms(&self) -> i64 {
        match self {
            Event::RunStarted { at_ms, .. }
            | Event::StepStarted { at_ms, .. }
            | Event::StepSucceeded { at_ms, .. }
            | Event::StepFailed { at_ms, .. }
            | Event::TimerFired { at_ms, .. }
            | Event::SignalReceived { at_ms, .. }
            | Event::ChildRunFinished { at_ms, .. }
            | Event::CancelRequested { at_ms, .. } => *at_ms,
        }
    }
}

/// Asks the worker to look up or fill the cross-run cache for a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRequest {
    /// The cache key: the value of the step's `cache.key` expression, or `sha256:<hex>` over
    /// the node type, version and resolved config.
    pub key: String,
    /// How long an entry lives.
    pub ttl_ms: u64,
}

/// Something the engine asks the worker to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Run one attempt of a step and report [`Event::StepSucceeded`] or [`Event::StepFailed`].
    InvokeStep {
        /// The step.
        key: StepKey,
        /// The attempt, from 1.
        attempt: u32,
        /// The node type.
        node_type: String,
        /// The node type's version.
        node_version: u32,
        /// The config with every expression evaluated.
        config: Value,
        /// The credential name, resolved by the worker from the vault.
        credential: Option<String>,
        /// `{run_id}/{step key}`, the same for every attempt, for the node's idempotency.
        idempotency_key: String,
        /// The per-attempt timeout the worker enforces (reporting a retryable `timeout`).
        timeout_ms: Option<u64>,
        /// Cache lookup and fill, when the step has a cache policy.
        cache: Option<CacheRequest>,
        /// Whether the node changes the outside world.
        side_effects: bool,
    },
    /// Report [`Event::TimerFired`] at `due_ms` (or as soon as possible after).
    ScheduleTimer {
        /// The timer.
        timer: TimerId,
        /// When it is due, in milliseconds since the Unix epoch.
        due_ms: i64,
    },
    /// Deliver the next signal called `name` as [`Event::SignalReceived`].
    AwaitSignal {
        /// The `core.signal` step waiting.
        key: StepKey,
        /// The signal's name.
        name: String,
        /// The JSON Schema the payload must match, from the step's config. The engine has no
        /// schema validator: whoever accepts the signal (the API) checks the payload against it
        /// and refuses a bad one before it becomes an event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<Value>,
    },
    /// Start a child run (idempotently: `child_run_id` is derived from the step).
    StartChildRun {
        /// The `core.subflow` step.
        key: StepKey,
        /// The id the child run should get, `{run_id}/{step key}`.
        child_run_id: String,
        /// The flow id.
        flow: String,
        /// A fixed version; the latest when absent.
        version: Option<u64>,
        /// The child's input.
        input: Value,
        /// Whether the parent waits for [`Event::ChildRunFinished`].
        wait: bool,
    },
    /// The run succeeded with this output.
    CompleteRun {
        /// The flow's `output` template, evaluated (`null` when the flow has none).
        output: Value,
    },
    /// The run failed.
    FailRun {
        /// Why.
        error: StepError,
        /// The display key of the step that failed, when a step did.
        step: Option<String>,
    },
    /// The run was cancelled: stop its in-flight work.
    CancelRun {
        /// The reason given.
        reason: String,
    },
    /// Start another flow (the failed run's `on_error` flow) with this input.
    StartFlow {
        /// The flow id.
        flow: String,
        /// The failed run's summary.
        input: Value,
    },
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// No `RunStarted` yet.
    Pending,
    /// Steps are running or waiting.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled on request.
    Cancelled,
}

impl RunStatus {
    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Where a step instance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// An attempt was asked for ([`Action::InvokeStep`]) and has not reported yet.
    Running,
    /// Waiting for a retry delay to pass.
    RetryWaiting,
    /// Waiting for a timer (`core.wait`).
    Sleeping,
    /// Waiting for a signal (`core.signal`).
    AwaitingSignal,
    /// Waiting for a child run (`core.subflow`).
    AwaitingChild,
    /// Running its loop body (`core.foreach`).
    Looping,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error (after its retries).
    Failed,
    /// Not run: every incoming edge was inactive.
    Skipped,
    /// Abandoned because the run or its enclosing loop ended first.
    Cancelled,
}

impl StepStatus {
    /// Whether the step is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled
        )
    }
}

/// What the run history keeps about one step instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// The node id.
    pub id: String,
    /// The display key, such as `each_user[3].greet`.
    pub display: String,
    /// Where the step is.
    pub status: StepStatus,
    /// Attempts made so far (the current attempt while running).
    pub attempts: u32,
    /// The resolved config; `None` when the step was skipped or its config failed to resolve.
    pub input: Option<Value>,
    /// The output, when it succeeded (shared with the expression scope, not copied).
    #[serde(serialize_with = "serialize_shared")]
    pub output: Option<Arc<Value>>,
    /// The port taken, when it succeeded.
    pub port: Option<String>,
    /// The last error (the final one when it failed).
    pub error: Option<StepError>,
    /// When the step was scheduled, or its first attempt reported started.
    pub started_at_ms: Option<i64>,
    /// When it finished.
    pub finished_at_ms: Option<i64>,
    /// Whether the output came from the cache.
    pub cache_hit: bool,
    /// `{run_id}/{display}`.
    pub idempotency_key: String,
    /// The cache request sent with each attempt, kept to re-invoke after a crash.
    pub cache: Option<CacheRequest>,
    /// The highest fencing token seen in `StepStarted`.
    pub fencing: u64,
    /// What its attempts consumed from metered services.
    pub usage: Usage,
}

/// Serializes a shared value as the value itself (serde's `rc` feature is not enabled in the
/// workspace, and a record only ever needs to be written, not read back).
fn serialize_shared<S: serde::Serializer>(
    value: &Option<Arc<Value>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_deref().serialize(serializer)
}

//! [`RunState`] and the transition function: one event in, the actions it calls for out.
//!
//! # How a run advances
//!
//! A run is a tree of *graph instances*: the top-level graph, and one instance of a loop body
//! per `core.foreach` item that has started. Each instance keeps the expression [`Scope`] its
//! steps see (built incrementally: a finished step is inserted once, values are shared through
//! `Arc`s) and one slot per step saying whether it has started or how it ended.
//!
//! When a step ends, each of its successors whose predecessors have all ended is decided: it
//! starts if at least one incoming edge is *active* (the predecessor succeeded through that
//! edge's port, or failed and the edge leaves port `error`), otherwise it is skipped, which in
//! turn decides its own successors. An instance whose steps have all ended is complete: the
//! top level completes the run (evaluating the flow's `output`), a loop body records the item's
//! output and lets the loop start its next item.
//!
//! Work inside one [`RunState::apply`] goes through a FIFO queue rather than recursion, so deep
//! graphs cannot overflow the stack and the order of actions is deterministic.
//!
//! # Failures
//!
//! A step that fails after its retries takes its `error` edges when it has any. Otherwise the
//! failure escalates: at the top level the run fails (and the `on_error` flow is started); in a
//! loop body the enclosing `core.foreach` step fails with the body step's error (its message
//! prefixed with the body step's key), its other items are abandoned, and the same rule applies
//! to the loop step.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use aion_expr::{Scope, StepState};
use aion_plan::{Backoff, Step, Template as PlanTemplate};
use aion_types::Usage;
use serde_json::{Map, Value};

use crate::model::{
    Action, CacheRequest, Event, Frame, RunStatus, StepError, StepKey, StepRecord, StepStatus,
    TimerId,
};
use crate::plan::CompiledPlan;
use crate::util::{Rng, default_cache_key, format_rfc3339, parse_rfc3339};

mod helpers;
mod loops;
mod steps;

use helpers::*;

/// The port of an edge that carries a step's failure.
const ERROR_PORT: &str = "error";
/// The default output port.
const OUT_PORT: &str = "out";

/// Applies `event` to `state` and returns the actions it calls for. Same as
/// [`RunState::apply`].
pub fn apply(state: &mut RunState, event: Event) -> Vec<Action> {
    state.apply(event)
}

/// The run's identity, from `RunStarted`.
#[derive(Clone, Debug, PartialEq)]
struct RunInfo {
    run_id: String,
    flow_id: String,
    flow_version: u64,
    started_at_ms: i64,
    inputs: Arc<Value>,
}

/// Where a step of an instance is, for deciding its successors without looking up records.
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Unstarted,
    Started,
    Succeeded(String),
    Failed,
    Skipped,
}

impl Slot {
    fn is_finished(&self) -> bool {
        matches!(self, Slot::Succeeded(_) | Slot::Failed | Slot::Skipped)
    }

    /// Whether an edge leaving the step through `port` carries the flow.
    fn activates(&self, port: &str) -> bool {
        match self {
            Slot::Succeeded(p) => p == port,
            Slot::Failed => port == ERROR_PORT,
            _ => false,
        }
    }
}

/// One running instance of a graph.
#[derive(Clone, Debug, PartialEq)]
struct Instance {
    scope: Scope,
    slots: Vec<Slot>,
    finished: usize,
}

/// The progress of one `core.foreach` step.
#[derive(Clone, Debug, PartialEq)]
struct LoopState {
    items: Vec<Arc<Value>>,
    concurrency: u32,
    next: u32,
    running: u32,
    done: u32,
    results: Vec<Value>,
}

/// Why a timer was armed.
#[derive(Clone, Debug, PartialEq)]
enum TimerPurpose {
    Retry(StepKey),
    Wait(StepKey),
    SignalTimeout(StepKey),
}

impl TimerPurpose {
    fn key(&self) -> &StepKey {
        match self {
            TimerPurpose::Retry(key)
            | TimerPurpose::Wait(key)
            | TimerPurpose::SignalTimeout(key) => key,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Timer {
    due_ms: i64,
    purpose: TimerPurpose,
}

/// How a step ended.
#[derive(Clone, Debug)]
enum Outcome {
    Succeeded { output: Arc<Value>, port: String },
    Failed(StepError),
    Skipped,
}

/// Work queued inside one `apply`.
#[derive(Debug)]
enum Work {
    Start(StepKey),
    Finish(StepKey, Outcome),
    InstanceDone(Vec<Frame>),
}

/// The engine's maps keyed by step keys and frames: hashed with a fixed seed, iterated in the
/// order of insertion, so the engine stays deterministic. A loop of thousands of items holds
/// as many keys, and an ordered map compares whole key paths on every lookup.
pub type KeyMap<K, V> = indexmap::IndexMap<K, V, foldhash::fast::FixedState>;

/// Everything that changes; compared as a whole to check that replay rebuilds the same state.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    status: RunStatus,
    run: Option<RunInfo>,
    output: Option<Value>,
    error: Option<(StepError, Option<String>)>,
    rng: Rng,
    now_ms: i64,
    steps: KeyMap<StepKey, StepRecord>,
    instances: KeyMap<Vec<Frame>, Instance>,
    loops: KeyMap<StepKey, LoopState>,
    timers: BTreeMap<TimerId, Timer>,
    next_timer: u64,
    /// Steps waiting for a signal, per name, in the order they started waiting.
    waiting: BTreeMap<String, VecDeque<StepKey>>,
    /// Signals that arrived while no step waited for them, per name, oldest first.
    buffered: BTreeMap<String, VecDeque<Value>>,
    /// `StartChildRun` actions of children still awaited, to re-send after a crash.
    children: BTreeMap<StepKey, Action>,
    /// What the run's steps consumed from metered services, all attempts together.
    usage: Usage,
}

/// The state of one run: the compiled plan, the run's metadata and one record per step
/// instance. Feed it events with [`RunState::apply`]; it never performs I/O.
///
/// Two states that received the same events are equal (`==`), which is how replay is checked.
pub struct RunState {
    plan: Arc<CompiledPlan>,
    engine: Arc<aion_expr::Engine>,
    inner: Inner,
    queue: VecDeque<Work>,
    actions: Vec<Action>,
    /// Keys of the step records changed since the last [`RunState::take_touched`] (not part of
    /// the state compared by `==`: a bookkeeping aid for callers that persist records).
    /// Kept as a list: pushing is cheaper than inserting into a set on every change.
    touched: Vec<StepKey>,
}

impl std::fmt::Debug for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunState")
            .field("flow", &self.plan.plan.flow.id)
            .field("status", &self.inner.status)
            .field("steps", &self.inner.steps.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for RunState {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.plan, &other.plan) && self.inner == other.inner
    }
}

impl RunState {
    /// A run that has not started: apply [`Event::RunStarted`] first.
    pub fn new(plan: Arc<CompiledPlan>, engine: Arc<aion_expr::Engine>) -> Self {
        RunState {
            plan,
            engine,
            inner: Inner {
                status: RunStatus::Pending,
                run: None,
                output: None,
                error: None,
                rng: Rng::new(0),
                now_ms: 0,
                steps: KeyMap::default(),
                instances: KeyMap::default(),
                loops: KeyMap::default(),
                timers: BTreeMap::new(),
                next_timer: 0,
                waiting: BTreeMap::new(),
                buffered: BTreeMap::new(),
                children: BTreeMap::new(),
                usage: Usage::ZERO,
            },
            queue: VecDeque::new(),
            actions: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Rebuilds a state from a journal: applies every event in order and drops the actions.
    /// Call [`RunState::pending`] afterwards to know what to resume.
    pub fn replay(
        plan: Arc<CompiledPlan>,
        engine: Arc<aion_expr::Engine>,
        journal: impl IntoIterator<Item = Event>,
    ) -> Self {
        let mut state = RunState::new(plan, engine);
        for event in journal {
            state.apply(event);
        }
        state
    }

    /// The compiled plan the run executes.
    pub fn plan(&self) -> &Arc<CompiledPlan> {
        &self.plan
    }

    /// Where the run is.
    pub fn status(&self) -> RunStatus {
        self.inner.status
    }

    /// The run's id, once started.
    pub fn run_id(&self) -> Option<&str> {
        self.inner.run.as_ref().map(|r| r.run_id.as_str())
    }

    /// The run's input after defaults, once started.
    pub fn inputs(&self) -> Option<&Value> {
        self.inner.run.as_ref().map(|r| &*r.inputs)
    }

    /// What the run's steps consumed from metered services (tokens, cost), every attempt
    /// counted, also those that failed.
    pub fn usage(&self) -> Usage {
        self.inner.usage
    }

    /// The run's output, once it succeeded.
    pub fn output(&self) -> Option<&Value> {
        self.inner.output.as_ref()
    }

    /// Why the run failed, and the display key of the step that failed when a step did.
    pub fn error(&self) -> Option<(&StepError, Option<&str>)> {
        self.inner
            .error
            .as_ref()
            .map(|(error, step)| (error, step.as_deref()))
    }

    /// The keys of the step records that events changed since the last call, and forgets them:
    /// a caller that persists records writes only these instead of comparing every record.
    /// It may name a record that did not actually change, never misses one that did.
    /// The keys come in the order of the changes, a key changed twice named twice.
    pub fn take_touched(&mut self) -> Vec<StepKey> {
        std::mem::take(&mut self.touched)
    }

    /// Every step instance that was decided (started or skipped), in the order they were
    /// decided (the same for every replay of the same journal).
    pub fn steps(&self) -> &KeyMap<StepKey, StepRecord> {
        &self.inner.steps
    }

    /// The record of the step instance with this display key (`each_user[3].greet`).
    pub fn step(&self, display: &str) -> Option<&StepRecord> {
        self.inner.steps.values().find(|r| r.display == display)
    }

    /// The time of the last event applied.
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms
    }

    /// The actions a worker must (re)issue to resume the run after rebuilding this state from
    /// its journal: every armed timer, every step attempt asked for but not reported (same
    /// attempt, same idempotency key), every signal awaited and every child run awaited.
    /// Empty once the run is finished.
    pub fn pending(&self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.inner.status != RunStatus::Running {
            return out;
        }
        for (timer, entry) in &self.inner.timers {
            out.push(Action::ScheduleTimer {
                timer: *timer,
                due_ms: entry.due_ms,
            });
        }
        for (key, record) in &self.inner.steps {
            if record.status == StepStatus::Running
                && let Some(step) = self.plan.step(key)
            {
                out.push(invoke_action(key, record, step));
            }
        }
        for (name, keys) in &self.inner.waiting {
            for key in keys {
                let schema = self
                    .inner
                    .steps
                    .get(key)
                    .and_then(|r| r.input.as_ref())
                    .and_then(|c| c.get("schema"))
                    .filter(|s| !s.is_null())
                    .cloned();
                out.push(Action::AwaitSignal {
                    key: key.clone(),
                    name: name.clone(),
                    schema,
                });
            }
        }
        out.extend(self.inner.children.values().cloned());
        out
    }

    /// Applies one event and returns the actions it calls for, in a deterministic order.
    /// Events that do not apply (a stale attempt, a result for a finished step, anything after
    /// the run finished) change nothing and return no action.
    pub fn apply(&mut self, event: Event) -> Vec<Action> {
        // `RunStarted` applies only to a new run, everything else only to a running one.
        let applies = match event {
            Event::RunStarted { .. } => self.inner.status == RunStatus::Pending,
            _ => self.inner.status == RunStatus::Running,
        };
        if !applies {
            return Vec::new();
        }
        // Time never goes backwards, even if a worker's clock does.
        self.inner.now_ms = self.inner.now_ms.max(event.at_ms());
        match event {
            Event::RunStarted {
                run_id,
                flow_id,
                flow_version,
                input,
                trigger,
                vars,
                at_ms,
                seed,
            } => self.on_run_started(
                run_id,
                flow_id,
                flow_version,
                input,
                trigger,
                vars,
                at_ms,
                seed,
            ),
            Event::StepStarted {
                key,
                attempt,
                fencing,
                at_ms,
            } => {
                self.touched.push(key.clone());
                if let Some(record) = self.inner.steps.get_mut(&key)
                    && record.status == StepStatus::Running
                    && record.attempts == attempt
                    && fencing >= record.fencing
                {
                    record.fencing = fencing;
                    if attempt == 1 {
                        record.started_at_ms = Some(at_ms);
                    }
                }
            }
            Event::StepSucceeded {
                key,
                attempt,
                output,
                port,
                cache_hit,
                usage,
                at_ms,
            } => {
                self.touched.push(key.clone());
                self.add_usage(&key, usage);
                if let Some(record) = self.inner.steps.get_mut(&key)
                    && record.status == StepStatus::Running
                    && record.attempts == attempt
                {
                    // A pure step computed inline journals no start of its own (no fencing
                    // token was ever seen): it started when it finished, not when it was
                    // scheduled, which for a retried run is when the original run got there.
                    if record.fencing == 0 && attempt == 1 {
                        record.started_at_ms = Some(at_ms);
                    }
                    record.cache_hit = cache_hit;
                    let port = port.unwrap_or_else(|| OUT_PORT.to_owned());
                    self.queue.push_back(Work::Finish(
                        key,
                        Outcome::Succeeded {
                            output: Arc::new(output),
                            port,
                        },
                    ));
                }
            }
            Event::StepFailed {
                key,
                attempt,
                error,
                usage,
                at_ms,
            } => {
                self.add_usage(&key, usage);
                self.on_step_failed(key, attempt, error, at_ms);
            }
            Event::TimerFired { timer, .. } => self.on_timer(timer),
            Event::SignalReceived { name, payload, .. } => self.on_signal(name, payload),
            Event::ChildRunFinished { key, result, .. } => {
                if let Some(record) = self.inner.steps.get(&key)
                    && record.status == StepStatus::AwaitingChild
                {
                    self.inner.children.remove(&key);
                    let outcome = match result {
                        Ok(output) => Outcome::Succeeded {
                            output: Arc::new(output),
                            port: OUT_PORT.to_owned(),
                        },
                        Err(error) => Outcome::Failed(error),
                    };
                    self.queue.push_back(Work::Finish(key, outcome));
                }
            }
            Event::CancelRequested { reason, .. } => {
                self.end_run(RunStatus::Cancelled);
                self.actions.push(Action::CancelRun { reason });
            }
        }
        self.drain();
        std::mem::take(&mut self.actions)
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of RunStarted, moved")]
    fn on_run_started(
        &mut self,
        run_id: String,
        flow_id: String,
        flow_version: u64,
        input: Value,
        trigger: Value,
        vars: Value,
        at_ms: i64,
        seed: u64,
    ) {
        if self.inner.status != RunStatus::Pending {
            return;
        }
        let mut inputs = match input {
            Value::Null => Value::Object(Map::new()),
            other => other,
        };
        if let Value::Object(map) = &mut inputs {
            for (name, default) in &self.plan.plan.input_defaults {
                if !map.contains_key(name) {
                    map.insert(name.clone(), default.clone());
                }
            }
        }
        let inputs = Arc::new(inputs);
        let run = serde_json::json!({
            "id": run_id,
            "flow_id": flow_id,
            "flow_version": flow_version,
            "started_at": format_rfc3339(at_ms),
            "trace_id": run_id,
        });
        let scope = Scope::new()
            .with_inputs(Arc::clone(&inputs))
            .with_trigger(trigger)
            .with_vars(vars)
            .with_run(run);
        self.inner.run = Some(RunInfo {
            run_id,
            flow_id,
            flow_version,
            started_at_ms: at_ms,
            inputs,
        });
        self.inner.rng = Rng::new(seed);
        self.inner.status = RunStatus::Running;
        self.open_instance(Vec::new(), scope);
    }

    fn on_step_failed(&mut self, key: StepKey, attempt: u32, error: StepError, at_ms: i64) {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.step(&key) else { return };
        self.touched.push(key.clone());
        let Some(record) = self.inner.steps.get_mut(&key) else {
            return;
        };
        if record.status != StepStatus::Running || record.attempts != attempt {
            return;
        }
        if record.fencing == 0 && attempt == 1 {
            record.started_at_ms = Some(at_ms);
        }
        if error.retryable && attempt < step.retry.max_attempts {
            let delay = retry_delay(&step.retry, attempt, &mut self.inner.rng);
            record.status = StepStatus::RetryWaiting;
            record.error = Some(error);
            let due = at_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
            self.arm_timer(due, TimerPurpose::Retry(key));
        } else {
            self.queue
                .push_back(Work::Finish(key, Outcome::Failed(error)));
        }
    }

    fn on_timer(&mut self, timer: TimerId) {
        let Some(entry) = self.inner.timers.remove(&timer) else {
            return;
        };
        match entry.purpose {
            TimerPurpose::Retry(key) => {
                let plan = Arc::clone(&self.plan);
                if !self.inner.instances.contains_key(&key.frames[..]) {
                    return;
                }
                self.touched.push(key.clone());
                if let (Some(step), Some(record)) =
                    (plan.step(&key), self.inner.steps.get_mut(&key))
                    && record.status == StepStatus::RetryWaiting
                {
                    record.attempts += 1;
                    record.status = StepStatus::Running;
                    self.actions.push(invoke_action(&key, record, step));
                }
            }
            TimerPurpose::Wait(key) => {
                if self.status_of(&key) == Some(StepStatus::Sleeping) {
                    self.queue.push_back(Work::Finish(
                        key,
                        Outcome::Succeeded {
                            output: Arc::new(Value::Null),
                            port: OUT_PORT.to_owned(),
                        },
                    ));
                }
            }
            TimerPurpose::SignalTimeout(key) => {
                if self.status_of(&key) == Some(StepStatus::AwaitingSignal) {
                    for keys in self.inner.waiting.values_mut() {
                        keys.retain(|k| *k != key);
                    }
                    self.inner.waiting.retain(|_, keys| !keys.is_empty());
                    let error = StepError::permanent(
                        "timeout",
                        "no signal arrived before the step's timeout",
                    );
                    self.queue
                        .push_back(Work::Finish(key, Outcome::Failed(error)));
                }
            }
        }
    }

    fn on_signal(&mut self, name: String, payload: Value) {
        let key = self
            .inner
            .waiting
            .get_mut(&name)
            .and_then(VecDeque::pop_front);
        if self
            .inner
            .waiting
            .get(&name)
            .is_some_and(VecDeque::is_empty)
        {
            self.inner.waiting.remove(&name);
        }
        match key {
            Some(key) => self.deliver_signal(key, payload),
            None => self
                .inner
                .buffered
                .entry(name)
                .or_default()
                .push_back(payload),
        }
    }

    fn deliver_signal(&mut self, key: StepKey, payload: Value) {
        // The timeout timer, if any, is disarmed: a late `TimerFired` finds nothing.
        self.inner
            .timers
            .retain(|_, t| t.purpose != TimerPurpose::SignalTimeout(key.clone()));
        self.queue.push_back(Work::Finish(
            key,
            Outcome::Succeeded {
                output: Arc::new(payload),
                port: OUT_PORT.to_owned(),
            },
        ));
    }

    fn status_of(&self, key: &StepKey) -> Option<StepStatus> {
        if !self.inner.instances.contains_key(&key.frames[..]) {
            return None;
        }
        self.inner.steps.get(key).map(|r| r.status)
    }

    fn arm_timer(&mut self, due_ms: i64, purpose: TimerPurpose) {
        let timer = TimerId(self.inner.next_timer);
        self.inner.next_timer += 1;
        self.inner.timers.insert(timer, Timer { due_ms, purpose });
        self.actions.push(Action::ScheduleTimer { timer, due_ms });
    }

    /// Runs queued work until none is left or the run ends.
    fn drain(&mut self) {
        while let Some(work) = self.queue.pop_front() {
            if self.inner.status.is_finished() {
                self.queue.clear();
                break;
            }
            match work {
                Work::Start(key) => self.start(key),
                Work::Finish(key, outcome) => self.finish(key, outcome),
                Work::InstanceDone(frames) => self.instance_done(frames),
            }
        }
    }

    /// Creates a graph instance and queues its entry steps.
    fn open_instance(&mut self, frames: Vec<Frame>, scope: Scope) {
        let plan = Arc::clone(&self.plan);
        let Some(graph) = plan.graph(&frames) else {
            return;
        };
        let instance = Instance {
            scope,
            slots: vec![Slot::Unstarted; graph.steps.len()],
            finished: 0,
        };
        self.inner.instances.insert(frames.clone(), instance);
        if graph.steps.is_empty() {
            self.queue.push_back(Work::InstanceDone(frames));
            return;
        }
        for &index in &graph.order {
            if graph
                .steps
                .get(index as usize)
                .is_some_and(|s| s.inputs.is_empty())
            {
                self.queue
                    .push_back(Work::Start(StepKey::new(frames.clone(), index)));
            }
        }
    }

    /// Counts what an attempt consumed, on its step and on the run, whether or not its result
    /// is accepted: the cost was incurred either way.
    fn add_usage(&mut self, key: &StepKey, usage: Usage) {
        if usage.is_zero() {
            return;
        }
        if let Some(record) = self.inner.steps.get_mut(key) {
            record.usage = record.usage.plus(usage);
            self.inner.usage = self.inner.usage.plus(usage);
        }
    }

    fn new_record(&self, key: &StepKey, step: &Step, status: StepStatus) -> StepRecord {
        let display = self.plan.display(key);
        let run_id = self.inner.run.as_ref().map_or("", |r| r.run_id.as_str());
        let mut idempotency_key = String::with_capacity(run_id.len() + 1 + display.len());
        idempotency_key.push_str(run_id);
        idempotency_key.push('/');
        idempotency_key.push_str(&display);
        StepRecord {
            id: step.id.clone(),
            idempotency_key,
            display,
            status,
            attempts: 0,
            input: None,
            output: None,
            port: None,
            error: None,
            started_at_ms: None,
            finished_at_ms: None,
            cache_hit: false,
            cache: None,
            fencing: 0,
            usage: Usage::ZERO,
        }
    }
}

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
use serde_json::{Map, Value};

use crate::model::{
    Action, CacheRequest, Event, Frame, RunStatus, StepError, StepKey, StepRecord, StepStatus,
    TimerId,
};
use crate::plan::CompiledPlan;
use crate::util::{Rng, default_cache_key, format_rfc3339, parse_rfc3339};

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

/// Everything that changes; compared as a whole to check that replay rebuilds the same state.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    status: RunStatus,
    run: Option<RunInfo>,
    output: Option<Value>,
    error: Option<(StepError, Option<String>)>,
    rng: Rng,
    now_ms: i64,
    steps: BTreeMap<StepKey, StepRecord>,
    instances: BTreeMap<Vec<Frame>, Instance>,
    loops: BTreeMap<StepKey, LoopState>,
    timers: BTreeMap<TimerId, Timer>,
    next_timer: u64,
    /// Steps waiting for a signal, per name, in the order they started waiting.
    waiting: BTreeMap<String, VecDeque<StepKey>>,
    /// Signals that arrived while no step waited for them, per name, oldest first.
    buffered: BTreeMap<String, VecDeque<Value>>,
    /// `StartChildRun` actions of children still awaited, to re-send after a crash.
    children: BTreeMap<StepKey, Action>,
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
                steps: BTreeMap::new(),
                instances: BTreeMap::new(),
                loops: BTreeMap::new(),
                timers: BTreeMap::new(),
                next_timer: 0,
                waiting: BTreeMap::new(),
                buffered: BTreeMap::new(),
                children: BTreeMap::new(),
            },
            queue: VecDeque::new(),
            actions: Vec::new(),
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

    /// Every step instance that was decided (started or skipped), in key order.
    pub fn steps(&self) -> &BTreeMap<StepKey, StepRecord> {
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
                ..
            } => {
                if let Some(record) = self.inner.steps.get_mut(&key)
                    && record.status == StepStatus::Running
                    && record.attempts == attempt
                {
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
                at_ms,
            } => self.on_step_failed(key, attempt, error, at_ms),
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
        let Some(record) = self.inner.steps.get_mut(&key) else {
            return;
        };
        if record.status != StepStatus::Running || record.attempts != attempt {
            return;
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

    fn new_record(&self, key: &StepKey, step: &Step, status: StepStatus) -> StepRecord {
        let display = self.plan.display(key);
        let run_id = self.inner.run.as_ref().map_or("", |r| r.run_id.as_str());
        StepRecord {
            id: step.id.clone(),
            idempotency_key: format!("{run_id}/{display}"),
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
        }
    }

    /// Starts a step: resolves its config and interprets it (control nodes) or asks the
    /// worker to run it.
    fn start(&mut self, key: StepKey) {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.step(&key) else { return };
        let now = self.inner.now_ms;
        let Some(instance) = self.inner.instances.get_mut(&key.frames[..]) else {
            return;
        };
        match instance.slots.get_mut(key.step as usize) {
            Some(slot @ Slot::Unstarted) => *slot = Slot::Started,
            _ => return,
        }
        let scope = instance.scope.clone();
        let mut record = self.new_record(&key, step, StepStatus::Running);
        record.attempts = 1;
        record.started_at_ms = Some(now);
        let config = match self.resolve(&step.config, &scope, "config") {
            Ok(config) => config,
            Err(error) => {
                self.inner.steps.insert(key.clone(), record);
                self.queue
                    .push_back(Work::Finish(key, Outcome::Failed(error)));
                return;
            }
        };
        let succeed = |output: Value, port: &str| Outcome::Succeeded {
            output: Arc::new(output),
            port: port.to_owned(),
        };
        let immediate = match step.node_type.as_str() {
            "core.if" => {
                let condition = config.get("condition").is_some_and(truthy);
                Some(succeed(
                    Value::Bool(condition),
                    if condition { "true" } else { "false" },
                ))
            }
            "core.switch" => {
                let port = config
                    .get("cases")
                    .and_then(Value::as_array)
                    .and_then(|cases| cases.iter().find(|c| c.get("when").is_some_and(truthy)))
                    .and_then(|c| c.get("port"))
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned();
                Some(succeed(Value::String(port.clone()), &port))
            }
            "core.merge" => {
                let mode = config
                    .get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or("object");
                Some(succeed(self.merge(&key, step, mode, &scope), OUT_PORT))
            }
            "core.foreach" => Some(match self.start_loop(&key, &config) {
                Ok(None) => {
                    record.status = StepStatus::Looping;
                    record.input = Some(config);
                    self.inner.steps.insert(key, record);
                    return;
                }
                Ok(Some(empty)) => succeed(empty, OUT_PORT),
                Err(error) => Outcome::Failed(error),
            }),
            "core.wait" => match wait_due(&config, now) {
                Ok(due) if due > now => {
                    record.status = StepStatus::Sleeping;
                    record.input = Some(config);
                    self.inner.steps.insert(key.clone(), record);
                    self.arm_timer(due, TimerPurpose::Wait(key));
                    return;
                }
                Ok(_) => Some(succeed(Value::Null, OUT_PORT)),
                Err(error) => Some(Outcome::Failed(error)),
            },
            "core.signal" => match self.start_signal(&key, &config, now) {
                Ok(Some(payload)) => Some(succeed(payload, OUT_PORT)),
                Ok(None) => {
                    record.status = StepStatus::AwaitingSignal;
                    record.input = Some(config);
                    self.inner.steps.insert(key, record);
                    return;
                }
                Err(error) => Some(Outcome::Failed(error)),
            },
            "core.subflow" => {
                let flow = config.get("flow").and_then(Value::as_str);
                match flow {
                    None => Some(Outcome::Failed(StepError::permanent(
                        "invalid_config",
                        "core.subflow needs a `flow` string",
                    ))),
                    Some(flow) => {
                        let wait = config.get("wait").and_then(Value::as_bool).unwrap_or(true);
                        let action = Action::StartChildRun {
                            key: key.clone(),
                            child_run_id: record.idempotency_key.clone(),
                            flow: flow.to_owned(),
                            version: config.get("version").and_then(Value::as_u64),
                            input: config
                                .get("input")
                                .cloned()
                                .unwrap_or_else(|| Value::Object(Map::new())),
                            wait,
                        };
                        self.actions.push(action.clone());
                        if wait {
                            record.status = StepStatus::AwaitingChild;
                            record.input = Some(config);
                            self.inner.children.insert(key.clone(), action);
                            self.inner.steps.insert(key, record);
                            return;
                        }
                        let child = record.idempotency_key.clone();
                        Some(succeed(serde_json::json!({ "run_id": child }), OUT_PORT))
                    }
                }
            }
            _ => None,
        };
        if let Some(outcome) = immediate {
            record.input = Some(config);
            self.inner.steps.insert(key.clone(), record);
            self.queue.push_back(Work::Finish(key, outcome));
            return;
        }
        // Every other node is run by the worker.
        let mut config = config;
        if step.node_type == "core.transform"
            && let Value::Object(map) = &mut config
            && map.get("input").is_none_or(Value::is_null)
        {
            // jq without `input` reads the whole scope, which only the engine has: it travels
            // in the resolved config so that the worker needs nothing else.
            map.insert("input".into(), scope.to_json());
        }
        if let Some(cache) = &step.cache {
            let key_value = match cache.key.and_then(|id| plan.templates.get(id as usize)) {
                Some(template) => match self.eval(template, &scope, "cache.key") {
                    Ok(Value::String(text)) => text,
                    Ok(other) => other.to_string(),
                    Err(error) => {
                        self.inner.steps.insert(key.clone(), record);
                        self.queue
                            .push_back(Work::Finish(key, Outcome::Failed(error)));
                        return;
                    }
                },
                None => default_cache_key(&step.node_type, step.node_version, &config),
            };
            record.cache = Some(CacheRequest {
                key: key_value,
                ttl_ms: cache.ttl_ms,
            });
        }
        record.input = Some(config);
        self.actions.push(invoke_action(&key, &record, step));
        self.inner.steps.insert(key, record);
    }

    /// The output of a `core.merge`: predecessors whose edge into it is active, in edge order.
    fn merge(&self, key: &StepKey, step: &Step, mode: &str, scope: &Scope) -> Value {
        let plan = &self.plan;
        let Some(instance) = self.inner.instances.get(&key.frames[..]) else {
            return Value::Null;
        };
        let Some(graph) = plan.graph(&key.frames) else {
            return Value::Null;
        };
        let mut seen: Vec<u32> = Vec::new();
        let mut values: Vec<(String, Value)> = Vec::new();
        for link in &step.inputs {
            let active = instance
                .slots
                .get(link.step as usize)
                .is_some_and(|s| s.activates(&link.port));
            if !active || seen.contains(&link.step) {
                continue;
            }
            seen.push(link.step);
            let Some(source) = graph.steps.get(link.step as usize) else {
                continue;
            };
            let value = scope.step(&source.id).map_or(Value::Null, |state| {
                state
                    .output
                    .as_deref()
                    .or(state.error.as_deref())
                    .cloned()
                    .unwrap_or(Value::Null)
            });
            values.push((source.id.clone(), value));
        }
        match mode {
            "array" => Value::Array(values.into_iter().map(|(_, v)| v).collect()),
            "first" => values.into_iter().next().map_or(Value::Null, |(_, v)| v),
            _ => Value::Object(values.into_iter().collect()),
        }
    }

    /// Sets up a `core.foreach`: `Ok(None)` when items started, `Ok(Some([]))` for an empty
    /// list.
    fn start_loop(&mut self, key: &StepKey, config: &Value) -> Result<Option<Value>, StepError> {
        let Some(items) = config.get("items").and_then(Value::as_array) else {
            return Err(StepError::permanent(
                "invalid_config",
                "core.foreach `items` must be a list",
            ));
        };
        if items.is_empty() {
            return Ok(Some(Value::Array(Vec::new())));
        }
        if items.len() > u32::MAX as usize {
            return Err(StepError::permanent(
                "invalid_config",
                "core.foreach `items` is too long",
            ));
        }
        let concurrency = config
            .get("concurrency")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 64) as u32;
        let state = LoopState {
            items: items.iter().cloned().map(Arc::new).collect(),
            concurrency,
            next: 0,
            running: 0,
            done: 0,
            results: vec![Value::Null; items.len()],
        };
        self.inner.loops.insert(key.clone(), state);
        self.fill_loop(key);
        Ok(None)
    }

    /// Starts items of a loop until its concurrency is reached or no item is left.
    fn fill_loop(&mut self, key: &StepKey) {
        let Some(parent_scope) = self
            .inner
            .instances
            .get(&key.frames[..])
            .map(|i| i.scope.clone())
        else {
            return;
        };
        loop {
            let Some(state) = self.inner.loops.get_mut(key) else {
                return;
            };
            if state.running >= state.concurrency || state.next as usize >= state.items.len() {
                return;
            }
            let index = state.next;
            let Some(item) = state.items.get(index as usize).cloned() else {
                return;
            };
            state.next += 1;
            state.running += 1;
            let mut frames = key.frames.clone();
            frames.push(Frame {
                foreach: key.step,
                item: index,
            });
            let scope = parent_scope.clone().with_item(item, u64::from(index));
            self.open_instance(frames, scope);
        }
    }

    /// Arms a `core.signal`: returns a buffered payload at once, or waits.
    fn start_signal(
        &mut self,
        key: &StepKey,
        config: &Value,
        now: i64,
    ) -> Result<Option<Value>, StepError> {
        let Some(name) = config.get("name").and_then(Value::as_str) else {
            return Err(StepError::permanent(
                "invalid_config",
                "core.signal needs a `name` string",
            ));
        };
        let timeout = match config.get("timeout") {
            None | Some(Value::Null) => None,
            Some(value) => Some(duration_ms(value, "timeout")?),
        };
        if let Some(payload) = self
            .inner
            .buffered
            .get_mut(name)
            .and_then(VecDeque::pop_front)
        {
            if self
                .inner
                .buffered
                .get(name)
                .is_some_and(VecDeque::is_empty)
            {
                self.inner.buffered.remove(name);
            }
            return Ok(Some(payload));
        }
        self.inner
            .waiting
            .entry(name.to_owned())
            .or_default()
            .push_back(key.clone());
        self.actions.push(Action::AwaitSignal {
            key: key.clone(),
            name: name.to_owned(),
            schema: config.get("schema").filter(|s| !s.is_null()).cloned(),
        });
        if let Some(ms) = timeout {
            let due = now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            self.arm_timer(due, TimerPurpose::SignalTimeout(key.clone()));
        }
        Ok(None)
    }

    /// Records how a step ended and decides its successors.
    fn finish(&mut self, key: StepKey, outcome: Outcome) {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.step(&key) else { return };
        let Some(graph) = plan.graph(&key.frames) else {
            return;
        };
        let now = self.inner.now_ms;
        let Some(instance) = self.inner.instances.get_mut(&key.frames[..]) else {
            return;
        };
        let Some(slot) = instance.slots.get_mut(key.step as usize) else {
            return;
        };
        if slot.is_finished() {
            return;
        }
        let skipped = matches!(outcome, Outcome::Skipped);
        if skipped && *slot != Slot::Unstarted {
            return;
        }
        let attempts = self.inner.steps.get(&key).map_or(1, |r| r.attempts.max(1));
        let (new_slot, state, status) = match &outcome {
            Outcome::Succeeded { output, port } => (
                Slot::Succeeded(port.clone()),
                StepState::succeeded(Arc::clone(output)),
                StepStatus::Succeeded,
            ),
            Outcome::Failed(error) => (
                Slot::Failed,
                StepState::failed(error_object(error, attempts)),
                StepStatus::Failed,
            ),
            Outcome::Skipped => (Slot::Skipped, StepState::skipped(), StepStatus::Skipped),
        };
        *slot = new_slot;
        instance.finished += 1;
        instance.scope.insert_step(step.id.clone(), state);
        let complete = instance.finished >= instance.slots.len();
        if !self.inner.steps.contains_key(&key) {
            let record = self.new_record(&key, step, status);
            self.inner.steps.insert(key.clone(), record);
        }
        let Some(record) = self.inner.steps.get_mut(&key) else {
            return;
        };
        record.status = status;
        record.finished_at_ms = Some(now);
        match outcome {
            Outcome::Succeeded { output, port } => {
                record.output = Some(output);
                record.port = Some(port);
                record.error = None;
            }
            Outcome::Failed(error) => {
                let display = record.display.clone();
                record.error = Some(error.clone());
                if self.inner.loops.contains_key(&key) {
                    self.close_loop(&key);
                }
                if !step.outputs.iter().any(|l| l.port == ERROR_PORT) {
                    self.escalate(&key.frames, error, display);
                    return;
                }
            }
            Outcome::Skipped => {}
        }
        if self.inner.loops.contains_key(&key) {
            self.inner.loops.remove(&key);
        }
        // Decide each successor whose predecessors have now all ended.
        let Some(instance) = self.inner.instances.get(&key.frames[..]) else {
            return;
        };
        let mut decided: Vec<u32> = Vec::new();
        for link in &step.outputs {
            if decided.contains(&link.step) {
                continue;
            }
            let Some(target) = graph.steps.get(link.step as usize) else {
                continue;
            };
            if instance.slots.get(link.step as usize) != Some(&Slot::Unstarted) {
                continue;
            }
            let mut ready = true;
            let mut active = false;
            for input in &target.inputs {
                match instance.slots.get(input.step as usize) {
                    Some(slot) if slot.is_finished() => active |= slot.activates(&input.port),
                    _ => {
                        ready = false;
                        break;
                    }
                }
            }
            if !ready {
                continue;
            }
            decided.push(link.step);
            let target_key = StepKey::new(key.frames.clone(), link.step);
            self.queue.push_back(if active {
                Work::Start(target_key)
            } else {
                Work::Finish(target_key, Outcome::Skipped)
            });
        }
        if complete {
            self.queue.push_back(Work::InstanceDone(key.frames));
        }
    }

    /// A failure without an error edge: fails the run at the top level, or the enclosing loop.
    fn escalate(&mut self, frames: &[Frame], error: StepError, display: String) {
        match frames.split_last() {
            None => self.fail_run(error, Some(display)),
            Some((last, outer)) => {
                let loop_key = StepKey::new(outer.to_vec(), last.foreach);
                // Abandon the loop's other items now, so that steps already queued in them
                // do not start.
                self.close_loop(&loop_key);
                let error = StepError {
                    message: format!("{display}: {}", error.message),
                    retryable: false,
                    ..error
                };
                self.queue
                    .push_back(Work::Finish(loop_key, Outcome::Failed(error)));
            }
        }
    }

    /// Abandons a loop's items: their instances go, their unfinished steps are cancelled.
    fn close_loop(&mut self, key: &StepKey) {
        self.inner.loops.remove(key);
        let depth = key.frames.len();
        let inside = |frames: &[Frame]| {
            frames.len() > depth
                && frames[..depth] == key.frames[..]
                && frames[depth].foreach == key.step
        };
        self.inner.instances.retain(|frames, _| !inside(frames));
        self.inner.loops.retain(|k, _| !inside(&k.frames));
        self.inner.children.retain(|k, _| !inside(&k.frames));
        // Timers of abandoned steps would only be ignored when they fire; dropping them keeps
        // `pending` from re-arming them after a crash.
        self.inner
            .timers
            .retain(|_, t| !inside(&t.purpose.key().frames));
        for keys in self.inner.waiting.values_mut() {
            keys.retain(|k| !inside(&k.frames));
        }
        self.inner.waiting.retain(|_, keys| !keys.is_empty());
        let now = self.inner.now_ms;
        for (k, record) in self.inner.steps.iter_mut() {
            if inside(&k.frames) && !record.status.is_finished() {
                record.status = StepStatus::Cancelled;
                record.finished_at_ms = Some(now);
            }
        }
    }

    /// Every step of an instance has ended.
    fn instance_done(&mut self, frames: Vec<Frame>) {
        let plan = Arc::clone(&self.plan);
        let Some((last, outer)) = frames.split_last() else {
            // The top level: the run succeeded.
            let Some(instance) = self.inner.instances.get(&frames[..]) else {
                return;
            };
            let scope = instance.scope.clone();
            let output = match &plan.plan.output {
                Some(template) => match self.resolve(template, &scope, "output") {
                    Ok(output) => output,
                    Err(error) => {
                        self.fail_run(error, None);
                        return;
                    }
                },
                None => Value::Null,
            };
            self.end_run(RunStatus::Succeeded);
            self.inner.output = Some(output.clone());
            self.actions.push(Action::CompleteRun { output });
            return;
        };
        let loop_key = StepKey::new(outer.to_vec(), last.foreach);
        let Some(instance) = self.inner.instances.remove(&frames) else {
            return;
        };
        let body_output = plan
            .step(&loop_key)
            .and_then(|s| s.body.as_ref())
            .and_then(|b| b.output.as_ref());
        let value = match body_output {
            Some(template) => match self.resolve(template, &instance.scope, "body.output") {
                Ok(value) => value,
                Err(error) => {
                    let display = plan.display(&loop_key);
                    let item_display = format!("{display}[{}]", last.item);
                    self.escalate(&frames, error, item_display);
                    return;
                }
            },
            None => Value::Null,
        };
        let Some(state) = self.inner.loops.get_mut(&loop_key) else {
            return;
        };
        if let Some(slot) = state.results.get_mut(last.item as usize) {
            *slot = value;
        }
        state.done += 1;
        state.running = state.running.saturating_sub(1);
        if state.done as usize >= state.items.len() {
            let results = std::mem::take(&mut state.results);
            self.queue.push_back(Work::Finish(
                loop_key,
                Outcome::Succeeded {
                    output: Arc::new(Value::Array(results)),
                    port: OUT_PORT.to_owned(),
                },
            ));
        } else {
            self.fill_loop(&loop_key);
        }
    }

    fn fail_run(&mut self, error: StepError, step: Option<String>) {
        self.end_run(RunStatus::Failed);
        self.inner.error = Some((error.clone(), step.clone()));
        if let Some(flow) = self.plan.plan.on_error.clone() {
            let run = self.inner.run.as_ref();
            let input = serde_json::json!({
                "run": {
                    "id": run.map(|r| r.run_id.as_str()),
                    "flow_id": run.map(|r| r.flow_id.as_str()),
                    "flow_version": run.map(|r| r.flow_version),
                    "started_at": run.map(|r| format_rfc3339(r.started_at_ms)),
                    "failed_at": format_rfc3339(self.inner.now_ms),
                },
                "step": step,
                "error": error,
            });
            self.actions.push(Action::FailRun { error, step });
            self.actions.push(Action::StartFlow { flow, input });
        } else {
            self.actions.push(Action::FailRun { error, step });
        }
    }

    /// Marks the run finished and abandons everything still in flight.
    fn end_run(&mut self, status: RunStatus) {
        self.inner.status = status;
        let now = self.inner.now_ms;
        for record in self.inner.steps.values_mut() {
            if !record.status.is_finished() {
                record.status = StepStatus::Cancelled;
                record.finished_at_ms = Some(now);
            }
        }
        self.inner.timers.clear();
        self.inner.waiting.clear();
        self.inner.children.clear();
        self.inner.loops.clear();
        // The scopes hold every output of the run; the records keep what history needs.
        self.inner.instances.clear();
        self.queue.clear();
    }

    /// Evaluates a plan template (a JSON value with expressions at some pointers).
    fn resolve(
        &self,
        template: &PlanTemplate,
        scope: &Scope,
        place: &str,
    ) -> Result<Value, StepError> {
        if template.bindings.is_empty() {
            return Ok(template.value.clone());
        }
        let mut value = template.value.clone();
        for binding in &template.bindings {
            let Some(compiled) = self.plan.templates.get(binding.expression as usize) else {
                continue;
            };
            // The place is only formatted when evaluation fails.
            let result = self.engine.eval(compiled, scope).map_err(|error| {
                expression_error(compiled, &format!("{place}{}", binding.pointer), &error)
            })?;
            if binding.pointer.is_empty() {
                value = result;
            } else if let Some(slot) = value.pointer_mut(&binding.pointer) {
                *slot = result;
            }
        }
        Ok(value)
    }

    fn eval(
        &self,
        template: &aion_expr::Template,
        scope: &Scope,
        place: &str,
    ) -> Result<Value, StepError> {
        self.engine
            .eval(template, scope)
            .map_err(|error| expression_error(template, place, &error))
    }
}

/// The step error for a failed evaluation: kind `expression`, not retryable, naming the
/// expression, where it sits (`config/value/0`) and what went wrong (for an undefined value,
/// the path). The pieces are also in `details` for programs.
fn expression_error(
    template: &aion_expr::Template,
    place: &str,
    error: &aion_expr::EvalError,
) -> StepError {
    StepError {
        kind: "expression".into(),
        message: format!(
            "expression `{}` in {place} failed: {error}",
            template.source()
        ),
        retryable: false,
        details: Some(serde_json::json!({
            "expression": template.source(),
            "place": place,
            "reason": error.kind().as_str(),
        })),
    }
}

/// The `InvokeStep` for a step's current attempt.
fn invoke_action(key: &StepKey, record: &StepRecord, step: &Step) -> Action {
    Action::InvokeStep {
        key: key.clone(),
        attempt: record.attempts,
        node_type: step.node_type.clone(),
        node_version: step.node_version,
        config: record.input.clone().unwrap_or(Value::Null),
        credential: step.credential.clone(),
        idempotency_key: record.idempotency_key.clone(),
        timeout_ms: step.timeout_ms,
        cache: record.cache.clone(),
        side_effects: step.side_effects,
    }
}

/// `steps.<id>.error`: `{kind, message, attempts}`, plus `details` when the node gave some.
fn error_object(error: &StepError, attempts: u32) -> Value {
    let mut map = Map::new();
    map.insert("kind".into(), Value::String(error.kind.clone()));
    map.insert("message".into(), Value::String(error.message.clone()));
    map.insert("attempts".into(), Value::from(attempts));
    if let Some(details) = &error.details {
        map.insert("details".into(), details.clone());
    }
    Value::Object(map)
}

/// The delay before retrying after failed attempt `attempt` (from 1): `initial` (fixed) or
/// `initial * 2^(attempt-1)` (exponential), never more than `max`; with jitter, a uniform draw
/// in `0..=delay` ("full jitter", which spreads retries of many runs best).
fn retry_delay(retry: &aion_plan::Retry, attempt: u32, rng: &mut Rng) -> u64 {
    let base = match retry.backoff {
        Backoff::Fixed => retry.initial_ms,
        Backoff::Exponential => {
            let shift = attempt.saturating_sub(1).min(63);
            retry.initial_ms.saturating_mul(1u64 << shift)
        }
    };
    let delay = base.min(retry.max_ms);
    if retry.jitter {
        rng.up_to(delay)
    } else {
        delay
    }
}

/// Jinja truthiness: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn duration_ms(value: &Value, field: &str) -> Result<u64, StepError> {
    let text = value.as_str().unwrap_or_default();
    aion_types::Duration::parse(text)
        .map(aion_types::Duration::as_millis)
        .map_err(|error| StepError::permanent("invalid_config", format!("`{field}`: {error}")))
}

/// When a `core.wait` is due.
fn wait_due(config: &Value, now: i64) -> Result<i64, StepError> {
    if let Some(duration) = config.get("duration").filter(|v| !v.is_null()) {
        let ms = duration_ms(duration, "duration")?;
        return Ok(now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
    }
    match config.get("until") {
        Some(Value::String(text)) => parse_rfc3339(text).ok_or_else(|| {
            StepError::permanent(
                "invalid_config",
                format!("`until`: `{text}` is not an RFC 3339 instant"),
            )
        }),
        _ => Err(StepError::permanent(
            "invalid_config",
            "core.wait needs `duration` or `until`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays() {
        let mut rng = Rng::new(1);
        let mut retry = aion_plan::Retry {
            max_attempts: 10,
            backoff: Backoff::Exponential,
            initial_ms: 100,
            max_ms: 1_000,
            jitter: false,
        };
        let delays: Vec<u64> = (1..=6).map(|a| retry_delay(&retry, a, &mut rng)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(retry_delay(&retry, u32::MAX, &mut rng), 1_000);
        retry.backoff = Backoff::Fixed;
        assert_eq!(retry_delay(&retry, 5, &mut rng), 100);
        retry.jitter = true;
        retry.backoff = Backoff::Exponential;
        for attempt in 1..20 {
            assert!(retry_delay(&retry, attempt, &mut rng) <= 1_000);
        }
    }

    #[test]
    fn truthiness_follows_jinja() {
        for value in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&value), "{value}");
        }
        for value in [
            json!(true),
            json!(1),
            json!(-0.5),
            json!("x"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(truthy(&value), "{value}");
        }
    }

    use serde_json::json;
}

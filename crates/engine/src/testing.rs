//! A deterministic harness that plays the worker's part: [`TestEnv`] runs a plan to completion
//! with a fake clock and scripted step results, and records every event and action.
//!
//! It is compiled into the library (it does no I/O and needs no extra dependency) so that other
//! crates' tests and the benches can drive the engine the same way the engine's tests do.
//!
//! The fake worker completes invocations one at a time, first asked first served, each taking
//! [`TestEnv::latency_ms`] of fake time. When nothing is in flight, the clock jumps to the next
//! timer or scripted event (signal, cancellation). A run that waits for something that never
//! comes simply stops: [`TestEnv::run`] returns and the state stays `Running`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{Action, Event, RunStatus, StepError, StepKey, TimerId};
use crate::plan::{CompiledPlan, PlanError};
use crate::state::RunState;

/// What a scripted step returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Success on port `out`.
    Ok(Value),
    /// Success on a named port.
    Port(Value, String),
    /// Success served from the cache.
    Cached(Value),
    /// Failure.
    Err(StepError),
    /// No answer, ever (the step stays in flight).
    Hang,
}

/// One invocation, as a scripted handler sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// The step's display key (`each_user[3].greet`).
    pub display: String,
    /// The node id.
    pub step_id: String,
    /// The node type.
    pub node_type: String,
    /// The attempt, from 1.
    pub attempt: u32,
    /// The resolved config.
    pub config: Value,
    /// The fake time of the call.
    pub at_ms: i64,
    /// The action as the engine sent it.
    pub action: Action,
}

type Handler = Box<dyn FnMut(&Invocation) -> Reply>;
type ChildHandler = Box<dyn FnMut(&Value) -> Result<Value, StepError>>;

/// A fake worker around one [`RunState`].
pub struct TestEnv {
    state: RunState,
    engine: Arc<aion_expr::Engine>,
    now_ms: i64,
    /// Fake time each invocation takes.
    pub latency_ms: i64,
    /// Seed passed in `RunStarted`.
    pub seed: u64,
    by_step: BTreeMap<String, Handler>,
    by_type: BTreeMap<String, Handler>,
    children: BTreeMap<String, ChildHandler>,
    in_flight: VecDeque<Invocation>,
    hung: Vec<Invocation>,
    timers: BTreeMap<(i64, TimerId), ()>,
    scheduled: Vec<(i64, u64, Event)>,
    sequence: u64,
    journal: Vec<Event>,
    actions: Vec<Action>,
    invocations: Vec<Invocation>,
    max_in_flight: BTreeMap<String, usize>,
    trace: String,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("state", &self.state)
            .field("now_ms", &self.now_ms)
            .finish_non_exhaustive()
    }
}

impl TestEnv {
    /// An environment for `plan`, with the clock at 0 and built-in behaviour for `core.set`,
    /// `core.noop`, `core.log`, `core.fail` and `core.transform`.
    pub fn new(plan: aion_plan::Plan) -> Result<Self, PlanError> {
        let engine = Arc::new(aion_expr::Engine::default());
        let compiled = Arc::new(CompiledPlan::new(plan, &engine)?);
        Ok(Self::with_compiled(compiled, engine))
    }

    /// An environment for an already compiled plan.
    pub fn with_compiled(plan: Arc<CompiledPlan>, engine: Arc<aion_expr::Engine>) -> Self {
        TestEnv {
            state: RunState::new(plan, Arc::clone(&engine)),
            engine,
            now_ms: 0,
            latency_ms: 0,
            seed: 42,
            by_step: BTreeMap::new(),
            by_type: BTreeMap::new(),
            children: BTreeMap::new(),
            in_flight: VecDeque::new(),
            hung: Vec::new(),
            timers: BTreeMap::new(),
            scheduled: Vec::new(),
            sequence: 0,
            journal: Vec::new(),
            actions: Vec::new(),
            invocations: Vec::new(),
            max_in_flight: BTreeMap::new(),
            trace: String::new(),
        }
    }

    /// Scripts the step with this node id (in every loop iteration).
    pub fn on_step(&mut self, id: &str, handler: impl FnMut(&Invocation) -> Reply + 'static) {
        self.by_step.insert(id.to_owned(), Box::new(handler));
    }

    /// Scripts every step of this node type that has no step script.
    pub fn on_type(
        &mut self,
        node_type: &str,
        handler: impl FnMut(&Invocation) -> Reply + 'static,
    ) {
        self.by_type.insert(node_type.to_owned(), Box::new(handler));
    }

    /// Scripts child runs of flow `flow`: input in, result out.
    pub fn on_child(
        &mut self,
        flow: &str,
        handler: impl FnMut(&Value) -> Result<Value, StepError> + 'static,
    ) {
        self.children.insert(flow.to_owned(), Box::new(handler));
    }

    /// Sends signal `name` at fake time `at_ms`.
    pub fn signal_at(&mut self, at_ms: i64, name: &str, payload: Value) {
        self.schedule(
            at_ms,
            Event::SignalReceived {
                name: name.to_owned(),
                payload,
                at_ms,
            },
        );
    }

    /// Requests cancellation at fake time `at_ms`.
    pub fn cancel_at(&mut self, at_ms: i64, reason: &str) {
        self.schedule(
            at_ms,
            Event::CancelRequested {
                reason: reason.to_owned(),
                at_ms,
            },
        );
    }

    fn schedule(&mut self, at_ms: i64, event: Event) {
        self.sequence += 1;
        self.scheduled.push((at_ms, self.sequence, event));
    }

    /// Starts the run (`run_id` `run-1`, flow version 1) with this input and runs it.
    pub fn run(&mut self, input: Value) -> RunStatus {
        self.run_with(input, Value::Null, Value::Null)
    }

    /// Starts the run with input, trigger and vars, and runs it as far as it goes.
    pub fn run_with(&mut self, input: Value, trigger: Value, vars: Value) -> RunStatus {
        let flow_id = self.state.plan().plan.flow.id.clone();
        self.feed(Event::RunStarted {
            run_id: "run-1".into(),
            flow_id,
            flow_version: 1,
            input,
            trigger,
            vars,
            at_ms: self.now_ms,
            seed: self.seed,
        });
        self.resume()
    }

    /// Plays the worker until the run finishes or nothing more can happen.
    pub fn resume(&mut self) -> RunStatus {
        // A generous bound so that a bug cannot loop forever in a test.
        for _ in 0..10_000_000u32 {
            if self.state.status().is_finished() {
                break;
            }
            if let Some(invocation) = self.in_flight.pop_front() {
                self.execute(invocation);
                continue;
            }
            let next_timer = self.timers.keys().next().copied();
            let next_event = self
                .scheduled
                .iter()
                .enumerate()
                .min_by_key(|(_, (at, seq, _))| (*at, *seq))
                .map(|(i, (at, _, _))| (i, *at));
            match (next_timer, next_event) {
                (None, None) => break,
                (Some((due, timer)), event) if event.is_none_or(|(_, at)| due <= at) => {
                    self.timers.remove(&(due, timer));
                    self.now_ms = self.now_ms.max(due);
                    self.feed(Event::TimerFired {
                        timer,
                        at_ms: self.now_ms,
                    });
                }
                (_, Some((index, at))) => {
                    let (_, _, event) = self.scheduled.remove(index);
                    self.now_ms = self.now_ms.max(at);
                    self.feed(event);
                }
                (Some(_), None) => break,
            }
        }
        self.state.status()
    }

    /// Runs one invocation through its script.
    fn execute(&mut self, mut invocation: Invocation) {
        self.now_ms += self.latency_ms;
        invocation.at_ms = self.now_ms;
        let Action::InvokeStep { key, attempt, .. } = &invocation.action else {
            return;
        };
        let (key, attempt) = (key.clone(), *attempt);
        self.feed(Event::StepStarted {
            key: key.clone(),
            attempt,
            fencing: 1,
            at_ms: self.now_ms,
        });
        self.invocations.push(invocation.clone());
        let reply = if let Some(handler) = self.by_step.get_mut(&invocation.step_id) {
            handler(&invocation)
        } else if let Some(handler) = self.by_type.get_mut(&invocation.node_type) {
            handler(&invocation)
        } else {
            self.builtin(&invocation)
        };
        let at_ms = self.now_ms;
        let event = match reply {
            Reply::Hang => {
                self.hung.push(invocation);
                return;
            }
            Reply::Ok(output) => succeeded(key, attempt, output, None, false, at_ms),
            Reply::Port(output, port) => succeeded(key, attempt, output, Some(port), false, at_ms),
            Reply::Cached(output) => succeeded(key, attempt, output, None, true, at_ms),
            Reply::Err(error) => Event::StepFailed {
                usage: Default::default(),
                key,
                attempt,
                error,
                at_ms,
            },
        };
        self.feed(event);
    }

    /// What the real nodes would do, for the nodes the tests use without a script.
    fn builtin(&self, invocation: &Invocation) -> Reply {
        let config = &invocation.config;
        match invocation.node_type.as_str() {
            "core.set" => Reply::Ok(config.get("value").cloned().unwrap_or(Value::Null)),
            "core.noop" => Reply::Ok(Value::Null),
            "core.log" => Reply::Ok(serde_json::json!({
                "level": config.get("level").cloned().unwrap_or(Value::Null),
                "message": config.get("message").cloned().unwrap_or(Value::Null),
            })),
            "core.fail" => Reply::Err(StepError {
                kind: config
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("flow_failed")
                    .to_owned(),
                message: config
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                retryable: false,
                details: config.get("details").cloned(),
            }),
            "core.transform" => {
                let program = config.get("program").and_then(Value::as_str).unwrap_or(".");
                let input = config.get("input").cloned().unwrap_or(Value::Null);
                let result = self
                    .engine
                    .compile_jq(program)
                    .map_err(|e| e.to_string())
                    .and_then(|p| self.engine.run_jq(&p, input).map_err(|e| e.to_string()));
                match result {
                    Ok(value) => Reply::Ok(value),
                    Err(message) => Reply::Err(StepError::permanent("jq", message)),
                }
            }
            other => Reply::Err(StepError::permanent(
                "no_handler",
                format!("no script for node type `{other}`"),
            )),
        }
    }

    /// Applies an event as the worker would, and carries out the actions.
    pub fn feed(&mut self, event: Event) {
        let _ = writeln!(
            self.trace,
            "{:>6} > {}",
            self.now_ms,
            describe_event(&self.state, &event)
        );
        self.journal.push(event.clone());
        let actions = self.state.apply(event);
        for action in actions {
            let _ = writeln!(
                self.trace,
                "       < {}",
                describe_action(&self.state, &action)
            );
            self.actions.push(action.clone());
            match &action {
                Action::InvokeStep {
                    key,
                    attempt,
                    node_type,
                    config,
                    ..
                } => {
                    let plan = self.state.plan();
                    let step_id = plan.step(key).map(|s| s.id.clone()).unwrap_or_default();
                    let invocation = Invocation {
                        display: plan.display(key),
                        step_id: step_id.clone(),
                        node_type: node_type.clone(),
                        attempt: *attempt,
                        config: config.clone(),
                        at_ms: self.now_ms,
                        action: action.clone(),
                    };
                    self.in_flight.push_back(invocation);
                    let count = self
                        .in_flight
                        .iter()
                        .filter(|i| i.step_id == step_id)
                        .count();
                    let max = self.max_in_flight.entry(step_id).or_default();
                    *max = (*max).max(count);
                }
                Action::ScheduleTimer { timer, due_ms } => {
                    self.timers.insert((*due_ms, *timer), ());
                }
                Action::StartChildRun {
                    key,
                    flow,
                    input,
                    wait,
                    ..
                } => {
                    let result = match self.children.get_mut(flow) {
                        Some(handler) => handler(input),
                        None => Err(StepError::permanent(
                            "no_handler",
                            format!("no script for flow `{flow}`"),
                        )),
                    };
                    if *wait {
                        let at_ms = self.now_ms;
                        self.schedule(
                            at_ms,
                            Event::ChildRunFinished {
                                key: key.clone(),
                                result,
                                at_ms,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// Moves the fake clock forward.
    pub fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
    }

    /// The fake time.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The run state.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// Every event applied, in order: the run's journal.
    pub fn journal(&self) -> &[Event] {
        &self.journal
    }

    /// Every action the engine returned, in order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Every invocation the fake worker ran, in order.
    pub fn invocations(&self) -> &[Invocation] {
        &self.invocations
    }

    /// Invocations of one node id, in order.
    pub fn invocations_of(&self, step_id: &str) -> Vec<&Invocation> {
        self.invocations
            .iter()
            .filter(|i| i.step_id == step_id)
            .collect()
    }

    /// Invocations that were answered with [`Reply::Hang`].
    pub fn hung(&self) -> &[Invocation] {
        &self.hung
    }

    /// The largest number of invocations of one node id in flight at once.
    pub fn max_in_flight(&self, step_id: &str) -> usize {
        self.max_in_flight.get(step_id).copied().unwrap_or(0)
    }

    /// A readable log of events (`>`) and actions (`<`), for snapshots.
    pub fn trace(&self) -> &str {
        &self.trace
    }
}

fn succeeded(
    key: StepKey,
    attempt: u32,
    output: Value,
    port: Option<String>,
    cache_hit: bool,
    at_ms: i64,
) -> Event {
    Event::StepSucceeded {
        usage: Default::default(),
        key,
        attempt,
        output,
        port,
        cache_hit,
        at_ms,
    }
}

fn describe_event(state: &RunState, event: &Event) -> String {
    let plan = state.plan();
    match event {
        Event::RunStarted { input, .. } => format!("run_started {input}"),
        Event::StepStarted { key, attempt, .. } => {
            format!("step_started {}#{attempt}", plan.display(key))
        }
        Event::StepSucceeded {
            key,
            attempt,
            output,
            port,
            cache_hit,
            ..
        } => format!(
            "step_succeeded {}#{attempt} {output}{}{}",
            plan.display(key),
            port.as_ref()
                .map(|p| format!(" port={p}"))
                .unwrap_or_default(),
            if *cache_hit { " (cache hit)" } else { "" }
        ),
        Event::StepFailed {
            key,
            attempt,
            error,
            ..
        } => format!(
            "step_failed {}#{attempt} {}: {}{}",
            plan.display(key),
            error.kind,
            error.message,
            if error.retryable { " (retryable)" } else { "" }
        ),
        Event::TimerFired { timer, .. } => format!("timer_fired {}", timer.0),
        Event::SignalReceived { name, payload, .. } => format!("signal {name} {payload}"),
        Event::ChildRunFinished { key, result, .. } => match result {
            Ok(value) => format!("child_finished {} {value}", plan.display(key)),
            Err(error) => format!("child_failed {} {}", plan.display(key), error.kind),
        },
        Event::CancelRequested { reason, .. } => format!("cancel {reason}"),
    }
}

fn describe_action(state: &RunState, action: &Action) -> String {
    let plan = state.plan();
    match action {
        Action::InvokeStep {
            key,
            attempt,
            node_type,
            config,
            ..
        } => format!(
            "invoke {}#{attempt} {node_type} {config}",
            plan.display(key)
        ),
        Action::ScheduleTimer { timer, due_ms } => format!("timer {} at {due_ms}", timer.0),
        Action::AwaitSignal { key, name, .. } => format!("await {} {name}", plan.display(key)),
        Action::StartChildRun {
            key,
            flow,
            input,
            wait,
            ..
        } => format!(
            "start_child {} {flow} {input} wait={wait}",
            plan.display(key)
        ),
        Action::CompleteRun { output } => format!("complete {output}"),
        Action::FailRun { error, step } => format!(
            "fail {} {}: {}",
            step.as_deref().unwrap_or("-"),
            error.kind,
            error.message
        ),
        Action::CancelRun { reason } => format!("cancel_run {reason}"),
        Action::StartFlow { flow, input } => format!("start_flow {flow} {input}"),
    }
}

//! Driving one run while holding its lease: replay, perform actions, commit every event with
//! what it changed before acting on it.
//!
//! One commit per step: the `StepStarted` of a step is committed together with the event that
//! caused it (the previous result, or `RunStarted`), and results that arrive together share a
//! commit. Only the step records the engine reports as touched are compared and written.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aion_engine::{
    Action, Event, RunState, RunStatus as EngineStatus, StepError, StepKey, StepStatus, TimerId,
};
use aion_store::{
    CachePut, CommitRequest, Lease, RenewRequest, Run, RunStatus, RunUpdate, TimerOp,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::invoke::{self, Attempt, Done, Logs};

/// The most journal records, and bytes of them, staged by a chain of pure steps before they
/// are committed anyway, which bounds the memory they hold and the work a crash can lose.
const MAX_STAGED: usize = 512;
const MAX_STAGED_BYTES: usize = 4 << 20;
use crate::journal::{self, history};
use crate::{Error, Progress, Runtime, failpoints};

mod children;

/// The first journal events of a run and the log lines of the steps they already finished
/// (a retry reuses both from the run it retries).
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Events, starting with `RunStarted`.
    pub events: Vec<Event>,
    /// Log lines by step display key.
    pub logs: BTreeMap<String, Vec<aion_store::LogLine>>,
}

/// How driving a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The run is over; this is its final row.
    Finished(Box<Run>),
    /// The worker stopped (shutdown or lost lease) and the run can resume elsewhere.
    Released,
}

/// A finished attempt, sent back to the driver.
struct Completion {
    key: StepKey,
    attempt: u32,
    done: Done,
    logs: Vec<aion_store::LogLine>,
}

/// What the history knows of a step, to upsert only rows that changed.
type Snapshot = (StepStatus, u32, Option<i64>, u64);

struct Driver {
    rt: Arc<Runtime>,
    workspace: String,
    run_id: String,
    epoch: u64,
    state: RunState,
    last_seq: u64,
    row_status: RunStatus,
    /// What the store holds of each step (hashed: a loop has thousands of keys, and each
    /// ordered lookup compares whole key paths).
    committed: foldhash::HashMap<StepKey, Snapshot>,
    logs: foldhash::HashMap<StepKey, Vec<aion_store::LogLine>>,
    in_flight: BTreeMap<StepKey, (u32, tokio::task::AbortHandle)>,
    timers: BTreeMap<TimerId, i64>,
    queue: VecDeque<Action>,
    tx: mpsc::UnboundedSender<Completion>,
    renewed_ms: i64,
    /// Attempts whose `StepStarted` was already committed with the event that caused them.
    prestarted: BTreeSet<(StepKey, u32)>,
    /// Events applied but not committed yet, see [`Driver::flush`].
    staged: Staged,
    /// The run row as of the last commit (only this driver changes it while it holds the lease).
    row: Run,
    /// The start instant, until a commit carries it.
    start_ms: Option<i64>,
    /// A commit of pure steps' records still on its way (see [`Driver::drain`]).
    detached: Option<tokio::task::JoinHandle<Result<aion_store::CommitReceipt, aion_store::Error>>>,
    /// Bytes of journal payload staged.
    staged_bytes: usize,
    /// Woken when a child run this run waits for ends in this process.
    child_ended: Arc<tokio::sync::Notify>,
    /// Woken when a cancellation is stored for this run by this process.
    cancel_notice: Arc<tokio::sync::Notify>,
    /// A `CancelRequested` was applied already.
    cancel_applied: bool,
}

/// Forgets a driver's cancellation notices when it stops, however it stops.
struct Unwatch {
    rt: Arc<Runtime>,
    run_id: String,
}

impl Drop for Unwatch {
    fn drop(&mut self) {
        self.rt.unwatch_cancel(&self.run_id);
    }
}

/// Applied events waiting for one commit, with their extra writes and actions.
#[derive(Default)]
struct Staged {
    journal: Vec<aion_store::JournalRecord>,
    extras: Extras,
    actions: Vec<Action>,
}

/// Extra writes that go with one event's commit.
#[derive(Default)]
struct Extras {
    timers: Vec<TimerOp>,
    consume_signals: Vec<u64>,
    cache: Vec<CachePut>,
    logs: Option<(StepKey, Vec<aion_store::LogLine>)>,
}

impl Runtime {
    /// Drives the run of `lease` until it ends, the lease is lost or the runtime shuts down.
    /// When the run's journal is empty, `seed` (or a `RunStarted` made from the run row) starts
    /// it; otherwise its journal is replayed and the pending actions resumed.
    pub fn drive(
        self: &Arc<Self>,
        lease: Lease,
        seed: Option<Seed>,
    ) -> aion_store::BoxFuture<'static, Result<Outcome, Error>> {
        let rt = Arc::clone(self);
        Box::pin(async move { rt.drive_inner(lease, seed, None).await })
    }

    /// Drives a run this runtime just created with [`Runtime::create_leased_run`]: `run` is its
    /// row as created, so nothing needs to be read before the first step.
    pub fn drive_run(
        self: &Arc<Self>,
        run: Run,
        lease: Lease,
    ) -> aion_store::BoxFuture<'static, Result<Outcome, Error>> {
        let rt = Arc::clone(self);
        Box::pin(async move { rt.drive_inner(lease, None, Some(run)).await })
    }

    /// Creates the run of a retry ([`Runtime::plan_retry`]) already leased to this runtime and
    /// drives it from its seed: the reused results are committed first, then the chosen step
    /// and everything downstream run again.
    pub async fn start_retry(
        self: &Arc<Self>,
        plan: crate::RetryPlan,
    ) -> Result<(Run, aion_store::BoxFuture<'static, Result<Outcome, Error>>), Error> {
        let mut row = plan.run;
        row.lease = Some(self.new_lease());
        let run = self.store.create_run(row).await?;
        let lease = run.lease().ok_or_else(|| {
            Error::Invalid(format!("run `{}` was created without its lease", run.id))
        })?;
        let rt = Arc::clone(self);
        let known = run.clone();
        let seed = plan.seed;
        Ok((
            run,
            Box::pin(async move { rt.drive_inner(lease, Some(seed), Some(known)).await }),
        ))
    }

    async fn drive_inner(
        self: &Arc<Self>,
        lease: Lease,
        seed: Option<Seed>,
        known: Option<Run>,
    ) -> Result<Outcome, Error> {
        let ws = lease.workspace.clone();
        let run = match known {
            Some(run) => run,
            None => self
                .store
                .get_run(&ws, &lease.run_id)
                .await?
                .ok_or_else(|| Error::Invalid(format!("run `{}` not found", lease.run_id)))?,
        };
        if run.status.is_terminal() {
            self.release(&lease).await;
            return Ok(Outcome::Finished(Box::new(run)));
        }
        let plan = match self.cached_plan(&run.plan_hash) {
            Some(plan) => plan,
            None => {
                let flow = self
                    .store
                    .get_flow(&ws, &run.flow_id, Some(run.flow_version))
                    .await?
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "flow `{}` version {} not found",
                            run.flow_id, run.flow_version
                        ))
                    })?;
                self.compiled(&flow.plan, &flow.plan_hash)?
            }
        };
        // A run whose journal is empty needs no read (a fresh run, or one created by a crash
        // between its row and its first commit, whose row says so).
        let records = if run.last_seq == 0 {
            Vec::new()
        } else {
            self.store.read_journal(&ws, &run.id).await?
        };
        let events = journal::decode(&records)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cancel_notice = self.watch_cancel(&run.id);
        let _unwatch = Unwatch {
            rt: Arc::clone(self),
            run_id: run.id.clone(),
        };
        let mut driver = Driver {
            rt: Arc::clone(self),
            workspace: ws,
            run_id: run.id.clone(),
            epoch: lease.epoch,
            state: RunState::new(plan, Arc::clone(&self.engine)),
            last_seq: records.last().map_or(0, |r| r.seq),
            row_status: run.status,
            committed: foldhash::HashMap::default(),
            logs: foldhash::HashMap::default(),
            in_flight: BTreeMap::new(),
            timers: BTreeMap::new(),
            queue: VecDeque::new(),
            tx,
            renewed_ms: self.now_ms(),
            prestarted: BTreeSet::new(),
            staged: Staged::default(),
            row: run,
            start_ms: None,
            detached: None,
            staged_bytes: 0,
            child_ended: Arc::new(tokio::sync::Notify::new()),
            cancel_notice,
            cancel_applied: false,
        };
        if events.is_empty() {
            let seed = match seed {
                Some(seed) => seed,
                None => {
                    let vars = self.workspace_vars(&driver.workspace).await?;
                    Seed {
                        events: vec![started(&driver.row, vars, self.now_ms())],
                        logs: BTreeMap::new(),
                    }
                }
            };
            driver.start(seed).await?;
        } else {
            for event in events {
                driver.state.apply(event);
            }
            driver.snapshot_all();
            driver.queue.extend(driver.state.pending());
        }
        let result = match driver.apply_cancel_if_asked(None).await {
            Ok(()) => driver.run(&mut rx).await,
            Err(error) => Err(error),
        };
        // The commit that finished the run also ended its lease.
        if !matches!(result, Ok(Outcome::Finished(_))) {
            driver.abort_all();
            self.release(&lease).await;
        }
        result
    }

    async fn release(&self, lease: &Lease) {
        let _ = self
            .store
            .release(
                &lease.workspace,
                &lease.run_id,
                &self.config.worker_id,
                lease.epoch,
            )
            .await;
    }
}

/// The `RunStarted` event of a run row, with the workspace's variables at that moment.
pub(crate) fn started(run: &Run, vars: Value, at_ms: i64) -> Event {
    Event::RunStarted {
        run_id: run.id.clone(),
        flow_id: run.flow_id.clone(),
        flow_version: u64::from(run.flow_version),
        input: run.input.clone(),
        trigger: run.trigger.clone(),
        vars,
        at_ms,
        seed: seed_of(&run.id),
    }
}

/// FNV-1a over the run id: a stable seed for the run's random source.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Driver {
    /// Applies the first events of a run and commits them together.
    async fn start(&mut self, mut seed: Seed) -> Result<(), Error> {
        if seed.events.len() == 1 && seed.logs.is_empty() {
            // A plain start: `RunStarted` waits in the stage like any event, so a first chain
            // of pure steps commits with it. A crash before that commit leaves an empty
            // journal, and the run starts again from its row, the same way.
            if let Some(event) = seed.events.pop() {
                if let Event::RunStarted { at_ms, .. } = &event {
                    self.start_ms = Some(*at_ms);
                    metrics::counter!("aion_runs_started_total").increment(1);
                }
                self.stage(event, Extras::default())?;
            }
            return Ok(());
        }
        let mut journal = Vec::with_capacity(seed.events.len());
        for event in seed.events {
            self.last_seq += 1;
            journal.push(journal::encode(self.last_seq, &event)?);
            self.state.apply(event);
        }
        let mut logs = seed.logs;
        for (key, record) in self.state.steps() {
            if let Some(lines) = logs.remove(&record.display) {
                self.logs.insert(key.clone(), lines);
            }
        }
        let pending = self.state.pending();
        let extra = self.prestart(&pending, &mut journal)?;
        let timers = pending
            .iter()
            .filter_map(|a| match a {
                Action::ScheduleTimer { timer, due_ms } => Some(TimerOp::Set {
                    timer_id: timer.0.to_string(),
                    due_ms: *due_ms,
                }),
                _ => None,
            })
            .collect();
        // A seeded run (a retry) starts now, whatever the times of the events it reuses.
        let started = self.rt.now_ms();
        let mut update = self.run_update(&pending);
        update.started_ms = Some(started);
        let steps = self.changed_steps();
        self.commit(
            journal,
            Some(update),
            steps,
            Extras {
                timers,
                ..Extras::default()
            },
        )
        .await?;
        self.queue.extend(pending);
        self.queue.extend(extra);
        Ok(())
    }

    fn snapshot_all(&mut self) {
        // Replayed records are all committed already.
        self.state.take_touched();
        for (key, record) in self.state.steps() {
            self.committed.insert(
                key.clone(),
                (
                    record.status,
                    record.attempts,
                    record.finished_at_ms,
                    record.fencing,
                ),
            );
        }
    }

    async fn run(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Completion>,
    ) -> Result<Outcome, Error> {
        let mut shutdown = self.rt.shutdown.subscribe();
        let poll = Duration::from_millis(self.rt.config.poll_ms.max(10));
        loop {
            self.drain().await?;
            if self.state.status().is_finished() {
                self.abort_all();
                self.rt.run_ended(&self.run_id);
                let status = self.row.status.as_str();
                metrics::counter!("aion_runs_finished_total", "status" => status).increment(1);
                if let Some(finished) = self.row.finished_ms {
                    let seconds = finished.saturating_sub(self.row.created_ms) as f64 / 1e3;
                    metrics::histogram!("aion_run_duration_seconds", "status" => status)
                        .record(seconds);
                }
                if let Some(sink) = &self.rt.spans
                    && let Some(span) = crate::trace::run_span(&self.row)
                {
                    sink.export(span);
                }
                return Ok(Outcome::Finished(Box::new(self.row.clone())));
            }
            let stopping = self.rt.is_shutting_down();
            if stopping && self.in_flight.is_empty() {
                return Ok(Outcome::Released);
            }
            let now = self.rt.now_ms();
            let next_timer = self.timers.values().min().copied();
            let timer_wait = next_timer.map(|due| {
                Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
            });
            tokio::select! {
                Some(done) = rx.recv() => {
                    // Every attempt that already finished goes into the same commit.
                    self.stage_completion(done)?;
                    while let Ok(more) = rx.try_recv() {
                        self.stage_completion(more)?;
                    }
                    self.flush().await?;
                }
                () = sleep_opt(timer_wait), if !stopping && timer_wait.is_some() => self.fire_timers().await?,
                () = tokio::time::sleep(poll) => self.poll().await?,
                // A child run this run waits for ended in this process.
                () = self.child_ended.notified() => self.poll().await?,
                // A cancellation was stored for this run by this process.
                () = self.cancel_notice.notified() => self.check_cancel().await?,
                _ = shutdown.changed(), if !stopping => {}
            }
            if !self.renew().await? {
                return Ok(Outcome::Released);
            }
        }
    }

    async fn renew(&mut self) -> Result<bool, Error> {
        let now = self.rt.now_ms();
        if now.saturating_sub(self.renewed_ms) < self.rt.config.lease_ms / 3 {
            return Ok(true);
        }
        let renewed = self
            .rt
            .store
            .renew(RenewRequest {
                workspace: self.workspace.clone(),
                run_id: self.run_id.clone(),
                worker_id: self.rt.config.worker_id.clone(),
                epoch: self.epoch,
                lease_ms: self.rt.config.lease_ms,
                now_ms: now,
            })
            .await;
        match renewed {
            Ok(_) => {
                self.renewed_ms = now;
                // A cancellation stored by another process is seen here.
                self.check_cancel().await?;
                Ok(true)
            }
            Err(error) if error.kind() == aion_store::ErrorKind::StaleEpoch => {
                self.warn("lost the run's lease; another worker took it over".to_owned());
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Reads the run's row and applies a stored cancellation request.
    async fn check_cancel(&mut self) -> Result<(), Error> {
        if self.cancel_applied || self.state.status().is_finished() {
            return Ok(());
        }
        let row = self.rt.store.get_run(&self.workspace, &self.run_id).await?;
        self.apply_cancel_if_asked(row).await
    }

    /// Applies `CancelRequested` if `row` (else the row the driver holds) carries a request:
    /// the engine ends the run as cancelled and aborts its attempts in flight.
    async fn apply_cancel_if_asked(&mut self, row: Option<Run>) -> Result<(), Error> {
        let row = row.as_ref().unwrap_or(&self.row);
        if self.cancel_applied
            || self.state.status().is_finished()
            || row.cancel_requested_ms.is_none()
        {
            return Ok(());
        }
        let reason = row
            .cancel_reason
            .clone()
            .unwrap_or_else(|| "cancelled".to_owned());
        self.cancel_applied = true;
        let event = Event::CancelRequested {
            reason,
            at_ms: self.rt.now_ms(),
        };
        self.event(event, Extras::default()).await
    }

    fn warn(&self, message: String) {
        self.rt.observer.report(Progress::Warning {
            run_id: self.run_id.clone(),
            message,
        });
    }

    fn abort_all(&mut self) {
        for (_, (_, handle)) in std::mem::take(&mut self.in_flight) {
            handle.abort();
        }
    }

    /// Timers that are due, fired in due order.
    async fn fire_timers(&mut self) -> Result<(), Error> {
        let now = self.rt.now_ms();
        let due: Vec<(TimerId, i64)> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, at)| (*t, *at))
            .collect();
        for (timer, _) in due {
            self.timers.remove(&timer);
            let extras = Extras {
                timers: vec![TimerOp::Clear {
                    timer_id: timer.0.to_string(),
                }],
                ..Extras::default()
            };
            self.event(
                Event::TimerFired {
                    timer,
                    at_ms: self.rt.now_ms(),
                },
                extras,
            )
            .await?;
        }
        Ok(())
    }

    /// Looks for signals and finished child runs the run waits for.
    async fn poll(&mut self) -> Result<(), Error> {
        if self.rt.is_shutting_down() {
            return Ok(());
        }
        let pending = self.state.pending();
        let awaits_signal = pending
            .iter()
            .any(|a| matches!(a, Action::AwaitSignal { .. }));
        if awaits_signal {
            let signals = self
                .rt
                .store
                .list_signals(&self.workspace, &self.run_id)
                .await?;
            for signal in signals {
                let extras = Extras {
                    consume_signals: vec![signal.id],
                    ..Extras::default()
                };
                let event = Event::SignalReceived {
                    name: signal.name,
                    payload: signal.payload,
                    at_ms: self.rt.now_ms(),
                };
                self.event(event, extras).await?;
            }
        }
        for action in pending {
            if let Action::StartChildRun {
                key,
                child_run_id,
                wait: true,
                ..
            } = action
            {
                let Some(child) = self
                    .rt
                    .store
                    .get_run(&self.workspace, &child_run_id)
                    .await?
                else {
                    continue;
                };
                if !child.status.is_terminal() {
                    continue;
                }
                self.rt.forget_child(&child_run_id);
                let result = match child.status {
                    RunStatus::Succeeded => Ok(child.output.unwrap_or(Value::Null)),
                    status => Err(StepError {
                        kind: "child_run_failed".to_owned(),
                        message: format!("child run `{}` {status}", child.id),
                        retryable: false,
                        details: child.error,
                    }),
                };
                let event = Event::ChildRunFinished {
                    key,
                    result,
                    at_ms: self.rt.now_ms(),
                };
                self.event(event, Extras::default()).await?;
            }
        }
        Ok(())
    }

    /// Applies a finished attempt's event without committing it yet (see [`Driver::flush`]).
    fn stage_completion(&mut self, done: Completion) -> Result<(), Error> {
        match self.in_flight.get(&done.key) {
            Some((attempt, _)) if *attempt == done.attempt => {
                self.in_flight.remove(&done.key);
            }
            _ => return Ok(()),
        }
        self.stage_result(done.key, done.attempt, done.done, done.logs)
    }

    /// Applies an attempt's result without committing it yet.
    fn stage_result(
        &mut self,
        key: StepKey,
        attempt: u32,
        done: Done,
        logs: Vec<aion_store::LogLine>,
    ) -> Result<(), Error> {
        let at_ms = self.rt.now_ms();
        let event = match done.result {
            Ok((output, port)) => Event::StepSucceeded {
                usage: done.usage,
                key: key.clone(),
                attempt,
                output,
                port,
                cache_hit: done.cache_hit,
                at_ms,
            },
            Err(error) => Event::StepFailed {
                usage: done.usage,
                key: key.clone(),
                attempt,
                error,
                at_ms,
            },
        };
        let extras = Extras {
            cache: done.cache_put.into_iter().collect(),
            logs: Some((key, logs)),
            ..Extras::default()
        };
        self.stage(event, extras)
    }

    /// The implementation of `node_type` when it is pure and the step is not cached (a cached
    /// step looks its result up in the store first, so it runs as a task).
    fn pure_node(&self, node_type: &str, cached: bool) -> Option<Arc<dyn aion_node_sdk::Compute>> {
        if cached {
            return None;
        }
        match &self.rt.catalog.get(node_type)?.execution {
            aion_node_sdk::Execution::Pure(node) => Some(Arc::clone(node)),
            _ => None,
        }
    }

    /// Whether `action` is a pure step that may run before the staged events are committed.
    fn runs_inline(&self, action: &Action) -> bool {
        match action {
            Action::InvokeStep {
                node_type, cache, ..
            } => self.pure_node(node_type, cache.is_some()).is_some(),
            _ => false,
        }
    }

    /// Performs queued actions until nothing is left to do without waiting. Pure steps run
    /// inline and their events stay staged while everything the staged events ask for is
    /// another pure step; anything else (a step with side effects, a timer, a child run, the
    /// end of the run) is performed only after the staged events are committed. A chain of pure
    /// steps therefore costs one commit, and no effect is ever visible outside the run before
    /// the events that caused it are durable.
    async fn drain(&mut self) -> Result<(), Error> {
        loop {
            while let Some(action) = self.queue.pop_front() {
                self.perform(action).await?;
            }
            if self.staged.journal.is_empty() {
                return self.settle().await;
            }
            let inline = !self.staged.actions.is_empty()
                && self.staged.actions.iter().all(|a| self.runs_inline(a));
            if inline {
                if self.staged.journal.len() >= MAX_STAGED || self.staged_bytes >= MAX_STAGED_BYTES
                {
                    // Commit what the chain has so far while it goes on computing.
                    self.flush_detached().await?;
                }
                let actions = std::mem::take(&mut self.staged.actions);
                self.queue.extend(actions);
            } else {
                self.flush().await?;
            }
        }
    }

    /// Carries out one action.
    async fn perform(&mut self, action: Action) -> Result<(), Error> {
        match action {
            Action::InvokeStep {
                key,
                attempt,
                node_type,
                config,
                idempotency_key,
                timeout_ms,
                cache,
                ..
            } => {
                if self.rt.is_shutting_down() || self.in_flight.contains_key(&key) {
                    return Ok(());
                }
                let step_id = self
                    .state
                    .plan()
                    .step(&key)
                    .map(|s| s.id.clone())
                    .unwrap_or_default();
                // A pure step has no `StepStarted`: its result is journaled in the same commit
                // as anything after it, or not at all, so a start would add nothing a replay
                // needs (the engine records when the step was scheduled, and takes a result
                // without a start as the attempt's end).
                let pure = self.pure_node(&node_type, cache.is_some());
                if pure.is_none() && !self.prestarted.remove(&(key.clone(), attempt)) {
                    let event = Event::StepStarted {
                        key: key.clone(),
                        attempt,
                        fencing: self.epoch,
                        at_ms: self.rt.now_ms(),
                    };
                    self.event(event, Extras::default()).await?;
                }
                if self.rt.observer.wants_steps() {
                    self.rt.observer.report(Progress::StepStarted {
                        run_id: self.run_id.clone(),
                        step: self.state.plan().display(&key),
                        attempt,
                    });
                }
                // Steps that may call out carry the run's trace on to the services they call.
                let traceparent = match (&pure, self.row.trace_id.as_deref()) {
                    (None, Some(trace_id)) => crate::trace::traceparent(
                        trace_id,
                        crate::trace::step_span_id(&self.run_id, &self.state.plan().display(&key)),
                    ),
                    _ => None,
                };
                let spec = Attempt {
                    traceparent,
                    workspace: self.workspace.clone(),
                    run_id: self.run_id.clone(),
                    step_id,
                    attempt,
                    node_type,
                    config,
                    idempotency_key,
                    timeout_ms,
                    cache,
                };
                if let Some(node) = pure {
                    // Computed here and staged: see `Driver::drain` for when it is committed.
                    let logs = Logs::new(Arc::clone(&self.rt.clock));
                    let done = invoke::compute(&self.rt, &*node, &spec, &logs);
                    return self.stage_result(key, attempt, done, logs.take());
                }
                let rt = Arc::clone(&self.rt);
                let tx = self.tx.clone();
                let logs = Logs::new(Arc::clone(&rt.clock));
                let task_key = key.clone();
                let handle = tokio::spawn(async move {
                    let done = invoke::run(rt, spec, Arc::clone(&logs)).await;
                    let _ = tx.send(Completion {
                        key: task_key,
                        attempt,
                        done,
                        logs: logs.take(),
                    });
                });
                self.in_flight.insert(key, (attempt, handle.abort_handle()));
            }
            Action::ScheduleTimer { timer, due_ms } => {
                self.timers.insert(timer, due_ms);
            }
            Action::AwaitSignal { .. } | Action::CompleteRun { .. } | Action::FailRun { .. } => {}
            Action::CancelRun { .. } => self.abort_all(),
            Action::StartChildRun {
                child_run_id,
                flow,
                version,
                input,
                wait,
                ..
            } => {
                if wait {
                    self.rt.wait_for_child(&child_run_id, &self.child_ended);
                }
                self.start_child(child_run_id, flow, version, input).await?;
            }
            Action::StartFlow { flow, input } => self.start_flow(flow, input).await?,
        }
        Ok(())
    }

    /// Applies an event, commits it with everything it changed, and queues its actions.
    async fn event(&mut self, event: Event, extras: Extras) -> Result<(), Error> {
        self.stage(event, extras)?;
        self.flush().await
    }

    /// Applies an event and adds it, with what goes with it, to the next commit. Its actions
    /// are queued only by [`Driver::flush`], once the commit is durable.
    fn stage(&mut self, event: Event, mut extras: Extras) -> Result<(), Error> {
        self.last_seq += 1;
        let mut records = vec![journal::encode(self.last_seq, &event)?];
        let actions = self.state.apply(event);
        let extra = self.prestart(&actions, &mut records)?;
        for action in &actions {
            if let Action::ScheduleTimer { timer, due_ms } = action {
                extras.timers.push(TimerOp::Set {
                    timer_id: timer.0.to_string(),
                    due_ms: *due_ms,
                });
            }
        }
        if let Some((key, lines)) = extras.logs.take()
            && !lines.is_empty()
        {
            self.logs.entry(key).or_default().extend(lines);
        }
        self.staged_bytes += records.iter().map(|r| r.payload.len()).sum::<usize>();
        let staged = &mut self.staged;
        staged.journal.extend(records);
        staged.extras.timers.extend(extras.timers);
        staged.extras.consume_signals.extend(extras.consume_signals);
        staged.extras.cache.extend(extras.cache);
        staged.actions.extend(actions);
        staged.actions.extend(extra);
        Ok(())
    }

    /// Commits every staged event in one transaction with the rows they changed, then queues
    /// their actions: nothing an event causes starts before the event is durable.
    async fn flush(&mut self) -> Result<(), Error> {
        if self.staged.journal.is_empty() {
            return self.settle().await;
        }
        let (staged, steps, update) = self.take_staged();
        self.commit(staged.journal, Some(update), steps, staged.extras)
            .await?;
        self.queue.extend(staged.actions);
        Ok(())
    }

    /// Takes the staged events, with the history rows they changed and the run row's update.
    fn take_staged(&mut self) -> (Staged, Vec<aion_store::StepRecord>, RunUpdate) {
        let staged = std::mem::take(&mut self.staged);
        self.staged_bytes = 0;
        let steps = self.changed_steps();
        let update = self.run_update(&staged.actions);
        (staged, steps, update)
    }

    /// Sends the staged events' commit without waiting for it, keeping their actions staged:
    /// only pure steps may go on meanwhile, and whatever next needs durability waits for it
    /// ([`Driver::settle`]). At most one such commit is on its way, so commits stay in order.
    async fn flush_detached(&mut self) -> Result<(), Error> {
        self.settle().await?;
        let (staged, steps, update) = self.take_staged();
        self.staged.actions = staged.actions;
        let request = self.request(staged.journal, Some(update), steps, staged.extras)?;
        let store = Arc::clone(&self.rt.store);
        self.detached = Some(tokio::spawn(async move {
            let began = std::time::Instant::now();
            let receipt = store.commit(request).await;
            metrics::histogram!("aion_store_commit_seconds").record(began.elapsed().as_secs_f64());
            receipt
        }));
        Ok(())
    }

    /// Waits for the detached commit, if one is on its way.
    async fn settle(&mut self) -> Result<(), Error> {
        let Some(handle) = self.detached.take() else {
            return Ok(());
        };
        let receipt = handle
            .await
            .map_err(|e| Error::Invalid(format!("a commit task failed: {e}")))??;
        self.committed_through(receipt);
        failpoints::hit(failpoints::AFTER_COMMIT)
            .map_err(|_| Error::Injected(failpoints::AFTER_COMMIT))
    }

    /// Applies a `StepStarted` for every step `actions` will invoke and appends it to `journal`,
    /// so that a step's start is committed with the event that caused it (one commit per step).
    /// The cause is still committed before the step runs; a step journaled as started without a
    /// result is re-invoked on recovery.
    fn prestart(
        &mut self,
        actions: &[Action],
        journal: &mut Vec<aion_store::JournalRecord>,
    ) -> Result<Vec<Action>, Error> {
        let mut extra = Vec::new();
        if self.rt.is_shutting_down() {
            return Ok(extra);
        }
        for action in actions {
            let Action::InvokeStep { key, attempt, .. } = action else {
                continue;
            };
            if self.in_flight.contains_key(key)
                || self.runs_inline(action)
                || self.prestarted.contains(&(key.clone(), *attempt))
            {
                continue;
            }
            let event = Event::StepStarted {
                key: key.clone(),
                attempt: *attempt,
                fencing: self.epoch,
                at_ms: self.rt.now_ms(),
            };
            self.prestarted.insert((key.clone(), *attempt));
            self.last_seq += 1;
            journal.push(journal::encode(self.last_seq, &event)?);
            // A `StepStarted` only records the attempt's fencing token; queue anything it causes.
            extra.extend(self.state.apply(event));
        }
        Ok(extra)
    }

    /// The run row after the last event.
    fn run_update(&mut self, actions: &[Action]) -> RunUpdate {
        let mut update = RunUpdate {
            started_ms: self.start_ms.take(),
            ..RunUpdate::default()
        };
        let status = match self.state.status() {
            EngineStatus::Succeeded => RunStatus::Succeeded,
            EngineStatus::Failed => RunStatus::Failed,
            EngineStatus::Cancelled => RunStatus::Cancelled,
            EngineStatus::Pending | EngineStatus::Running => {
                let busy = !self.in_flight.is_empty()
                    || actions
                        .iter()
                        .any(|a| matches!(a, Action::InvokeStep { .. }))
                    || self
                        .state
                        .steps()
                        .values()
                        .any(|r| r.status == StepStatus::Running);
                if busy {
                    RunStatus::Running
                } else {
                    RunStatus::Waiting
                }
            }
        };
        if status.is_terminal() {
            update.finished_ms = Some(self.state.now_ms());
            update.output = self.state.output().cloned();
            update.error = self.state.error().map(|(error, step)| {
                json!({ "kind": error.kind, "message": error.message, "step": step, "details": error.details })
            });
        }
        let usage = self.state.usage();
        if usage != self.row.usage {
            update.usage = Some(usage);
        }
        if status != self.row_status || status.is_terminal() {
            update.status = Some(status);
            self.row_status = status;
        }
        update
    }

    /// History rows of the steps whose state changed since the last commit.
    /// Only the records the engine reports as touched are compared (not every row of the run).
    fn changed_steps(&mut self) -> Vec<aion_store::StepRecord> {
        let mut out = Vec::new();
        // In the order the engine changed them, possibly more than once: the snapshot check
        // below writes each record once, in its latest state.
        let touched = self.state.take_touched();
        // Debug builds check the engine's report: no record changed without being named.
        #[cfg(debug_assertions)]
        {
            let named: std::collections::HashSet<&StepKey> = touched.iter().collect();
            for (key, record) in self.state.steps() {
                if !named.contains(key) {
                    let snap = (
                        record.status,
                        record.attempts,
                        record.finished_at_ms,
                        record.fencing,
                    );
                    debug_assert_eq!(
                        self.committed.get(key),
                        Some(&snap),
                        "step {key:?} changed without being reported as touched"
                    );
                }
            }
        }
        for key in touched {
            let Some(record) = self.state.steps().get(&key) else {
                continue;
            };
            let snap = (
                record.status,
                record.attempts,
                record.finished_at_ms,
                record.fencing,
            );
            if self.committed.get(&key) == Some(&snap) {
                continue;
            }
            let logs = self.logs.get(&key).cloned().unwrap_or_default();
            let before = self.committed.insert(key, snap).map(|s| s.0);
            out.push(history(record, logs));
            if before != Some(record.status) && record.status.is_finished() {
                step_metrics(record);
                if let Some(sink) = &self.rt.spans
                    && let Some(span) = crate::trace::step_span(&self.row, record)
                {
                    sink.export(span);
                }
            }
            if self.rt.observer.wants_steps()
                && before != Some(record.status)
                && record.status != StepStatus::Running
                && record.status != StepStatus::Looping
            {
                let status = match record.status {
                    StepStatus::RetryWaiting => "retrying".to_owned(),
                    other => journal::step_status(other).as_str().to_owned(),
                };
                let duration_ms = match (record.started_at_ms, record.finished_at_ms) {
                    (Some(s), Some(f)) => Some(f - s),
                    _ => None,
                };
                self.rt.observer.report(Progress::StepChanged {
                    run_id: self.run_id.clone(),
                    step: record.display.clone(),
                    status,
                    attempt: record.attempts,
                    duration_ms,
                    cache_hit: record.cache_hit,
                    error: record
                        .error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.kind, e.message)),
                });
            }
        }
        let steps = self.state.steps();
        self.logs
            .retain(|key, _| !steps.get(key).is_some_and(|r| r.status.is_finished()));
        out
    }

    async fn commit(
        &mut self,
        journal: Vec<aion_store::JournalRecord>,
        run_update: Option<RunUpdate>,
        steps: Vec<aion_store::StepRecord>,
        extras: Extras,
    ) -> Result<(), Error> {
        self.settle().await?;
        let request = self.request(journal, run_update, steps, extras)?;
        let began = std::time::Instant::now();
        let receipt = self.rt.store.commit(request).await?;
        metrics::histogram!("aion_store_commit_seconds").record(began.elapsed().as_secs_f64());
        self.committed_through(receipt);
        failpoints::hit(failpoints::AFTER_COMMIT)
            .map_err(|_| Error::Injected(failpoints::AFTER_COMMIT))?;
        Ok(())
    }

    /// A commit request under the run's lease; the run row is updated as the store will.
    fn request(
        &mut self,
        journal: Vec<aion_store::JournalRecord>,
        run_update: Option<RunUpdate>,
        steps: Vec<aion_store::StepRecord>,
        extras: Extras,
    ) -> Result<CommitRequest, Error> {
        failpoints::hit(failpoints::BEFORE_COMMIT)
            .map_err(|_| Error::Injected(failpoints::BEFORE_COMMIT))?;
        if let Some(update) = &run_update {
            apply(&mut self.row, update.clone());
        }
        Ok(CommitRequest {
            workspace: self.workspace.clone(),
            run_id: self.run_id.clone(),
            epoch: self.epoch,
            journal,
            run_update,
            steps,
            timers: extras.timers,
            consume_signals: extras.consume_signals,
            cache: extras.cache,
        })
    }

    fn committed_through(&mut self, receipt: aion_store::CommitReceipt) {
        self.rt.committed();
        self.last_seq = self.last_seq.max(receipt.last_seq);
        self.row.last_seq = receipt.last_seq;
    }
}

/// Counts a step that just finished and records how long it took.
fn step_metrics(record: &aion_engine::StepRecord) {
    let status = match record.status {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
        _ => "cancelled",
    };
    metrics::counter!("aion_steps_finished_total", "status" => status).increment(1);
    if let (Some(start), Some(end)) = (record.started_at_ms, record.finished_at_ms) {
        let seconds = end.saturating_sub(start) as f64 / 1e3;
        metrics::histogram!("aion_step_duration_seconds", "status" => status).record(seconds);
    }
}

/// `update` applied to a run row, as the store applies it.
fn apply(row: &mut Run, update: RunUpdate) {
    if let Some(status) = update.status {
        row.status = status;
        if status.is_terminal() {
            row.lease_owner = None;
            row.lease_expires_ms = None;
        }
    }
    if update.output.is_some() {
        row.output = update.output;
    }
    if update.error.is_some() {
        row.error = update.error;
    }
    if update.started_ms.is_some() {
        row.started_ms = update.started_ms;
    }
    if update.finished_ms.is_some() {
        row.finished_ms = update.finished_ms;
    }
    if let Some(usage) = update.usage {
        row.usage = usage;
    }
}

async fn sleep_opt(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

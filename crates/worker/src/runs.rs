//! Creating runs: input defaults, storing a flow version, claiming a particular run, and the
//! seed journal of a retry (`aion runs retry --from STEP`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aion_engine::{CompiledPlan, Event, RunState, StepKey, StepStatus};
use aion_store::{FlowFormat, Lease, NewFlowVersion, NewRun, Run, RunStatus};
use serde_json::Value;

use crate::{Error, Runtime};

/// A UUID v7 for a run created at `now_ms` (for runs whose id must be known before the row
/// exists, such as retries).
pub fn new_run_id(now_ms: i64) -> String {
    let secs = u64::try_from(now_ms / 1000).unwrap_or(0);
    let nanos = u32::try_from((now_ms % 1000) * 1_000_000).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)).to_string()
}

/// Fills the input's missing top-level properties from the plan's `input_defaults`.
pub fn apply_input_defaults(plan: &aion_plan::Plan, input: &mut Value) {
    if let Value::Object(map) = input {
        for (name, value) in &plan.input_defaults {
            map.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// A run to start from a compiled document.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The workspace.
    pub workspace: String,
    /// The plan.
    pub plan: aion_plan::Plan,
    /// The document's text.
    pub document: String,
    /// Its format.
    pub format: FlowFormat,
    /// The run input (before defaults: the engine applies them).
    pub input: Value,
}

/// The lease of a run created leased.
fn leased(run: &Run) -> Result<Lease, Error> {
    run.lease()
        .ok_or_else(|| Error::Invalid(format!("run `{}` was created without its lease", run.id)))
}

/// A run of a flow version already stored (the server's `execute`, webhooks, cron).
#[derive(Debug, Clone)]
pub struct StartStored {
    /// The stored version.
    pub flow: aion_store::FlowVersion,
    /// The run input (before defaults: the engine applies them).
    pub input: Value,
    /// What started the run (`{"type": "api"}`, a webhook's request, ...).
    pub trigger: Value,
    /// The W3C trace id the run belongs to, when the caller sent one.
    pub trace_id: Option<String>,
}

/// One way an input breaks the flow's `inputs` schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// JSON Pointer into the input (`""` for the whole input).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.message)
    }
}

/// Checks an input, after defaults, against the plan's `inputs` schema (JSON Schema 2020-12):
/// every problem, empty when the input is acceptable.
pub fn check_input(plan: &aion_plan::Plan, input: &Value) -> Vec<InputProblem> {
    let Some(schema) = &plan.inputs else {
        return Vec::new();
    };
    let mut input = input.clone();
    apply_input_defaults(plan, &mut input);
    let validator = match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(schema)
    {
        Ok(validator) => validator,
        Err(error) => {
            return vec![InputProblem {
                pointer: String::new(),
                message: format!("the flow's `inputs` schema is unusable: {error}"),
            }];
        }
    };
    validator
        .iter_errors(&input)
        .map(|error| InputProblem {
            pointer: error.instance_path().as_str().to_owned(),
            message: error.to_string(),
        })
        .collect()
}

/// The seed of a retry: the new run's row and its first journal events.
#[derive(Debug, Clone)]
pub struct RetryPlan {
    /// The new run's row to create.
    pub run: NewRun,
    /// The journal events and log lines that seed it.
    pub seed: crate::Seed,
    /// The display keys of the steps whose results are reused.
    pub reused: Vec<String>,
}

impl Runtime {
    /// Stores the flow version (reusing the latest when its plan is the same) and creates a
    /// queued run of it, for any worker to claim.
    pub async fn create_run(&self, start: StartRun) -> Result<Run, Error> {
        self.new_run(start, None).await
    }

    /// Like [`Runtime::create_run`], but the run is created already leased to this runtime,
    /// so [`Runtime::drive_run`] can drive it at once: no claim, no reads.
    pub async fn create_leased_run(&self, start: StartRun) -> Result<(Run, Lease), Error> {
        let run = self.new_run(start, Some(self.new_lease())).await?;
        let lease = run.lease().ok_or_else(|| {
            Error::Invalid(format!("run `{}` was created without its lease", run.id))
        })?;
        Ok((run, lease))
    }

    /// Creates a run of a stored flow version already leased to this runtime (see
    /// [`Runtime::create_leased_run`]); the plan is compiled into the cache once per hash.
    pub async fn create_leased_stored_run(
        &self,
        start: StartStored,
    ) -> Result<(Run, Lease), Error> {
        let run = self.store.create_run(self.stored_run(start)?).await?;
        let lease = leased(&run)?;
        Ok((run, lease))
    }

    /// Like [`Runtime::create_leased_stored_run`], once per idempotency key: when the key
    /// already created a run, that run comes back without a lease (someone else drives it).
    pub async fn create_leased_stored_run_once(
        &self,
        start: StartStored,
        once: aion_store::Once,
    ) -> Result<(Run, Option<Lease>), Error> {
        let (run, created) = self
            .store
            .create_run_once(self.stored_run(start)?, once)
            .await?;
        if !created {
            return Ok((run, None));
        }
        let lease = leased(&run)?;
        Ok((run, Some(lease)))
    }

    /// The row of a run of a stored flow version, leased to this runtime; compiles the plan into
    /// the cache once per hash.
    fn stored_run(&self, start: StartStored) -> Result<NewRun, Error> {
        self.compiled(&start.flow.plan, &start.flow.plan_hash)?;
        Ok(NewRun {
            id: None,
            workspace: start.flow.workspace,
            flow_id: start.flow.flow_id,
            flow_version: start.flow.version,
            plan_hash: start.flow.plan_hash,
            input: start.input,
            trigger: start.trigger,
            trace_id: start.trace_id,
            parent_run_id: None,
            retry_of: None,
            status: RunStatus::Queued,
            created_ms: self.now_ms(),
            lease: Some(self.new_lease()),
        })
    }

    /// The lease a run this runtime creates for itself starts with.
    pub(crate) fn new_lease(&self) -> aion_store::NewLease {
        aion_store::NewLease {
            worker_id: self.config.worker_id.clone(),
            lease_ms: self.config.lease_ms,
        }
    }

    async fn new_run(
        &self,
        start: StartRun,
        lease: Option<aion_store::NewLease>,
    ) -> Result<Run, Error> {
        let now = self.now_ms();
        let flow_id = start.plan.flow.id.clone();
        let version = self.flow_version(&start, now).await?;
        self.prime_plan(&start.plan)?;
        Ok(self
            .store
            .create_run(NewRun {
                id: None,
                workspace: start.workspace,
                flow_id,
                flow_version: version,
                plan_hash: start.plan.hash,
                input: start.input,
                trigger: Value::Null,
                trace_id: None,
                parent_run_id: None,
                retry_of: None,
                status: RunStatus::Queued,
                created_ms: now,
                lease,
            })
            .await?)
    }

    /// The version of `start`'s flow with its plan: one this runtime already stored or found
    /// (versions never change), else the latest when its plan is the same, else a new one.
    async fn flow_version(&self, start: &StartRun, now: i64) -> Result<u32, Error> {
        let key = (
            start.workspace.clone(),
            start.plan.flow.id.clone(),
            start.plan.hash.clone(),
        );
        if let Some(version) = self.versions.lock().ok().and_then(|v| v.get(&key).copied()) {
            return Ok(version);
        }
        let latest = self
            .store
            .get_flow(&start.workspace, &start.plan.flow.id, None)
            .await?;
        let version = match latest {
            Some(v) if v.plan_hash == start.plan.hash => v.version,
            _ => {
                self.store
                    .put_flow(NewFlowVersion {
                        workspace: start.workspace.clone(),
                        flow_id: start.plan.flow.id.clone(),
                        document: start.document.clone(),
                        format: start.format,
                        plan: serde_json::to_value(&start.plan)
                            .map_err(|e| Error::Plan(e.to_string()))?,
                        plan_hash: start.plan.hash.clone(),
                        created_ms: now,
                        expected_latest: None,
                        webhook_paths: start.plan.webhook_paths(),
                        labels: aion_store::FlowLabels {
                            name: start.plan.flow.name.clone(),
                            description: start.plan.flow.description.clone(),
                            tags: start.plan.flow.tags.clone(),
                        },
                    })
                    .await?
                    .version
            }
        };
        if let Ok(mut versions) = self.versions.lock() {
            versions.insert(key, version);
        }
        Ok(version)
    }

    /// Claims one particular run, giving back any other run the claim handed out. `None` when
    /// the run is finished or another worker holds it.
    pub async fn claim_run(&self, workspace: &str, run_id: &str) -> Result<Option<Lease>, Error> {
        for _ in 0..64 {
            let leases = self
                .store
                .claim(aion_store::ClaimRequest {
                    worker_id: self.config.worker_id.clone(),
                    limit: 64,
                    lease_ms: self.config.lease_ms,
                    now_ms: self.now_ms(),
                })
                .await?;
            let mut mine = None;
            let claimed = leases.len();
            for lease in leases {
                if lease.run_id == run_id && lease.workspace == workspace {
                    mine = Some(lease);
                } else {
                    self.store
                        .release(
                            &lease.workspace,
                            &lease.run_id,
                            &self.config.worker_id,
                            lease.epoch,
                        )
                        .await?;
                }
            }
            if mine.is_some() || claimed < 64 {
                return Ok(mine);
            }
        }
        Ok(None)
    }

    /// Builds the retry of `run_id` from step `from`: the old journal without the events of
    /// `from` and of every step downstream of it, starting with the old `RunStarted` under a new
    /// run id (UUID v7 made by the store when the row is created, so it is given here).
    pub async fn plan_retry(
        &self,
        workspace: &str,
        run_id: &str,
        from: &str,
        new_id: &str,
    ) -> Result<RetryPlan, Error> {
        let old = self
            .store
            .get_run(workspace, run_id)
            .await?
            .ok_or_else(|| Error::Invalid(format!("run `{run_id}` not found")))?;
        let flow = self
            .store
            .get_flow(workspace, &old.flow_id, Some(old.flow_version))
            .await?
            .ok_or_else(|| Error::Invalid(format!("flow `{}` not found", old.flow_id)))?;
        let plan = self.compiled(&flow.plan, &flow.plan_hash)?;
        let records = self.store.read_journal(workspace, run_id).await?;
        let events = crate::journal::decode(&records)?;
        let (events, reused) = retry_journal(&plan, &self.engine, events, from, new_id)?;
        let mut logs = BTreeMap::new();
        for step in self.store.list_steps(workspace, run_id).await? {
            if reused.contains(&step.step_key) && !step.logs.is_empty() {
                logs.insert(step.step_key, step.logs);
            }
        }
        let seed = crate::Seed { events, logs };
        let run = NewRun {
            id: Some(new_id.to_owned()),
            workspace: workspace.to_owned(),
            flow_id: old.flow_id,
            flow_version: old.flow_version,
            plan_hash: old.plan_hash,
            input: old.input,
            trigger: old.trigger,
            trace_id: old.trace_id,
            parent_run_id: old.parent_run_id,
            retry_of: Some(old.id),
            status: RunStatus::Queued,
            created_ms: self.now_ms(),
            lease: None,
        };
        Ok(RetryPlan { run, seed, reused })
    }
}

/// Filters a journal for a retry from step `from` (a top-level step id; a step in a loop body
/// retries its whole top-level loop): keeps, in order, the `RunStarted` (with `new_id`) and the
/// events of steps that are neither `from` nor downstream of it, including the timers, signals
/// and child results those steps consumed. Returns the seed and the display keys reused.
pub fn retry_journal(
    plan: &Arc<CompiledPlan>,
    engine: &Arc<aion_expr::Engine>,
    events: Vec<Event>,
    from: &str,
    new_id: &str,
) -> Result<(Vec<Event>, Vec<String>), Error> {
    let graph = &plan.plan.graph;
    let start = top_level_of(graph, from)
        .ok_or_else(|| Error::Invalid(format!("the flow has no step `{from}`")))?;
    let mut excluded = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(index) = stack.pop() {
        if excluded.insert(index)
            && let Some(step) = graph.steps.get(index as usize)
        {
            stack.extend(step.outputs.iter().map(|l| l.step));
        }
    }
    let top = |key: &StepKey| key.frames.first().map_or(key.step, |f| f.foreach);
    // Which step each timer and signal belonged to, found by replaying the old journal.
    let mut state = RunState::new(Arc::clone(plan), Arc::clone(engine));
    let mut owners: Vec<Option<StepKey>> = Vec::with_capacity(events.len());
    for event in &events {
        let before: BTreeMap<StepKey, StepStatus> = state
            .steps()
            .iter()
            .map(|(k, r)| (k.clone(), r.status))
            .collect();
        state.apply(event.clone());
        let owner = match event {
            Event::StepStarted { key, .. }
            | Event::StepSucceeded { key, .. }
            | Event::StepFailed { key, .. }
            | Event::ChildRunFinished { key, .. } => Some(key.clone()),
            Event::TimerFired { .. } | Event::SignalReceived { .. } => state
                .steps()
                .iter()
                .find(|(k, r)| before.get(*k).is_some_and(|s| *s != r.status))
                .map(|(k, _)| k.clone()),
            _ => None,
        };
        owners.push(owner);
    }
    let mut seed = Vec::new();
    let mut reused = BTreeSet::new();
    for (event, owner) in events.into_iter().zip(owners) {
        match event {
            Event::RunStarted {
                flow_id,
                flow_version,
                input,
                trigger,
                vars,
                at_ms,
                seed: s,
                ..
            } => {
                seed.push(Event::RunStarted {
                    run_id: new_id.to_owned(),
                    flow_id,
                    flow_version,
                    input,
                    trigger,
                    vars,
                    at_ms,
                    seed: s,
                });
            }
            Event::CancelRequested { .. } => {}
            event => {
                if let Some(key) = owner
                    && !excluded.contains(&top(&key))
                {
                    if matches!(event, Event::StepSucceeded { .. }) {
                        reused.insert(plan.display(&key));
                    }
                    seed.push(event);
                }
            }
        }
    }
    Ok((seed, reused.into_iter().collect()))
}

/// The top-level step holding the step `id` (itself, or the loop whose body holds it).
fn top_level_of(graph: &aion_plan::Graph, id: &str) -> Option<u32> {
    fn contains(graph: &aion_plan::Graph, id: &str) -> bool {
        graph
            .steps
            .iter()
            .any(|s| s.id == id || s.body.as_ref().is_some_and(|b| contains(&b.graph, id)))
    }
    graph
        .steps
        .iter()
        .position(|s| s.id == id || s.body.as_ref().is_some_and(|b| contains(&b.graph, id)))
        .and_then(|i| u32::try_from(i).ok())
}

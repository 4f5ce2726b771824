//! `aion_worker`: executes runs durably.
//!
//! A [`Runtime`] holds what every run shares (the store, the node catalog, the expression
//! engine, compiled plans, the clock). The worker that holds a run's lease drives it
//! ([`Runtime::drive`]): it replays the run's journal with [`aion_engine::RunState::replay`],
//! performs the engine's actions, and commits each event (with the step's history row, the run
//! row, timers, consumed signals and cache fills) through [`aion_store::Store::commit`] with the
//! lease epoch as fencing token, before acting on what the event caused. Steps run as tokio
//! tasks, so parallel branches and loop items run concurrently, and so do runs.
//!
//! [`Runtime::run_worker`] is the long-running loop of `aion worker`: it claims runnable runs
//! (new ones, waiting ones whose timer is due or that got a signal, and ones whose worker died),
//! drives them, and on shutdown lets in-flight steps finish and gives the leases back.

mod clock;
mod driver;
pub mod failpoints;
mod invoke;
pub mod journal;
mod runs;
pub mod trace;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aion_engine::CompiledPlan;
use aion_node_sdk::Catalog;
use aion_store::Store;
use tokio::sync::watch;

pub use clock::{Clock, SystemClock};
pub use driver::{Outcome, Seed};
pub use runs::{
    InputProblem, RetryPlan, StartRun, StartStored, apply_input_defaults, check_input, new_run_id,
    retry_journal,
};

/// What can go wrong while driving runs (step failures are not errors: they are recorded).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] aion_store::Error),
    /// A stored plan cannot be executed.
    #[error("the stored plan cannot be executed: {0}")]
    Plan(String),
    /// A journal record cannot be read or written.
    #[error("journal: {0}")]
    Journal(String),
    /// Something the caller asked for does not exist or makes no sense.
    #[error("{0}")]
    Invalid(String),
    /// A fault point returned an injected error (only with the `failpoints` feature).
    #[error("injected fault at `{0}`")]
    Injected(&'static str),
}

/// Tunables of a worker.
#[derive(Debug, Clone)]
pub struct Config {
    /// The worker's id, recorded as lease owner.
    pub worker_id: String,
    /// How long a lease lasts; it is renewed every third of that.
    pub lease_ms: i64,
    /// How often waiting runs look for signals and child runs, and an idle worker claims.
    pub poll_ms: u64,
    /// Outputs larger than this (serialized JSON bytes) fail the step (`output_too_large`).
    pub max_output_bytes: usize,
    /// At most this many runs driven at once by [`Runtime::run_worker`].
    pub max_runs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            worker_id: "worker".to_owned(),
            lease_ms: 30_000,
            poll_ms: 200,
            max_output_bytes: 1 << 20,
            max_runs: 256,
        }
    }
}

/// A progress report, for live output.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A step attempt started.
    StepStarted {
        /// The run.
        run_id: String,
        /// The step's display key.
        step: String,
        /// The attempt.
        attempt: u32,
    },
    /// A step reached a new state (finished, skipped, waiting for a retry).
    StepChanged {
        /// The run.
        run_id: String,
        /// The step's display key.
        step: String,
        /// `succeeded`, `failed`, `skipped`, `cancelled`, `retrying`, ...
        status: String,
        /// Attempts made.
        attempt: u32,
        /// Time since the step was scheduled, when known.
        duration_ms: Option<i64>,
        /// Whether the output came from the cache.
        cache_hit: bool,
        /// `kind: message` of the error, when it failed.
        error: Option<String>,
    },
    /// Something worth a warning (an `on_error` flow that does not exist, a lost lease).
    Warning {
        /// The run.
        run_id: String,
        /// What happened.
        message: String,
    },
}

/// Receives progress reports; the CLI prints them.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// One report.
    fn report(&self, progress: Progress);

    /// Whether step reports are wanted at all; `false` spares building them.
    fn wants_steps(&self) -> bool {
        true
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn report(&self, _progress: Progress) {}

    fn wants_steps(&self) -> bool {
        false
    }
}

/// Everything the runs of one process share.
#[derive(Debug)]
pub struct Runtime {
    store: Arc<dyn Store>,
    catalog: Catalog,
    engine: Arc<aion_expr::Engine>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    config: Config,
    vars: Option<Arc<dyn aion_store::Accounts>>,
    spans: Option<Arc<dyn trace::SpanSink>>,
    plans: Mutex<BTreeMap<String, Arc<CompiledPlan>>>,
    /// Flow versions this runtime stored or found, by workspace, flow id and plan hash.
    versions: Mutex<BTreeMap<(String, String, String), u32>>,
    /// Parents waiting for a child run this runtime may drive, by child run id: the child's
    /// driver wakes its parent when it ends, instead of the parent finding out at its next
    /// poll.
    waiting_parents: Mutex<BTreeMap<String, Arc<tokio::sync::Notify>>>,
    /// Runs this runtime started from other runs (children, `on_error` flows) and drives in
    /// tasks of their own.
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
    /// Bumped after every commit of a run driven here, so that watchers of a run's journal
    /// (the server's event streams) wake at once instead of polling.
    commits: watch::Sender<u64>,
    /// The runs driven here, by id: woken when a cancellation is asked for one of them.
    cancel_notices: Mutex<BTreeMap<String, Arc<tokio::sync::Notify>>>,
}

/// What a [`Runtime`] is built from.
#[derive(Debug)]
pub struct Parts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The node catalog.
    pub catalog: Catalog,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where progress goes.
    pub observer: Arc<dyn Observer>,
    /// Tunables.
    pub config: Config,
    /// Where workspace variables (`vars` in expressions) come from, read when a run starts;
    /// `None`: runs see no variables.
    pub vars: Option<Arc<dyn aion_store::Accounts>>,
    /// Where finished run and step spans go (OTLP export); `None`: no spans are built.
    pub spans: Option<Arc<dyn trace::SpanSink>>,
}

impl Runtime {
    /// A runtime.
    pub fn new(parts: Parts) -> Arc<Self> {
        let (shutdown, _) = watch::channel(false);
        let (commits, _) = watch::channel(0);
        Arc::new(Runtime {
            store: parts.store,
            catalog: parts.catalog,
            engine: Arc::new(aion_expr::Engine::default()),
            clock: parts.clock,
            observer: parts.observer,
            config: parts.config,
            vars: parts.vars,
            spans: parts.spans,
            plans: Mutex::new(BTreeMap::new()),
            versions: Mutex::new(BTreeMap::new()),
            waiting_parents: Mutex::new(BTreeMap::new()),
            background: Mutex::new(Vec::new()),
            shutdown,
            commits,
            cancel_notices: Mutex::new(BTreeMap::new()),
        })
    }

    /// Tells the driver of `run_id`, if this runtime drives it, that a cancellation was stored
    /// for it ([`aion_store::Store::request_cancel`]); a run driven elsewhere sees it at its
    /// next lease renewal.
    pub fn notify_cancel(&self, run_id: &str) {
        let notice = self
            .cancel_notices
            .lock()
            .ok()
            .and_then(|notices| notices.get(run_id).cloned());
        if let Some(notice) = notice {
            notice.notify_one();
        }
    }

    /// Registers the driver of `run_id` for cancellation notices.
    pub(crate) fn watch_cancel(&self, run_id: &str) -> Arc<tokio::sync::Notify> {
        let notice = Arc::new(tokio::sync::Notify::new());
        if let Ok(mut notices) = self.cancel_notices.lock() {
            notices.insert(run_id.to_owned(), Arc::clone(&notice));
        }
        notice
    }

    /// Forgets the driver of `run_id`.
    pub(crate) fn unwatch_cancel(&self, run_id: &str) {
        if let Ok(mut notices) = self.cancel_notices.lock() {
            notices.remove(run_id);
        }
    }

    /// A workspace's variables as the `vars` object of a new run (empty without a source).
    pub(crate) async fn workspace_vars(&self, workspace: &str) -> Result<serde_json::Value, Error> {
        let mut out = serde_json::Map::new();
        if let Some(source) = &self.vars {
            for var in source.list_vars(workspace).await? {
                out.insert(var.name, var.value);
            }
        }
        Ok(serde_json::Value::Object(out))
    }

    /// Changes after every commit of a run driven by this runtime (the value counts them).
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Records that a run driven here committed.
    pub(crate) fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current time.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Asks every run driven by this runtime to stop gracefully: in-flight steps finish and are
    /// committed, nothing new starts, leases are given back so the runs resume elsewhere.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether [`Runtime::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Drives `run`, created leased to this runtime, in a task of its own.
    pub(crate) fn drive_in_background(self: &Arc<Self>, run: aion_store::Run) {
        let Some(lease) = run.lease() else { return };
        let rt = Arc::clone(self);
        self.track(tokio::spawn(async move {
            let _ = rt.drive_run(run, lease).await;
        }));
    }

    /// Keeps `task` until [`Runtime::wait_background`] (finished tasks are dropped as new ones
    /// come, so a long-running worker keeps only the live ones).
    pub(crate) fn track(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut tasks) = self.background.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Waits until every run this runtime started from another run (sub-flows, `on_error`
    /// flows, and theirs) has been driven as far as it goes here. A process that exits after
    /// its own run (`aion run`) calls this so that those runs are not cut off.
    pub async fn wait_background(&self) {
        loop {
            let tasks = match self.background.lock() {
                Ok(mut tasks) => std::mem::take(&mut *tasks),
                Err(_) => return,
            };
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }

    /// Wakes the parent waiting for `run_id`, if one waits in this process.
    pub(crate) fn run_ended(&self, run_id: &str) {
        let parent = self
            .waiting_parents
            .lock()
            .ok()
            .and_then(|mut waiting| waiting.remove(run_id));
        if let Some(parent) = parent {
            parent.notify_one();
        }
    }

    /// Stops waiting for `run_id` (its end was seen some other way).
    pub(crate) fn forget_child(&self, run_id: &str) {
        if let Ok(mut waiting) = self.waiting_parents.lock() {
            waiting.remove(run_id);
        }
    }

    /// Asks to be woken through `parent` when the child run `run_id` ends here.
    pub(crate) fn wait_for_child(&self, run_id: &str, parent: &Arc<tokio::sync::Notify>) {
        if let Ok(mut waiting) = self.waiting_parents.lock() {
            waiting.insert(run_id.to_owned(), Arc::clone(parent));
        }
    }

    /// A plan compiled before, by plan hash.
    pub(crate) fn cached_plan(&self, hash: &str) -> Option<Arc<CompiledPlan>> {
        self.plans.lock().ok()?.get(hash).cloned()
    }

    /// Compiles `plan` into the cache unless it is there already.
    pub(crate) fn prime_plan(&self, plan: &aion_plan::Plan) -> Result<(), Error> {
        if self.cached_plan(&plan.hash).is_none() {
            self.compile_into_cache(&plan.hash, plan.clone())?;
        }
        Ok(())
    }

    /// The plan of a flow version, compiled once per plan hash.
    pub fn compiled(
        &self,
        plan: &serde_json::Value,
        hash: &str,
    ) -> Result<Arc<CompiledPlan>, Error> {
        if let Some(found) = self.cached_plan(hash) {
            return Ok(found);
        }
        let plan: aion_plan::Plan =
            serde_json::from_value(plan.clone()).map_err(|e| Error::Plan(e.to_string()))?;
        self.compile_into_cache(hash, plan)
    }

    fn compile_into_cache(
        &self,
        hash: &str,
        plan: aion_plan::Plan,
    ) -> Result<Arc<CompiledPlan>, Error> {
        let compiled = Arc::new(
            CompiledPlan::new(plan, &self.engine).map_err(|e| Error::Plan(e.to_string()))?,
        );
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(hash.to_owned(), Arc::clone(&compiled));
        }
        Ok(compiled)
    }

    /// Runs the worker loop until [`Runtime::shutdown`]: claims runnable runs and drives each
    /// in its own task, then waits for the runs in hand to stop.
    pub async fn run_worker(self: &Arc<Self>) -> Result<(), Error> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut shutdown = self.shutdown.subscribe();
        loop {
            while tasks.try_join_next().is_some() {}
            if self.is_shutting_down() {
                break;
            }
            let free = self.config.max_runs.saturating_sub(tasks.len());
            if free > 0 {
                let leases = self
                    .store
                    .claim(aion_store::ClaimRequest {
                        worker_id: self.config.worker_id.clone(),
                        limit: u32::try_from(free).unwrap_or(u32::MAX),
                        lease_ms: self.config.lease_ms,
                        now_ms: self.now_ms(),
                    })
                    .await?;
                let claimed = !leases.is_empty();
                for lease in leases {
                    let rt = Arc::clone(self);
                    tasks.spawn(async move {
                        let run_id = lease.run_id.clone();
                        if let Err(error) = rt.drive(lease, None).await {
                            rt.observer.report(Progress::Warning {
                                run_id,
                                message: format!("run stopped: {error}"),
                            });
                        }
                    });
                }
                if claimed {
                    continue;
                }
            }
            let mut wait_ms = self.config.poll_ms;
            if let Some(due) = self.store.next_timer_due().await? {
                let until = u64::try_from(due.saturating_sub(self.now_ms())).unwrap_or(0);
                wait_ms = wait_ms.min(until.max(1));
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(wait_ms)) => {}
                _ = shutdown.changed() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

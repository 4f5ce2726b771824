//! Row types: what the store keeps for workspaces, flows, runs, journals, steps, leases,
//! timers, signals and the cache, and the requests that write them.
//!
//! Instants are integer Unix milliseconds handed in by the caller (the store has no clock).
//! Journal payloads and cache values are opaque bytes: the store never interprets them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use aion_types::Usage;

/// A usage as three signed 64-bit columns (input tokens, output tokens, cost), as SQL stores
/// integers; a count beyond `i64::MAX` is stored as `i64::MAX`.
pub fn usage_columns(usage: &Usage) -> [i64; 3] {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    [
        int(usage.input_tokens),
        int(usage.output_tokens),
        int(usage.cost_micro_usd),
    ]
}

use crate::Error;

/// The workspace that exists after migrations.
pub const DEFAULT_WORKSPACE: &str = "default";

/// The largest page [`crate::Store::list_runs`] returns.
pub const MAX_PAGE: u32 = 1000;

/// A workspace: the unit of isolation of user data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Its id.
    pub id: String,
    /// When it was created (0 for the default workspace).
    pub created_ms: i64,
}

/// The syntax a flow document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl FlowFormat {
    /// `yaml` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yaml => "yaml",
            Self::Json => "json",
        }
    }
}

impl FromStr for FlowFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "yaml" => Ok(Self::Yaml),
            "json" => Ok(Self::Json),
            other => Err(Error::Corrupt(format!("unknown flow format `{other}`"))),
        }
    }
}

/// A flow version to store; its version number is assigned by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFlowVersion {
    /// The workspace.
    pub workspace: String,
    /// The flow id.
    pub flow_id: String,
    /// The document text, as written.
    pub document: String,
    /// Its syntax.
    pub format: FlowFormat,
    /// The compiled plan.
    pub plan: Value,
    /// The plan's content hash.
    pub plan_hash: String,
    /// When it was stored.
    pub created_ms: i64,
    /// Save only if the flow's latest version is this one (0: only if the flow does not exist
    /// yet), else [`crate::Error::VersionConflict`]; `None` saves whatever the latest is.
    pub expected_latest: Option<u32>,
    /// The paths of the version's webhook triggers. Saving makes them the flow's paths (and
    /// drops the flow's earlier ones); a path another flow of the workspace serves is refused
    /// with [`crate::Error::AlreadyExists`] and nothing is saved.
    pub webhook_paths: Vec<String>,
    /// The version's name, description and tags, kept for listings.
    pub labels: FlowLabels,
}

/// What a flow says about itself, for listings: the store keeps it as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowLabels {
    /// The human name (may be empty: listings then show the id).
    pub name: String,
    /// The description (may be empty).
    pub description: String,
    /// Tags, as written.
    pub tags: Vec<String>,
}

/// The latest run of a flow, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBrief {
    /// The run id.
    pub run_id: String,
    /// Its status.
    pub status: RunStatus,
    /// When it was created.
    pub created_ms: i64,
}

/// Makes a run creation idempotent ([`crate::Store::create_run_once`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    /// The caller's key (1 to 255 printable characters), unique per workspace while it holds.
    pub key: String,
    /// A digest of the request, so that a key reused for another request is refused.
    pub request_hash: String,
    /// Until when the key holds.
    pub expires_ms: i64,
}

/// A stored flow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowVersion {
    /// The workspace.
    pub workspace: String,
    /// The flow id.
    pub flow_id: String,
    /// The version, from 1, contiguous per flow.
    pub version: u32,
    /// The document text.
    pub document: String,
    /// Its syntax.
    pub format: FlowFormat,
    /// The compiled plan.
    pub plan: Value,
    /// The plan's content hash.
    pub plan_hash: String,
    /// When this version was stored.
    pub created_ms: i64,
}

/// One line of [`crate::Store::list_flows`]: a flow and its latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSummary {
    /// The flow id.
    pub flow_id: String,
    /// The latest version.
    pub latest_version: u32,
    /// The latest version's plan hash.
    pub plan_hash: String,
    /// When the latest version was stored.
    pub updated_ms: i64,
    /// The latest version's labels.
    pub labels: FlowLabels,
    /// The flow's most recent run (by creation), if any.
    pub last_run: Option<RunBrief>,
}

/// The life cycle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created, not started.
    Queued,
    /// A worker holds (or held) it.
    Running,
    /// Parked until a timer fires or a signal arrives.
    Waiting,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl RunStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("unknown run status `{s}`")))
    }
}

/// A run to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The run id; `None` lets the store make a UUID v7 from `created_ms`.
    pub id: Option<String>,
    /// The workspace.
    pub workspace: String,
    /// The flow.
    pub flow_id: String,
    /// The flow version it runs.
    pub flow_version: u32,
    /// The plan hash of that version.
    pub plan_hash: String,
    /// The run's input.
    pub input: Value,
    /// What triggered it.
    pub trigger: Value,
    /// The trace id to continue.
    pub trace_id: Option<String>,
    /// The run that started this one (sub-flows).
    pub parent_run_id: Option<String>,
    /// The run this one retries.
    pub retry_of: Option<String>,
    /// The initial status, usually [`RunStatus::Queued`].
    pub status: RunStatus,
    /// When it was created.
    pub created_ms: i64,
    /// Creates the run already leased to this worker (epoch 1), so the process that makes a
    /// run can drive it at once without a claim; `None` leaves it for any worker to claim.
    pub lease: Option<NewLease>,
}

/// The lease a run is created with (see [`NewRun::lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLease {
    /// The worker that holds it.
    pub worker_id: String,
    /// How long it lasts from `created_ms` unless renewed.
    pub lease_ms: i64,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The run id.
    pub id: String,
    /// The workspace.
    pub workspace: String,
    /// The flow.
    pub flow_id: String,
    /// The flow version.
    pub flow_version: u32,
    /// The plan hash.
    pub plan_hash: String,
    /// The input.
    pub input: Value,
    /// The trigger.
    pub trigger: Value,
    /// The trace id.
    pub trace_id: Option<String>,
    /// The parent run.
    pub parent_run_id: Option<String>,
    /// The run this one retries.
    pub retry_of: Option<String>,
    /// The status.
    pub status: RunStatus,
    /// The output, once succeeded.
    pub output: Option<Value>,
    /// The error, once failed.
    pub error: Option<Value>,
    /// When it was created.
    pub created_ms: i64,
    /// When it started.
    pub started_ms: Option<i64>,
    /// When it finished.
    pub finished_ms: Option<i64>,
    /// The current lease epoch (0 before the first claim).
    pub epoch: u64,
    /// The worker holding the lease, if any (it may have expired).
    pub lease_owner: Option<String>,
    /// When the lease expires.
    pub lease_expires_ms: Option<i64>,
    /// The seq of the last journal record (0 when the journal is empty).
    pub last_seq: u64,
    /// When a cancellation was asked for (the worker holding the run applies it).
    pub cancel_requested_ms: Option<i64>,
    /// Why, as the requester said.
    pub cancel_reason: Option<String>,
    /// What its steps consumed from metered services (tokens, cost).
    #[serde(default)]
    pub usage: Usage,
}

impl Run {
    /// The lease the row records, when someone holds one (it may have expired).
    pub fn lease(&self) -> Option<Lease> {
        self.lease_owner.as_ref()?;
        Some(Lease {
            workspace: self.workspace.clone(),
            run_id: self.id.clone(),
            epoch: self.epoch,
            expires_ms: self.lease_expires_ms.unwrap_or(self.created_ms),
        })
    }
}

/// Changes to a run; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunUpdate {
    /// A new status.
    pub status: Option<RunStatus>,
    /// A new output.
    pub output: Option<Value>,
    /// A new error.
    pub error: Option<Value>,
    /// The start instant.
    pub started_ms: Option<i64>,
    /// The finish instant.
    pub finished_ms: Option<i64>,
    /// The run's usage so far (a total, not an increment).
    pub usage: Option<Usage>,
}

/// Which runs [`crate::Store::list_runs`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this flow.
    pub flow_id: Option<String>,
    /// Only runs with one of these statuses (empty: any).
    pub statuses: Vec<RunStatus>,
    /// Only runs created at or after this instant.
    pub created_from_ms: Option<i64>,
    /// Only runs created strictly before this instant.
    pub created_before_ms: Option<i64>,
}

/// Where a page of runs starts: just after this run in (created desc, id desc) order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunCursor {
    /// The last run's creation instant.
    pub created_ms: i64,
    /// The last run's id.
    pub id: String,
}

impl RunCursor {
    /// The cursor as an opaque token for APIs.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
    }

    /// Parses a token made by [`RunCursor::encode`].
    pub fn decode(token: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidArgument(format!("malformed run cursor `{token}`"));
        let (ms, id) = token.split_once('.').ok_or_else(invalid)?;
        let created_ms = ms.parse().map_err(|_| invalid())?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            created_ms,
            id: id.to_owned(),
        })
    }
}

/// A page of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<Run>,
    /// Where the next page starts, if there may be one.
    pub next: Option<RunCursor>,
}

/// One journal record. The store checks `seq` continuity and never reads `kind` or `payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// The position in the run's journal, contiguous from 1.
    pub seq: u64,
    /// The record kind, chosen by the engine.
    pub kind: String,
    /// The record, encoded by the engine.
    pub payload: Vec<u8>,
    /// When the worker observed the event.
    pub at_ms: i64,
}

/// The state of one step instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Executing.
    Running,
    /// Waiting for a retry, a timer or a signal.
    Waiting,
    /// Done.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Not taken (a branch not chosen).
    Skipped,
    /// Cancelled.
    Cancelled,
}

impl StepStatus {
    /// Every status, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
}

impl FromStr for StepStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| Error::Corrupt(format!("unknown step status `{s}`")))
    }
}

/// One log line of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was logged.
    pub at_ms: i64,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
    /// Structured fields (an object, or null).
    pub fields: Value,
}

/// The history row of one step instance of a run; upserts replace the whole row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step instance key, made by the engine (step and loop frames).
    pub step_key: String,
    /// Its state.
    pub status: StepStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The resolved config.
    pub input: Option<Value>,
    /// The output.
    pub output: Option<Value>,
    /// The error.
    pub error: Option<Value>,
    /// Log lines, in order.
    pub logs: Vec<LogLine>,
    /// When the current attempt started.
    pub started_ms: Option<i64>,
    /// When it finished.
    pub finished_ms: Option<i64>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// Whether the output came from the cache.
    pub cache_hit: bool,
    /// The idempotency key handed to side-effecting nodes.
    pub idempotency_key: Option<String>,
    /// What its attempts consumed from metered services.
    #[serde(default)]
    pub usage: Usage,
}

/// A timer armed for a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// The run.
    pub run_id: String,
    /// The timer id, unique per run, chosen by the engine.
    pub timer_id: String,
    /// When it is due.
    pub due_ms: i64,
}

/// A change to a run's timers inside a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerOp {
    /// Arms (or re-arms) a timer.
    Set {
        /// The timer id.
        timer_id: String,
        /// When it is due.
        due_ms: i64,
    },
    /// Disarms a timer (no error if it does not exist).
    Clear {
        /// The timer id.
        timer_id: String,
    },
}

/// A signal delivered to a run, kept until a commit consumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Its id, increasing in delivery order.
    pub id: u64,
    /// The run.
    pub run_id: String,
    /// The signal name.
    pub name: String,
    /// Its payload.
    pub payload: Value,
    /// When it was delivered.
    pub sent_ms: i64,
}

/// A cache entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePut {
    /// The key, within the workspace.
    pub key: String,
    /// The value (opaque bytes).
    pub value: Vec<u8>,
    /// When it expires.
    pub expires_ms: i64,
}

/// A cache entry read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The value.
    pub value: Vec<u8>,
    /// When it expires.
    pub expires_ms: i64,
}

/// Everything one worker step writes for a run, applied all-or-nothing.
///
/// The commit is refused with [`Error::StaleEpoch`] unless `epoch` is the run's current lease
/// epoch and the lease is held, and with [`Error::SeqConflict`] unless `journal` continues the
/// run's journal without a gap or a duplicate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommitRequest {
    /// The workspace of the run.
    pub workspace: String,
    /// The run.
    pub run_id: String,
    /// The lease epoch the worker holds (the fencing token).
    pub epoch: u64,
    /// Journal records to append, seqs contiguous.
    pub journal: Vec<JournalRecord>,
    /// Changes to the run row. An update to a terminal status also ends the lease: the run
    /// is over and nobody needs to claim it again.
    pub run_update: Option<RunUpdate>,
    /// Step records to upsert.
    pub steps: Vec<StepRecord>,
    /// Timers to arm or disarm.
    pub timers: Vec<TimerOp>,
    /// Signals (by id) this commit consumed.
    pub consume_signals: Vec<u64>,
    /// Cache entries to write (in the run's workspace).
    pub cache: Vec<CachePut>,
}

/// What a successful commit reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitReceipt {
    /// The seq of the run's last journal record after the commit.
    pub last_seq: u64,
}

/// A claim for runnable runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The claiming worker.
    pub worker_id: String,
    /// At most this many runs.
    pub limit: u32,
    /// How long the leases last.
    pub lease_ms: i64,
    /// The current time.
    pub now_ms: i64,
}

/// A held lease on a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The run's workspace.
    pub workspace: String,
    /// The run.
    pub run_id: String,
    /// The epoch: the fencing token every commit must carry.
    pub epoch: u64,
    /// When the lease expires unless renewed.
    pub expires_ms: i64,
}

/// A lease renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewRequest {
    /// The workspace.
    pub workspace: String,
    /// The run.
    pub run_id: String,
    /// The worker holding the lease.
    pub worker_id: String,
    /// The epoch it holds.
    pub epoch: u64,
    /// The new lease duration from `now_ms`.
    pub lease_ms: i64,
    /// The current time.
    pub now_ms: i64,
}

impl CommitRequest {
    /// Checks what can be checked without the stored state: ids, and that the journal records
    /// are contiguous among themselves. Backends call this before touching storage.
    pub fn validate(&self) -> Result<(), Error> {
        check_id("workspace id", &self.workspace)?;
        check_id("run id", &self.run_id)?;
        for pair in self.journal.windows(2) {
            if let [a, b] = pair
                && a.seq.checked_add(1) != Some(b.seq)
            {
                return Err(Error::SeqConflict {
                    run_id: self.run_id.clone(),
                    expected: a.seq.saturating_add(1),
                    given: b.seq,
                });
            }
        }
        for step in &self.steps {
            check_id("step key", &step.step_key)?;
        }
        for op in &self.timers {
            match op {
                TimerOp::Set { timer_id, .. } | TimerOp::Clear { timer_id } => {
                    check_id("timer id", timer_id)?;
                }
            }
        }
        for put in &self.cache {
            check_key(&put.key)?;
        }
        Ok(())
    }
}

/// Checks a cache key: 1 to 1024 bytes.
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::InvalidArgument(
            "cache key must be 1 to 1024 bytes".to_owned(),
        ));
    }
    Ok(())
}

/// Checks an id (workspace, flow, run, worker, step key, timer, signal name): 1 to 256
/// characters, no control characters.
pub fn check_id(what: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{what} must be 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}

/// A request to record a cron slot as handled (see [`crate::Store::claim_cron_slot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronClaim {
    /// The workspace.
    pub workspace: String,
    /// The flow declaring the trigger.
    pub flow_id: String,
    /// A stable key of the trigger within the flow (the server derives it from the schedule
    /// and the zone): 1 to 256 characters, no control characters.
    pub trigger: String,
    /// The slot, as Unix ms.
    pub slot_ms: i64,
    /// The current time.
    pub now_ms: i64,
}

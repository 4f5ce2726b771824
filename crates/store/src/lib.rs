//! Aion's storage contract: the [`Store`] trait (flows, runs, journals, leases) and the
//! [`Accounts`] trait (users, members, API keys, sessions, variables, credentials), their row types
//! ([`model`], [`accounts`]), the error type, the transparent blob compression backends share
//! ([`payload`]), and the [`conformance`] suite every backend must pass.
//!
//! This crate does no I/O itself. Backends (`aion-store-sqlite`, later `aion-store-postgres`)
//! implement [`Store`]; the worker, API and CLI hold an `Arc<dyn Store>`.
//!
//! # Design
//! - **Object-safe async.** Methods return [`BoxFuture`]s (`Pin<Box<dyn Future + Send>>`) rather
//!   than using `async fn` in the trait, so `dyn Store` works and every future is `Send`. The
//!   cost is one allocation per call, which is noise next to a database round trip.
//! - **No clock.** Every instant (`created_ms`, `now_ms`, ...) is handed in by the caller, so
//!   lease expiry and timers are testable without sleeping.
//! - **Workspaces.** Every method that reads or writes user data takes a workspace id, and an
//!   object of another workspace is reported as not found. [`Store::claim`] is the exception: it
//!   is a system operation that hands out runs of every workspace and says which one each is in.
//! - **Fencing.** Claiming a run increments its lease epoch; [`Store::commit`],
//!   [`Store::renew`] and [`Store::release`] are refused with [`Error::StaleEpoch`] unless the
//!   caller presents the current epoch of a held lease. The epoch alone fences: a commit from
//!   a worker whose lease expired succeeds until another worker claims the run.
//! - **Opaque journal.** The store checks journal `seq` continuity and never reads `kind` or
//!   `payload`.
//! - **Made for PostgreSQL too.** Nothing here assumes one writer: a claim maps to
//!   `UPDATE runs ... WHERE id IN (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`, a
//!   commit to one transaction that locks the run row (`SELECT ... FOR UPDATE`) to check the
//!   epoch and the last seq, and blobs go through [`payload`] in every backend. Group commit is
//!   an implementation detail of a backend, invisible through the trait.

use std::future::Future;
use std::pin::Pin;

pub mod accounts;
pub mod chunk;
pub mod conformance;
pub mod credentials;
mod error;
pub mod model;
pub mod payload;

pub use accounts::{
    Accounts, ApiKey, Member, NewUser, Role, Session, User, Variable, check_var_name,
};
pub use credentials::{Credential, CredentialInfo, check_credential_kind, check_credential_name};
pub use error::{Error, ErrorKind, Result};
pub use model::*;

/// A boxed, `Send` future: what every [`Store`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage backend. See the crate documentation for the rules every method follows.
pub trait Store: Send + Sync + std::fmt::Debug {
    // ----- metadata and workspaces -----

    /// The schema version of the open data.
    fn schema_version(&self) -> BoxFuture<'_, Result<u32>>;

    /// Creates a workspace; [`Error::AlreadyExists`] if it exists.
    fn create_workspace<'a>(&'a self, id: &'a str, now_ms: i64)
    -> BoxFuture<'a, Result<Workspace>>;

    /// Every workspace, by id.
    fn list_workspaces(&self) -> BoxFuture<'_, Result<Vec<Workspace>>>;

    // ----- flows -----

    /// Stores a new version of a flow (version = latest + 1, from 1).
    fn put_flow(&self, flow: NewFlowVersion) -> BoxFuture<'_, Result<FlowVersion>>;

    /// A version of a flow, or its latest version when `version` is `None`.
    fn get_flow<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        version: Option<u32>,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>>>;

    /// Every flow of a workspace with its latest version, by flow id.
    fn list_flows<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<FlowSummary>>>;

    /// Deletes a flow: every version, its webhook paths and its cron progress. Runs of it stay
    /// in history. [`Error::NotFound`] if the workspace has no such flow.
    fn delete_flow<'a>(&'a self, workspace: &'a str, flow_id: &'a str)
    -> BoxFuture<'a, Result<()>>;

    /// The flow whose latest version serves the webhook `path` in a workspace.
    fn webhook_flow<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    // ----- cron triggers -----

    /// Records `claim.slot_ms` as the last handled slot of a cron trigger, atomically: a
    /// compare-and-set that succeeds (`true`) only when no slot at or after `slot_ms` was
    /// recorded for the same (workspace, flow, trigger) before. Of several concurrent claims of
    /// one slot, from any number of processes sharing the store, exactly one gets `true`; a
    /// slot older than the recorded one is refused (`false`) and changes nothing. Triggers are
    /// independent of each other and of other workspaces'. The flow is not checked (a
    /// trigger's record outlives the flow's versions); [`Error::NotFound`] if the workspace
    /// does not exist, [`Error::InvalidArgument`] for a malformed id or key.
    fn claim_cron_slot(&self, claim: CronClaim) -> BoxFuture<'_, Result<bool>>;

    /// The last slot recorded by [`Store::claim_cron_slot`] for a trigger, `None` if none was.
    fn last_cron_slot<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        trigger: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>>>;

    // ----- runs -----

    /// Creates a run; [`Error::AlreadyExists`] if the id is taken, [`Error::NotFound`] if the
    /// workspace does not exist.
    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<Run>>;

    /// Creates a run unless the workspace holds an unexpired record of `once.key`: then the run
    /// that key created is returned with `false` (nothing is written). A record whose
    /// `request_hash` differs is refused with [`Error::AlreadyExists`] (`what` =
    /// `"idempotency key"`). Expired records are replaced. The check and the creation are one
    /// transaction, so concurrent calls with one key create one run.
    fn create_run_once(&self, run: NewRun, once: Once) -> BoxFuture<'_, Result<(Run, bool)>>;

    /// A run.
    fn get_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Run>>>;

    /// Runs matching `filter`, newest first (created desc, id desc), at most `limit` (clamped to
    /// 1..=[`MAX_PAGE`]), starting after `after`.
    fn list_runs<'a>(
        &'a self,
        workspace: &'a str,
        filter: &'a RunFilter,
        after: Option<&'a RunCursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<RunPage>>;

    /// Asks for a run to be cancelled. A run that never started (queued, unleased, empty
    /// journal) is cancelled at once (status `cancelled`, `finished_ms`, an error of kind
    /// `cancelled`); a started one gets `cancel_requested_ms` and `cancel_reason` (the first
    /// request's, kept by later ones), which the worker holding it applies, and a waiting run
    /// with a request becomes claimable. An ended run is returned unchanged.
    fn request_cancel<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        reason: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Run>>;

    /// Updates a run without a lease (operator actions such as cancelling a queued run). Workers
    /// use [`Store::commit`], which is fenced.
    fn update_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        update: RunUpdate,
    ) -> BoxFuture<'a, Result<Run>>;

    // ----- journal and history -----

    /// Applies a [`CommitRequest`] atomically: all of it or nothing.
    fn commit(&self, request: CommitRequest) -> BoxFuture<'_, Result<CommitReceipt>>;

    /// The whole journal of a run, by seq (empty for an unknown run or another workspace's).
    fn read_journal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<JournalRecord>>>;

    /// The step records of a run, by step key.
    fn list_steps<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StepRecord>>>;

    /// One step record.
    fn get_step<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        step_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StepRecord>>>;

    // ----- leases -----

    /// Claims up to `limit` runnable runs of any workspace, oldest first: queued or running
    /// runs whose lease is free or expired, and waiting runs whose lease is free or expired and
    /// that have a due timer or an unconsumed signal. Each claim increments the run's epoch
    /// (the fencing token) and turns a queued run into a running one; other statuses are the
    /// worker's to change.
    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<Lease>>>;

    /// Extends a held lease; [`Error::StaleEpoch`] if the epoch or worker is not the current one.
    fn renew(&self, request: RenewRequest) -> BoxFuture<'_, Result<Lease>>;

    /// Gives a lease up so another worker may claim the run at once; the epoch stays, so later
    /// commits with it are refused.
    fn release<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        worker_id: &'a str,
        epoch: u64,
    ) -> BoxFuture<'a, Result<()>>;

    // ----- timers and signals -----

    /// The timers of a run, by due instant then id.
    fn list_timers<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Timer>>>;

    /// The earliest due instant of a timer of a waiting run, in any workspace: how long an
    /// idle worker may sleep before claiming again.
    fn next_timer_due(&self) -> BoxFuture<'_, Result<Option<i64>>>;

    /// The queue depth: how many runs, in every workspace, a worker could claim at `now_ms`
    /// (exactly the runs [`Store::claim`] would hand out with no limit): queued runs, runs
    /// whose lease expired, and waiting runs with a due timer, a signal or a cancellation.
    fn queue_depth(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>>;

    /// Delivers a signal to a run, kept until a commit consumes it.
    fn send_signal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        name: &'a str,
        payload: serde_json::Value,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Signal>>;

    /// The unconsumed signals of a run, in delivery order.
    fn list_signals<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Signal>>>;

    // ----- cache -----

    /// A cache entry that has not expired at `now_ms`.
    fn cache_get<'a>(
        &'a self,
        workspace: &'a str,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>>;

    /// Writes a cache entry outside a commit.
    fn cache_put<'a>(&'a self, workspace: &'a str, put: CachePut) -> BoxFuture<'a, Result<()>>;
}

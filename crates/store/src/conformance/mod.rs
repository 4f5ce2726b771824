//! The conformance suite: behaviour every [`Store`] and [`Accounts`] backend must show, written
//! once against the traits and run by each backend's tests through
//! [`conformance_tests!`](crate::conformance_tests).
//!
//! Cases are plain async functions taking a [`Backend`] (a factory for fresh stores, with their
//! accounts, and for the files a backend must refuse) and returning an [`Outcome`] instead of panicking, so this code
//! follows the library rules; the generated tests turn a [`Failure`] into a test failure. The
//! suite needs no executor of its own: concurrency is driven by a small join-all.

mod accounts;
mod basics;
mod credentials;
mod cron;
mod execution;
mod leases;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use accounts::*;
pub use basics::*;
pub use credentials::*;
pub use cron::*;
pub use execution::*;
pub use leases::*;

use crate::{
    Accounts, BoxFuture, ClaimRequest, CommitRequest, Error, ErrorKind, JournalRecord, Lease,
    NewRun, Run, RunStatus, Store,
};

/// A store and its [`Accounts`] over the same data (see [`Backend::fresh_accounts`]).
pub type StoreWithAccounts = (Arc<dyn Store>, Arc<dyn Accounts>);

/// What a backend provides to the suite.
pub trait Backend: Send + Sync {
    /// Opens a new, empty store (its own directory, database or schema).
    fn fresh(&self) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>>;

    /// Opens a new, empty store like [`Backend::fresh`] and returns it together with its
    /// [`Accounts`]: both views of the same data, so workspaces created through the store are
    /// the ones accounts refer to. A backend implementing both traits on one type returns the
    /// same object twice.
    fn fresh_accounts(&self) -> BoxFuture<'_, Result<StoreWithAccounts, Error>>;

    /// Prepares a location holding data of schema version `found` (newer than the backend
    /// supports) and opens it; this must fail with [`Error::SchemaTooNew`].
    fn open_newer_schema(&self, found: u32) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>>;

    /// Prepares a location holding something that is not one of our stores and opens it; this
    /// must fail with [`Error::NotAStore`].
    fn open_foreign(&self, foreign: Foreign) -> BoxFuture<'_, Result<Arc<dyn Store>, Error>>;
}

/// Kinds of foreign data [`Backend::open_foreign`] must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// Bytes that are not a database at all.
    Garbage,
    /// A valid database of another application (tables of its own, no marker of ours).
    OtherDatabase,
}

/// A failed conformance check: what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self(format!("unexpected store error ({}): {err}", err.kind()))
    }
}

/// The result of one case.
pub type Outcome = Result<(), Failure>;

/// Fails the case unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::conformance::Failure(format!(
                "{}:{}: {}",
                file!(),
                line!(),
                format!($($msg)+)
            )));
        }
    };
}

/// Fails the case unless both sides are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err($crate::conformance::Failure(format!(
                "{}:{}: {}\n  left: {:?}\n right: {:?}",
                file!(),
                line!(),
                format!($($msg)+),
                left,
                right
            )));
        }
    }};
}

pub(crate) use {ensure, ensure_eq};

/// Checks that `result` failed with `kind`.
pub fn expect_kind<T: fmt::Debug>(
    result: Result<T, Error>,
    kind: ErrorKind,
    what: &str,
) -> Outcome {
    match result {
        Err(err) if err.kind() == kind => Ok(()),
        Err(err) => Err(Failure(format!(
            "{what}: expected a `{kind}` error, got `{}`: {err}",
            err.kind()
        ))),
        Ok(value) => Err(Failure(format!(
            "{what}: expected a `{kind}` error, got Ok({value:?})"
        ))),
    }
}

/// Generates one `#[tokio::test]` per conformance case for a backend. The calling crate needs
/// `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency; `$backend` is an
/// expression building a [`Backend`], evaluated once per test.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            schema_and_workspaces,
            flow_versions,
            flow_versions_compare_and_set,
            flow_listings_carry_labels_and_the_last_run,
            webhook_paths_are_unique_per_workspace,
            flows_are_deleted,
            run_create_and_get,
            idempotent_run_creation,
            run_update,
            run_list_pagination_and_filters,
            commit_appends_and_reads_journal,
            commit_refuses_stale_epoch,
            commit_refuses_seq_gaps_and_duplicates,
            commit_is_all_or_nothing,
            step_records_upsert,
            usage_is_kept_on_steps_and_runs,
            compressed_payloads_round_trip,
            lease_expiry_lets_another_worker_claim,
            waiting_runs_wake_on_due_timers,
            signals_are_kept_until_consumed,
            cancel_requests,
            cache_get_put_expiry,
            cross_workspace_reads_return_nothing,
            cron_slot_is_claimed_once,
            cron_slot_older_than_recorded_is_refused,
            cron_triggers_are_independent,
            cron_slots_are_isolated_by_workspace,
            concurrent_commits_all_acknowledged,
            failing_commits_do_not_fail_others,
            newer_schema_is_refused,
            foreign_files_are_refused,
            users_by_email_and_id,
            concurrent_users_with_one_email,
            user_login_state_and_password,
            members_and_roles,
            removing_a_member_revokes_its_keys_there,
            api_keys,
            sessions_expire_and_are_deleted,
            variables_set_list_delete,
            variable_values_round_trip,
            accounts_are_isolated_by_workspace,
            credentials_put_get_list_delete,
            credentials_are_isolated_by_workspace,
            webhook_deliveries_are_refused_when_replayed,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let backend = $backend;
                if let Err(failure) = $crate::conformance::$case(&backend).await {
                    panic!("conformance case `{}` failed: {failure}", stringify!($case));
                }
            }
        )*
    };
}

// ----- helpers shared by the cases -----

pub(crate) const WS: &str = crate::DEFAULT_WORKSPACE;

/// A queued, unleased run of version 1 of `flow_id` (a fixture for backends' own tests and
/// benches too).
pub fn new_run(workspace: &str, flow_id: &str, created_ms: i64) -> NewRun {
    NewRun {
        id: None,
        workspace: workspace.to_owned(),
        flow_id: flow_id.to_owned(),
        flow_version: 1,
        plan_hash: "sha256:test".to_owned(),
        input: serde_json::json!({ "n": created_ms }),
        trigger: serde_json::json!({ "type": "manual" }),
        trace_id: None,
        parent_run_id: None,
        retry_of: None,
        status: RunStatus::Queued,
        created_ms,
        lease: None,
    }
}

pub(crate) fn record(seq: u64, payload: &[u8]) -> JournalRecord {
    JournalRecord {
        seq,
        kind: "test.event".to_owned(),
        payload: payload.to_vec(),
        at_ms: 1_000 + i64::try_from(seq).unwrap_or(0),
    }
}

pub(crate) fn commit(run: &Run, epoch: u64, journal: Vec<JournalRecord>) -> CommitRequest {
    CommitRequest {
        workspace: run.workspace.clone(),
        run_id: run.id.clone(),
        epoch,
        journal,
        ..CommitRequest::default()
    }
}

/// Creates a run and claims it (the store must hold no other runnable run).
pub(crate) async fn claimed_run(
    store: &dyn Store,
    created_ms: i64,
) -> Result<(Run, Lease), Failure> {
    let run = store.create_run(new_run(WS, "flow", created_ms)).await?;
    let leases = store
        .claim(ClaimRequest {
            worker_id: "worker-a".to_owned(),
            limit: 10,
            lease_ms: 60_000,
            now_ms: created_ms,
        })
        .await?;
    match leases.as_slice() {
        [lease] if lease.run_id == run.id => Ok((run, lease.clone())),
        other => Err(Failure(format!(
            "claiming one fresh run returned {other:?}"
        ))),
    }
}

/// Runs futures concurrently on the current task and collects their outputs in order.
pub(crate) fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> JoinAll<'a, T> {
    let outputs = futures.iter().map(|_| None).collect();
    JoinAll {
        futures: futures.into_iter().map(Some).collect(),
        outputs,
    }
}

pub(crate) struct JoinAll<'a, T> {
    futures: Vec<Option<BoxFuture<'a, T>>>,
    outputs: Vec<Option<T>>,
}

// Outputs are never pinned: they are moved out once every future is done.
impl<T> Unpin for JoinAll<'_, T> {}

impl<T> Future for JoinAll<'_, T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = self.get_mut();
        let mut pending = false;
        for (slot, output) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
        }
    }
}

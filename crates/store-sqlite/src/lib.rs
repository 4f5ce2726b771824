//! The SQLite backend of [`aion_store::Store`]: one file `DIR/aion.db` in WAL mode, opened with
//! `rusqlite` (bundled SQLite).
//!
//! - **One writer thread** owns the only write connection. Every write (commits, claims, run
//!   creation, ...) is a request on its channel; it drains all pending requests, applies each in
//!   its own savepoint of one transaction, commits once and then acknowledges each request
//!   (group commit). A request that fails is rolled back to its savepoint alone.
//! - **Reader threads** (2 by default) each own a read-only connection and take read requests
//!   from a shared channel. WAL lets them read while the writer writes.
//! - No SQLite call runs on an async executor thread, and the store needs no particular
//!   executor: callers await a oneshot reply.
//! - **Durability** [`Durability::Normal`] (`synchronous=NORMAL`: an acknowledged commit
//!   survives a process crash, the last ones may be lost on power loss) or
//!   [`Durability::Full`] (`synchronous=FULL`: survives power loss).
//!
//! It also implements [`aion_store::Accounts`] (users, members, API keys, sessions, variables)
//! on the same file and threads.
//!
//! It does not know what journal payloads mean, and it does not clean up old runs (later).

mod accounts;
mod read;
mod schema;
mod threads;
mod write;

use std::path::{Path, PathBuf};

use aion_store::{
    BoxFuture, CacheEntry, CachePut, ClaimRequest, CommitReceipt, CommitRequest, CronClaim, Error,
    FlowSummary, FlowVersion, JournalRecord, Lease, NewFlowVersion, NewRun, Once, RenewRequest,
    Result, Run, RunCursor, RunFilter, RunPage, RunUpdate, Signal, StepRecord, Store, Timer,
    Workspace, check_id, check_key,
};

pub use schema::{APPLICATION_ID, latest_version};

/// The database file name inside the data dir.
pub const FILE_NAME: &str = "aion.db";

/// How hard a commit is pushed to disk before it is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: safe against a process crash.
    #[default]
    Normal,
    /// `synchronous=FULL`: also safe against power loss, slower.
    Full,
}

/// How to open the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Durability of commits.
    pub durability: Durability,
    /// Reader threads (at least 1).
    pub readers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            durability: Durability::Normal,
            readers: 2,
        }
    }
}

/// The SQLite store. Cloning is cheap and shares the threads; they stop when the last clone
/// is dropped (after finishing queued requests).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: threads::Writer,
    readers: threads::Readers,
}

pub(crate) fn db(err: rusqlite::Error) -> Error {
    Error::backend(err)
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/aion.db`, refusing foreign files and data written by a
    /// newer schema, and applies pending migrations in one transaction.
    pub async fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let path = dir.as_ref().join(FILE_NAME);
        let writer = threads::Writer::start(path.clone(), options.durability).await?;
        let readers = threads::Readers::start(path.clone(), options.readers).await?;
        Ok(Self {
            path,
            writer,
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.readers.call(read).await
    }

    async fn write<T, F>(&self, apply: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.writer.call(apply).await
    }
}

/// A UUIDv7 for an instant (run and user ids): time-ordered, with random low bits.
fn new_uuid_v7(created_ms: i64) -> String {
    let ms = u64::try_from(created_ms).unwrap_or(0);
    let nanos = u32::try_from((ms % 1000) * 1_000_000).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, nanos);
    uuid::Uuid::new_v7(ts).to_string()
}

impl Store for SqliteStore {
    fn schema_version(&self) -> BoxFuture<'_, Result<u32>> {
        Box::pin(self.read(read::schema_version))
    }

    fn create_workspace<'a>(
        &'a self,
        id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Workspace>> {
        Box::pin(async move {
            check_id("workspace id", id)?;
            let id = id.to_owned();
            self.write(move |conn| write::create_workspace(conn, &id, now_ms))
                .await
        })
    }

    fn list_workspaces(&self) -> BoxFuture<'_, Result<Vec<Workspace>>> {
        Box::pin(self.read(read::list_workspaces))
    }

    fn put_flow(&self, flow: NewFlowVersion) -> BoxFuture<'_, Result<FlowVersion>> {
        Box::pin(async move {
            check_id("workspace id", &flow.workspace)?;
            check_id("flow id", &flow.flow_id)?;
            self.write(move |conn| write::put_flow(conn, flow)).await
        })
    }

    fn get_flow<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        version: Option<u32>,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>>> {
        let (workspace, flow_id) = (workspace.to_owned(), flow_id.to_owned());
        Box::pin(self.read(move |conn| read::get_flow(conn, &workspace, &flow_id, version)))
    }

    fn list_flows<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<FlowSummary>>> {
        let workspace = workspace.to_owned();
        Box::pin(self.read(move |conn| read::list_flows(conn, &workspace)))
    }

    fn delete_flow<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let (workspace, flow_id) = (workspace.to_owned(), flow_id.to_owned());
        Box::pin(self.write(move |conn| write::delete_flow(conn, &workspace, &flow_id)))
    }

    fn webhook_flow<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        let (workspace, path) = (workspace.to_owned(), path.to_owned());
        Box::pin(self.read(move |conn| read::webhook_flow(conn, &workspace, &path)))
    }

    fn claim_cron_slot(&self, claim: CronClaim) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            check_id("workspace id", &claim.workspace)?;
            check_id("flow id", &claim.flow_id)?;
            check_id("cron trigger key", &claim.trigger)?;
            self.write(move |conn| write::claim_cron_slot(conn, &claim))
                .await
        })
    }

    fn last_cron_slot<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        trigger: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>>> {
        let (workspace, flow_id, trigger) =
            (workspace.to_owned(), flow_id.to_owned(), trigger.to_owned());
        Box::pin(self.read(move |conn| read::last_cron_slot(conn, &workspace, &flow_id, &trigger)))
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<Run>> {
        Box::pin(async move {
            check_id("workspace id", &run.workspace)?;
            check_id("flow id", &run.flow_id)?;
            let id = match &run.id {
                Some(id) => {
                    check_id("run id", id)?;
                    id.clone()
                }
                None => new_uuid_v7(run.created_ms),
            };
            self.write(move |conn| write::create_run(conn, run, id))
                .await
        })
    }

    fn create_run_once(&self, run: NewRun, once: Once) -> BoxFuture<'_, Result<(Run, bool)>> {
        Box::pin(async move {
            check_id("workspace id", &run.workspace)?;
            check_id("flow id", &run.flow_id)?;
            check_id("idempotency key", &once.key)?;
            let id = match &run.id {
                Some(id) => {
                    check_id("run id", id)?;
                    id.clone()
                }
                None => new_uuid_v7(run.created_ms),
            };
            self.write(move |conn| write::create_run_once(conn, run, id, &once))
                .await
        })
    }

    fn get_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Run>>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(self.read(move |conn| read::get_run(conn, &workspace, &run_id)))
    }

    fn list_runs<'a>(
        &'a self,
        workspace: &'a str,
        filter: &'a RunFilter,
        after: Option<&'a RunCursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<RunPage>> {
        let (workspace, filter, after) = (workspace.to_owned(), filter.clone(), after.cloned());
        Box::pin(
            self.read(move |conn| {
                read::list_runs(conn, &workspace, &filter, after.as_ref(), limit)
            }),
        )
    }

    fn request_cancel<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        reason: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Run>> {
        let (workspace, run_id, reason) =
            (workspace.to_owned(), run_id.to_owned(), reason.to_owned());
        Box::pin(async move {
            let error = aion_store::payload::encode_json(&serde_json::json!({
                "kind": "cancelled",
                "message": reason,
                "step": null,
            }))?;
            self.write(move |conn| {
                write::request_cancel(conn, &workspace, &run_id, &reason, &error, now_ms)
            })
            .await
        })
    }

    fn update_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        update: RunUpdate,
    ) -> BoxFuture<'a, Result<Run>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(async move {
            let update = write::EncodedRunUpdate::new(&update)?;
            self.write(move |conn| write::update_run(conn, &workspace, &run_id, &update))
                .await
        })
    }

    fn commit(&self, request: CommitRequest) -> BoxFuture<'_, Result<CommitReceipt>> {
        Box::pin(async move {
            let encoded = write::EncodedCommit::new(request)?;
            self.write(move |conn| write::commit(conn, &encoded)).await
        })
    }

    fn read_journal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<JournalRecord>>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(self.read(move |conn| read::read_journal(conn, &workspace, &run_id)))
    }

    fn list_steps<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StepRecord>>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(self.read(move |conn| read::list_steps(conn, &workspace, &run_id)))
    }

    fn get_step<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        step_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StepRecord>>> {
        let (workspace, run_id, key) =
            (workspace.to_owned(), run_id.to_owned(), step_key.to_owned());
        Box::pin(self.read(move |conn| read::get_step(conn, &workspace, &run_id, &key)))
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<Lease>>> {
        Box::pin(async move {
            check_id("worker id", &request.worker_id)?;
            if request.limit == 0 {
                return Ok(Vec::new());
            }
            self.write(move |conn| write::claim(conn, &request)).await
        })
    }

    fn renew(&self, request: RenewRequest) -> BoxFuture<'_, Result<Lease>> {
        Box::pin(async move {
            check_id("worker id", &request.worker_id)?;
            self.write(move |conn| write::renew(conn, &request)).await
        })
    }

    fn release<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        worker_id: &'a str,
        epoch: u64,
    ) -> BoxFuture<'a, Result<()>> {
        let (workspace, run_id, worker) = (
            workspace.to_owned(),
            run_id.to_owned(),
            worker_id.to_owned(),
        );
        Box::pin(self.write(move |conn| write::release(conn, &workspace, &run_id, &worker, epoch)))
    }

    fn list_timers<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Timer>>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(self.read(move |conn| read::list_timers(conn, &workspace, &run_id)))
    }

    fn next_timer_due(&self) -> BoxFuture<'_, Result<Option<i64>>> {
        Box::pin(self.read(read::next_timer_due))
    }

    fn queue_depth(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.read(move |conn| read::queue_depth(conn, now_ms)))
    }

    fn send_signal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        name: &'a str,
        payload: serde_json::Value,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Signal>> {
        let (workspace, run_id, name) = (workspace.to_owned(), run_id.to_owned(), name.to_owned());
        Box::pin(self.write(move |conn| {
            write::send_signal(conn, &workspace, &run_id, &name, &payload, now_ms)
        }))
    }

    fn list_signals<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Signal>>> {
        let (workspace, run_id) = (workspace.to_owned(), run_id.to_owned());
        Box::pin(self.read(move |conn| read::list_signals(conn, &workspace, &run_id)))
    }

    fn cache_get<'a>(
        &'a self,
        workspace: &'a str,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        let (workspace, key) = (workspace.to_owned(), key.to_owned());
        Box::pin(self.read(move |conn| read::cache_get(conn, &workspace, &key, now_ms)))
    }

    fn cache_put<'a>(&'a self, workspace: &'a str, put: CachePut) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            check_id("workspace id", workspace)?;
            check_key(&put.key)?;
            let workspace = workspace.to_owned();
            self.write(move |conn| write::cache_put(conn, &workspace, &put))
                .await
        })
    }
}

//! The PostgreSQL backend of [`aion_store::Store`] and [`aion_store::Accounts`], on `sqlx`
//! with only its postgres driver.
//!
//! - **One schema per store.** [`PgOptions::schema`] names the PostgreSQL schema (namespace)
//!   the store lives in; every pooled connection sets `search_path` to it when it connects, so
//!   the SQL never names a schema. Servers use `public`; tests use a fresh schema each.
//! - **Group commit.** Concurrent [`Store::commit`]s are applied in batches, each batch one
//!   statement in autocommit (data-modifying CTEs over `UNNEST`ed columns: the fenced
//!   `UPDATE` of the run rows, then journal chunks, step upserts, timers, signals and cache
//!   entries): one round trip and one WAL flush for many runs (see [`commit`]).
//! - **Claims** lock candidate runs with `FOR UPDATE SKIP LOCKED` and lease them in the same
//!   statement, so concurrent claimers never wait on each other or get the same run.
//! - **Migrations** are embedded SQL files applied in one transaction (see [`schema`]).
//!
//! It does not know what journal payloads mean, and it does not clean up old runs.

mod accounts;
mod commit;
mod error;
mod read;
pub mod schema;
mod write;

use std::str::FromStr;
use std::time::Duration;

use aion_store::{
    BoxFuture, CacheEntry, CachePut, ClaimRequest, CommitReceipt, CommitRequest, CronClaim, Error,
    FlowSummary, FlowVersion, JournalRecord, Lease, NewFlowVersion, NewRun, Once, RenewRequest,
    Result, Run, RunCursor, RunFilter, RunPage, RunUpdate, Signal, StepRecord, Store, Timer,
    Workspace, check_id, check_key,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use error::PgError;
pub use schema::{MARKER_TABLE, check_schema_name, latest_version};

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The PostgreSQL schema (namespace) holding the store; created if missing. See
    /// [`check_schema_name`] for the allowed names.
    pub schema: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing with a backend error.
    pub acquire_timeout: Duration,
    /// How many committer tasks group commits (each applies its batches on one connection
    /// at a time; a run's commits always go to the same one). Two let one batch execute
    /// while the previous one waits for its WAL flush.
    pub committers: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "public".to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            committers: 2,
        }
    }
}

/// The PostgreSQL store. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: String,
    committers: commit::Committers,
}

impl PgStore {
    /// Connects a pool to `url` (a `postgres://` URL), creates the schema if needed, refuses
    /// another application's schema ([`Error::NotAStore`]) and one written by a newer build
    /// ([`Error::SchemaTooNew`]), and applies pending migrations in one transaction.
    ///
    /// Must be called inside a tokio runtime, which then runs the committer tasks: the store
    /// stops working (with [`Error::Closed`]) when that runtime shuts down.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        check_schema_name(&options.schema)?;
        // The URL may hold a password: it is never echoed.
        let connect = PgConnectOptions::from_str(url)
            .map_err(|_| Error::InvalidArgument("malformed PostgreSQL URL".to_owned()))?;
        let search_path = format!("SET search_path TO \"{}\"", options.schema);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // A ping before every acquire would double the round trips of a commit; a broken
            // connection fails its statement instead and the pool drops it.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                let sql = search_path.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, sqlx::AssertSqlSafe(sql)).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(error::db)?;
        {
            let mut conn = pool.acquire().await.map_err(error::db)?;
            schema::prepare(&mut conn, &options.schema).await?;
        }
        Ok(Self {
            committers: commit::Committers::start(&pool, options.committers)?,
            pool,
            schema: options.schema,
        })
    }

    /// The PostgreSQL schema this store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The connection pool (for tests and tools that need raw access).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A UUIDv7 for an instant (run and user ids): time-ordered, with random low bits.
fn new_uuid_v7(created_ms: i64) -> String {
    let ms = u64::try_from(created_ms).unwrap_or(0);
    let nanos = u32::try_from((ms % 1000) * 1_000_000).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, nanos);
    uuid::Uuid::new_v7(ts).to_string()
}

fn run_id_of(run: &NewRun) -> Result<String> {
    match &run.id {
        Some(id) => {
            check_id("run id", id)?;
            Ok(id.clone())
        }
        None => Ok(new_uuid_v7(run.created_ms)),
    }
}

impl Store for PgStore {
    fn schema_version(&self) -> BoxFuture<'_, Result<u32>> {
        Box::pin(read::schema_version(&self.pool))
    }

    fn create_workspace<'a>(
        &'a self,
        id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Workspace>> {
        Box::pin(async move {
            check_id("workspace id", id)?;
            write::create_workspace(&self.pool, id, now_ms).await
        })
    }

    fn list_workspaces(&self) -> BoxFuture<'_, Result<Vec<Workspace>>> {
        Box::pin(read::list_workspaces(&self.pool))
    }

    fn put_flow(&self, flow: NewFlowVersion) -> BoxFuture<'_, Result<FlowVersion>> {
        Box::pin(async move {
            check_id("workspace id", &flow.workspace)?;
            check_id("flow id", &flow.flow_id)?;
            write::put_flow(&self.pool, flow).await
        })
    }

    fn get_flow<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        version: Option<u32>,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>>> {
        Box::pin(read::get_flow(&self.pool, workspace, flow_id, version))
    }

    fn list_flows<'a>(&'a self, workspace: &'a str) -> BoxFuture<'a, Result<Vec<FlowSummary>>> {
        Box::pin(read::list_flows(&self.pool, workspace))
    }

    fn delete_flow<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(write::delete_flow(&self.pool, workspace, flow_id))
    }

    fn webhook_flow<'a>(
        &'a self,
        workspace: &'a str,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(read::webhook_flow(&self.pool, workspace, path))
    }

    fn claim_cron_slot(&self, claim: CronClaim) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            check_id("workspace id", &claim.workspace)?;
            check_id("flow id", &claim.flow_id)?;
            check_id("cron trigger key", &claim.trigger)?;
            write::claim_cron_slot(&self.pool, &claim).await
        })
    }

    fn last_cron_slot<'a>(
        &'a self,
        workspace: &'a str,
        flow_id: &'a str,
        trigger: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>>> {
        Box::pin(read::last_cron_slot(
            &self.pool, workspace, flow_id, trigger,
        ))
    }

    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<Run>> {
        Box::pin(async move {
            check_id("workspace id", &run.workspace)?;
            check_id("flow id", &run.flow_id)?;
            let id = run_id_of(&run)?;
            write::create_run(&self.pool, &run, &id).await
        })
    }

    fn create_run_once(&self, run: NewRun, once: Once) -> BoxFuture<'_, Result<(Run, bool)>> {
        Box::pin(async move {
            check_id("workspace id", &run.workspace)?;
            check_id("flow id", &run.flow_id)?;
            check_id("idempotency key", &once.key)?;
            let id = run_id_of(&run)?;
            write::create_run_once(&self.pool, &run, &id, &once).await
        })
    }

    fn get_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Run>>> {
        Box::pin(read::get_run(&self.pool, workspace, run_id))
    }

    fn list_runs<'a>(
        &'a self,
        workspace: &'a str,
        filter: &'a RunFilter,
        after: Option<&'a RunCursor>,
        limit: u32,
    ) -> BoxFuture<'a, Result<RunPage>> {
        Box::pin(read::list_runs(&self.pool, workspace, filter, after, limit))
    }

    fn request_cancel<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        reason: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Run>> {
        Box::pin(write::request_cancel(
            &self.pool, workspace, run_id, reason, now_ms,
        ))
    }

    fn update_run<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        update: RunUpdate,
    ) -> BoxFuture<'a, Result<Run>> {
        Box::pin(write::update_run(&self.pool, workspace, run_id, update))
    }

    fn commit(&self, request: CommitRequest) -> BoxFuture<'_, Result<CommitReceipt>> {
        Box::pin(async move {
            let encoded = commit::EncodedCommit::new(request)?;
            self.committers.commit(encoded).await
        })
    }

    fn read_journal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<JournalRecord>>> {
        Box::pin(read::read_journal(&self.pool, workspace, run_id))
    }

    fn list_steps<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StepRecord>>> {
        Box::pin(read::list_steps(&self.pool, workspace, run_id, None))
    }

    fn get_step<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        step_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<StepRecord>>> {
        Box::pin(async move {
            let steps = read::list_steps(&self.pool, workspace, run_id, Some(step_key)).await?;
            Ok(steps.into_iter().next())
        })
    }

    fn claim(&self, request: ClaimRequest) -> BoxFuture<'_, Result<Vec<Lease>>> {
        Box::pin(async move {
            check_id("worker id", &request.worker_id)?;
            if request.limit == 0 {
                return Ok(Vec::new());
            }
            write::claim(&self.pool, &request).await
        })
    }

    fn renew(&self, request: RenewRequest) -> BoxFuture<'_, Result<Lease>> {
        Box::pin(async move {
            check_id("worker id", &request.worker_id)?;
            write::renew(&self.pool, &request).await
        })
    }

    fn release<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        worker_id: &'a str,
        epoch: u64,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(write::release(
            &self.pool, workspace, run_id, worker_id, epoch,
        ))
    }

    fn list_timers<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Timer>>> {
        Box::pin(read::list_timers(&self.pool, workspace, run_id))
    }

    fn next_timer_due(&self) -> BoxFuture<'_, Result<Option<i64>>> {
        Box::pin(read::next_timer_due(&self.pool))
    }

    fn queue_depth(&self, now_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(read::queue_depth(&self.pool, now_ms))
    }

    fn send_signal<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
        name: &'a str,
        payload: serde_json::Value,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Signal>> {
        Box::pin(write::send_signal(
            &self.pool, workspace, run_id, name, payload, now_ms,
        ))
    }

    fn list_signals<'a>(
        &'a self,
        workspace: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Signal>>> {
        Box::pin(read::list_signals(&self.pool, workspace, run_id))
    }

    fn cache_get<'a>(
        &'a self,
        workspace: &'a str,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(read::cache_get(&self.pool, workspace, key, now_ms))
    }

    fn cache_put<'a>(&'a self, workspace: &'a str, put: CachePut) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            check_id("workspace id", workspace)?;
            check_key(&put.key)?;
            write::cache_put(&self.pool, workspace, &put).await
        })
    }
}

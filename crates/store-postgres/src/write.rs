//! Write operations besides commits (see [`crate::commit`]). Each is one statement where it
//! can be (a claim, a renewal, a cancel request are one round trip each), or a short
//! transaction; checks the trait promises (workspace, lease
//! epoch, journal seq) are part of the statement's `WHERE`, and only when a statement matched
//! nothing does a second query find out which error to report.
//!
//! Epochs and seqs are `u64` in the API and `bigint` in the table: a value beyond `i64::MAX`
//! can never match a stored one, so it is bound as `-1` and reported by the slow path.

use std::collections::BTreeMap;

use aion_store::payload::{encode, encode_json};
use aion_store::{
    CachePut, ClaimRequest, CronClaim, Error, FlowVersion, Lease, NewFlowVersion, NewRun, Once,
    RenewRequest, Run, RunUpdate, Signal, Workspace, check_id,
};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use crate::error::{Violation, db, u32_of, u64_of, violation};
use crate::read::{self, RUN_COLUMNS, run_from_row};

/// An epoch or seq as bound: values beyond `i64::MAX` match nothing.
fn bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(-1)
}

async fn workspace_exists(conn: &mut PgConnection, workspace: &str) -> Result<bool, Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1)")
        .bind(workspace)
        .fetch_one(conn)
        .await
        .map_err(db)
}

/// Maps the error of an insert whose only foreign key is the workspace.
fn workspace_fk(err: sqlx::Error, workspace: &str) -> Error {
    match violation(&err) {
        Some(Violation::ForeignKey(_)) => Error::not_found("workspace", workspace),
        _ => db(err),
    }
}

pub(crate) async fn create_workspace(
    pool: &PgPool,
    id: &str,
    now_ms: i64,
) -> Result<Workspace, Error> {
    let inserted = sqlx::query("INSERT INTO workspaces (id, created_ms) VALUES ($1, $2)")
        .bind(id)
        .bind(now_ms)
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok(Workspace {
            id: id.to_owned(),
            created_ms: now_ms,
        }),
        Err(err) if matches!(violation(&err), Some(Violation::Unique(_))) => {
            Err(Error::AlreadyExists {
                what: "workspace",
                id: id.to_owned(),
            })
        }
        Err(err) => Err(db(err)),
    }
}

/// Saves a flow version in a transaction that first locks the workspace row (`FOR NO KEY
/// UPDATE`, which does not block inserts referring to it), so saves in one workspace are
/// serialized: version numbers stay contiguous and webhook paths unique.
pub(crate) async fn put_flow(pool: &PgPool, flow: NewFlowVersion) -> Result<FlowVersion, Error> {
    let mut tx = pool.begin().await.map_err(db)?;
    let locked: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM workspaces WHERE id = $1 FOR NO KEY UPDATE")
            .bind(&flow.workspace)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    if locked.is_none() {
        return Err(Error::not_found("workspace", &flow.workspace));
    }
    let latest: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 0) FROM flow_versions WHERE workspace = $1 AND flow_id = $2",
    )
    .bind(&flow.workspace)
    .bind(&flow.flow_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let current = u32_of(latest, "flow version")?;
    if let Some(expected) = flow.expected_latest
        && expected != current
    {
        return Err(Error::VersionConflict {
            flow_id: flow.flow_id,
            expected,
            current,
        });
    }
    let version = current
        .checked_add(1)
        .ok_or_else(|| Error::InvalidArgument("flow version out of range".to_owned()))?;
    for path in &flow.webhook_paths {
        check_id("webhook path", path)?;
    }
    sqlx::query("DELETE FROM webhooks WHERE workspace = $1 AND flow_id = $2")
        .bind(&flow.workspace)
        .bind(&flow.flow_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if !flow.webhook_paths.is_empty() {
        sqlx::query(
            "INSERT INTO webhooks (workspace, path, flow_id) \
             SELECT $1, p, $3 FROM unnest($2::text[]) AS p ON CONFLICT (workspace, path) DO NOTHING",
        )
        .bind(&flow.workspace)
        .bind(&flow.webhook_paths)
        .bind(&flow.flow_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let taken = sqlx::query(
            "SELECT path, flow_id FROM webhooks \
             WHERE workspace = $1 AND path = ANY($2) AND flow_id <> $3",
        )
        .bind(&flow.workspace)
        .bind(&flow.webhook_paths)
        .bind(&flow.flow_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut owners = BTreeMap::new();
        for row in &taken {
            let path: String = row.try_get(0).map_err(db)?;
            let owner: String = row.try_get(1).map_err(db)?;
            owners.insert(path, owner);
        }
        // The first path of the request that another flow serves, as SQLite reports it.
        if let Some((path, owner)) = flow
            .webhook_paths
            .iter()
            .find_map(|path| owners.get(path).map(|owner| (path, owner)))
        {
            return Err(Error::AlreadyExists {
                what: "webhook path",
                id: format!("{path} (served by flow {owner})"),
            });
        }
    }
    sqlx::query(
        "INSERT INTO flow_versions (workspace, flow_id, version, document, format, plan, \
         plan_hash, created_ms, name, description, tags) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&flow.workspace)
    .bind(&flow.flow_id)
    .bind(i64::from(version))
    .bind(encode(flow.document.as_bytes()))
    .bind(flow.format.as_str())
    .bind(encode_json(&flow.plan)?)
    .bind(&flow.plan_hash)
    .bind(flow.created_ms)
    .bind(&flow.labels.name)
    .bind(&flow.labels.description)
    .bind(&flow.labels.tags)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(FlowVersion {
        workspace: flow.workspace,
        flow_id: flow.flow_id,
        version,
        document: flow.document,
        format: flow.format,
        plan: flow.plan,
        plan_hash: flow.plan_hash,
        created_ms: flow.created_ms,
    })
}

/// See [`aion_store::Store::delete_flow`]: one statement, and the paths and cron progress go
/// only when versions did.
pub(crate) async fn delete_flow(
    pool: &PgPool,
    workspace: &str,
    flow_id: &str,
) -> Result<(), Error> {
    let deleted: i64 = sqlx::query_scalar(
        "WITH v AS (DELETE FROM flow_versions WHERE workspace = $1 AND flow_id = $2 RETURNING 1), \
         w AS (DELETE FROM webhooks WHERE workspace = $1 AND flow_id = $2 \
               AND EXISTS (SELECT 1 FROM v)), \
         c AS (DELETE FROM cron_slots WHERE workspace = $1 AND flow_id = $2 \
               AND EXISTS (SELECT 1 FROM v)) \
         SELECT count(*) FROM v",
    )
    .bind(workspace)
    .bind(flow_id)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    if deleted == 0 {
        return Err(Error::not_found("flow", flow_id));
    }
    Ok(())
}

const INSERT_RUN: &str = "INSERT INTO runs (id, workspace, flow_id, flow_version, plan_hash, \
     input, trigger, trace_id, parent_run_id, retry_of, status, created_ms, lease_owner, \
     lease_epoch, lease_expires_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     RETURNING id, workspace, flow_id, flow_version, plan_hash, input, trigger, trace_id, \
     parent_run_id, retry_of, status, output, error, created_ms, started_ms, finished_ms, \
     lease_epoch, lease_owner, lease_expires_ms, last_seq, cancel_requested_ms, cancel_reason, \
     input_tokens, output_tokens, cost_micro_usd";

async fn insert_run(conn: &mut PgConnection, run: &NewRun, id: &str) -> Result<Run, Error> {
    let inserted = sqlx::query(INSERT_RUN)
        .bind(id)
        .bind(&run.workspace)
        .bind(&run.flow_id)
        .bind(i64::from(run.flow_version))
        .bind(&run.plan_hash)
        .bind(encode_json(&run.input)?)
        .bind(encode_json(&run.trigger)?)
        .bind(&run.trace_id)
        .bind(&run.parent_run_id)
        .bind(&run.retry_of)
        .bind(run.status.as_str())
        .bind(run.created_ms)
        .bind(run.lease.as_ref().map(|l| l.worker_id.as_str()))
        .bind(i64::from(run.lease.is_some()))
        .bind(
            run.lease
                .as_ref()
                .map(|l| run.created_ms.saturating_add(l.lease_ms)),
        )
        .fetch_one(&mut *conn)
        .await;
    match inserted {
        Ok(row) => run_from_row(&row),
        Err(err) => match violation(&err) {
            Some(Violation::ForeignKey(_)) => Err(Error::not_found("workspace", &run.workspace)),
            // SQLite checks the workspace first: so do we, when both are wrong.
            Some(Violation::Unique(_)) => {
                if workspace_exists(conn, &run.workspace).await? {
                    Err(Error::AlreadyExists {
                        what: "run",
                        id: id.to_owned(),
                    })
                } else {
                    Err(Error::not_found("workspace", &run.workspace))
                }
            }
            None => Err(db(err)),
        },
    }
}

pub(crate) async fn create_run(pool: &PgPool, run: &NewRun, id: &str) -> Result<Run, Error> {
    let mut conn = pool.acquire().await.map_err(db)?;
    insert_run(&mut conn, run, id).await
}

/// See [`aion_store::Store::create_run_once`]. The key's row is inserted first with
/// `ON CONFLICT DO NOTHING`: of concurrent calls, the one whose insert wins creates the run in
/// the same transaction; the others wait for it to commit and then read what it recorded.
pub(crate) async fn create_run_once(
    pool: &PgPool,
    run: &NewRun,
    id: &str,
    once: &Once,
) -> Result<(Run, bool), Error> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("DELETE FROM idempotency WHERE workspace = $1 AND key = $2 AND expires_ms <= $3")
        .bind(&run.workspace)
        .bind(&once.key)
        .bind(run.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency (workspace, key, request_hash, run_id, expires_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace, key) DO NOTHING",
    )
    .bind(&run.workspace)
    .bind(&once.key)
    .bind(&once.request_hash)
    .bind(id)
    .bind(once.expires_ms)
    .execute(&mut *tx)
    .await
    .map_err(|err| workspace_fk(err, &run.workspace))?;
    if claimed.rows_affected() == 1 {
        let created = insert_run(&mut tx, run, id).await?;
        tx.commit().await.map_err(db)?;
        return Ok((created, true));
    }
    let row = sqlx::query(
        "SELECT request_hash, run_id FROM idempotency WHERE workspace = $1 AND key = $2",
    )
    .bind(&run.workspace)
    .bind(&once.key)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let hash: String = row.try_get(0).map_err(db)?;
    let run_id: String = row.try_get(1).map_err(db)?;
    if hash != once.request_hash {
        return Err(Error::AlreadyExists {
            what: "idempotency key",
            id: once.key.clone(),
        });
    }
    let found = read::get_run(&mut *tx, &run.workspace, &run_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("idempotency key of a missing run {run_id}")))?;
    tx.commit().await.map_err(db)?;
    Ok((found, false))
}

/// A [`RunUpdate`] with its blobs already encoded.
pub(crate) struct EncodedRunUpdate {
    pub(crate) status: Option<&'static str>,
    pub(crate) output: Option<Vec<u8>>,
    pub(crate) error: Option<Vec<u8>>,
    pub(crate) started_ms: Option<i64>,
    pub(crate) finished_ms: Option<i64>,
    /// Input tokens, output tokens, cost (as stored).
    pub(crate) usage: Option<[i64; 3]>,
    /// The new status ends the run (and so its lease, when committed).
    pub(crate) terminal: bool,
}

impl EncodedRunUpdate {
    pub(crate) fn new(update: &RunUpdate) -> Result<Self, Error> {
        Ok(Self {
            status: update.status.map(|s| s.as_str()),
            output: update.output.as_ref().map(encode_json).transpose()?,
            error: update.error.as_ref().map(encode_json).transpose()?,
            started_ms: update.started_ms,
            finished_ms: update.finished_ms,
            usage: update.usage.as_ref().map(aion_store::usage_columns),
            terminal: update.status.is_some_and(|s| s.is_terminal()),
        })
    }
}

pub(crate) async fn update_run(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
    update: RunUpdate,
) -> Result<Run, Error> {
    let update = EncodedRunUpdate::new(&update)?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET status = coalesce($3, status), output = coalesce($4, output), \
         error = coalesce($5, error), started_ms = coalesce($6, started_ms), \
         finished_ms = coalesce($7, finished_ms), input_tokens = coalesce($8, input_tokens), \
         output_tokens = coalesce($9, output_tokens), \
         cost_micro_usd = coalesce($10, cost_micro_usd) WHERE id = $1 AND workspace = $2 \
         RETURNING {RUN_COLUMNS}"
    )))
    .bind(run_id)
    .bind(workspace)
    .bind(update.status)
    .bind(&update.output)
    .bind(&update.error)
    .bind(update.started_ms)
    .bind(update.finished_ms)
    .bind(update.usage.map(|u| u[0]))
    .bind(update.usage.map(|u| u[1]))
    .bind(update.usage.map(|u| u[2]))
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    match row {
        Some(row) => run_from_row(&row),
        None => Err(Error::not_found("run", run_id)),
    }
}

/// See [`aion_store::Store::request_cancel`]: one `UPDATE` of a run that has not ended,
/// cancelling it at once when it never started, else recording the first request.
pub(crate) async fn request_cancel(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
    reason: &str,
    now_ms: i64,
) -> Result<Run, Error> {
    let error = encode_json(&serde_json::json!({
        "kind": "cancelled",
        "message": reason,
        "step": null,
    }))?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH old AS (SELECT key, (status = 'queued' AND lease_owner IS NULL AND last_seq = 0) \
           AS unstarted FROM runs WHERE id = $1 AND workspace = $2 \
           AND status NOT IN ('succeeded', 'failed', 'cancelled') FOR UPDATE) \
         UPDATE runs r SET \
           status = CASE WHEN old.unstarted THEN 'cancelled' ELSE r.status END, \
           finished_ms = CASE WHEN old.unstarted THEN $3 ELSE r.finished_ms END, \
           error = CASE WHEN old.unstarted THEN $5 ELSE r.error END, \
           cancel_requested_ms = CASE WHEN old.unstarted THEN $3 \
             ELSE coalesce(r.cancel_requested_ms, $3) END, \
           cancel_reason = CASE WHEN old.unstarted THEN $4 \
             ELSE coalesce(r.cancel_reason, $4) END \
         FROM old WHERE r.key = old.key RETURNING {}",
        RUN_COLUMNS
            .split(", ")
            .map(|column| format!("r.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    )))
    .bind(run_id)
    .bind(workspace)
    .bind(now_ms)
    .bind(reason)
    .bind(&error)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    if let Some(row) = row {
        return run_from_row(&row);
    }
    // An ended run is returned unchanged; a missing one is not found.
    read::get_run(pool, workspace, run_id)
        .await?
        .ok_or_else(|| Error::not_found("run", run_id))
}

/// The lease columns of a run in a workspace.
pub(crate) struct LeaseState {
    pub(crate) epoch: u64,
    pub(crate) owner: Option<String>,
    pub(crate) last_seq: u64,
}

pub(crate) async fn lease_state(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
) -> Result<LeaseState, Error> {
    let row = sqlx::query(
        "SELECT lease_epoch, lease_owner, last_seq FROM runs WHERE id = $1 AND workspace = $2",
    )
    .bind(run_id)
    .bind(workspace)
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .ok_or_else(|| Error::not_found("run", run_id))?;
    Ok(LeaseState {
        epoch: u64_of(row.try_get(0).map_err(db)?, "epoch")?,
        owner: row.try_get(1).map_err(db)?,
        last_seq: u64_of(row.try_get(2).map_err(db)?, "seq")?,
    })
}

pub(crate) async fn cache_put(pool: &PgPool, workspace: &str, put: &CachePut) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cache (workspace, key, value, expires_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace, key) DO UPDATE SET value = excluded.value, \
         expires_ms = excluded.expires_ms",
    )
    .bind(workspace)
    .bind(&put.key)
    .bind(encode(&put.value))
    .bind(put.expires_ms)
    .execute(pool)
    .await
    .map_err(|err| workspace_fk(err, workspace))?;
    Ok(())
}

/// The condition (over `runs r`) of a run a worker may claim at the instant bound as `$now`:
/// queued, or with an expired lease or none, and not waiting unless a due timer, a signal or a
/// cancellation wakes it. `claim` takes these runs and `read::queue_depth` counts them.
macro_rules! claimable {
    ($now:literal) => {
        concat!(
            "r.status IN ('queued', 'running', 'waiting') \
             AND (r.lease_owner IS NULL OR r.lease_expires_ms <= ",
            $now,
            ") \
             AND (r.status <> 'waiting' \
               OR r.cancel_requested_ms IS NOT NULL \
               OR EXISTS (SELECT 1 FROM timers t WHERE t.run_key = r.key AND t.due_ms <= ",
            $now,
            ") \
               OR EXISTS (SELECT 1 FROM signals s WHERE s.run_key = r.key))"
        )
    };
}
pub(crate) use claimable;

/// Claims runnable runs, oldest first: the inner `SELECT ... FOR UPDATE SKIP LOCKED` passes
/// over runs another claimer (or a commit) holds locked, and re-checks each candidate it does
/// lock against its newest version, so two claimers never lease one run.
const CLAIM: &str = concat!(
    "WITH c AS (SELECT key FROM runs r WHERE ",
    claimable!("$3"),
    " ORDER BY r.created_ms, r.id LIMIT $4 FOR UPDATE SKIP LOCKED) \
   UPDATE runs SET lease_owner = $1, lease_epoch = runs.lease_epoch + 1, \
     lease_expires_ms = $2, \
     status = CASE WHEN runs.status = 'queued' THEN 'running' ELSE runs.status END \
   FROM c WHERE runs.key = c.key \
   RETURNING runs.workspace, runs.id, runs.lease_epoch, runs.lease_expires_ms, runs.created_ms",
);

pub(crate) async fn claim(pool: &PgPool, request: &ClaimRequest) -> Result<Vec<Lease>, Error> {
    let expires = request.now_ms.saturating_add(request.lease_ms);
    let rows = sqlx::query(CLAIM)
        .bind(&request.worker_id)
        .bind(expires)
        .bind(request.now_ms)
        .bind(i64::from(request.limit))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let mut leases = Vec::with_capacity(rows.len());
    for row in &rows {
        let created_ms: i64 = row.try_get(4).map_err(db)?;
        leases.push((
            created_ms,
            Lease {
                workspace: row.try_get(0).map_err(db)?,
                run_id: row.try_get(1).map_err(db)?,
                epoch: u64_of(row.try_get(2).map_err(db)?, "epoch")?,
                expires_ms: row.try_get(3).map_err(db)?,
            },
        ));
    }
    // RETURNING does not promise an order: hand the runs out oldest first.
    leases.sort_by(|(a_ms, a), (b_ms, b)| (a_ms, &a.run_id).cmp(&(b_ms, &b.run_id)));
    Ok(leases.into_iter().map(|(_, lease)| lease).collect())
}

/// The error for a renewal or release that matched nothing.
async fn not_held(pool: &PgPool, workspace: &str, run_id: &str, epoch: u64) -> Error {
    match lease_state(pool, workspace, run_id).await {
        Ok(state) => Error::StaleEpoch {
            run_id: run_id.to_owned(),
            given: epoch,
            current: state.epoch,
        },
        Err(err) => err,
    }
}

pub(crate) async fn renew(pool: &PgPool, request: &RenewRequest) -> Result<Lease, Error> {
    let expires_ms = request.now_ms.saturating_add(request.lease_ms);
    let renewed = sqlx::query(
        "UPDATE runs SET lease_expires_ms = $5 \
         WHERE id = $1 AND workspace = $2 AND lease_epoch = $3 AND lease_owner = $4",
    )
    .bind(&request.run_id)
    .bind(&request.workspace)
    .bind(bound(request.epoch))
    .bind(&request.worker_id)
    .bind(expires_ms)
    .execute(pool)
    .await
    .map_err(db)?;
    if renewed.rows_affected() == 0 {
        return Err(not_held(pool, &request.workspace, &request.run_id, request.epoch).await);
    }
    Ok(Lease {
        workspace: request.workspace.clone(),
        run_id: request.run_id.clone(),
        epoch: request.epoch,
        expires_ms,
    })
}

pub(crate) async fn release(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
    worker_id: &str,
    epoch: u64,
) -> Result<(), Error> {
    let released = sqlx::query(
        "UPDATE runs SET lease_owner = NULL, lease_expires_ms = NULL \
         WHERE id = $1 AND workspace = $2 AND lease_epoch = $3 AND lease_owner = $4",
    )
    .bind(run_id)
    .bind(workspace)
    .bind(bound(epoch))
    .bind(worker_id)
    .execute(pool)
    .await
    .map_err(db)?;
    if released.rows_affected() == 0 {
        return Err(not_held(pool, workspace, run_id, epoch).await);
    }
    Ok(())
}

pub(crate) async fn send_signal(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
    name: &str,
    payload: serde_json::Value,
    now_ms: i64,
) -> Result<Signal, Error> {
    check_id("signal name", name)?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO signals (run_key, name, payload, sent_ms) \
         SELECT key, $3, $4, $5 FROM runs WHERE id = $1 AND workspace = $2 RETURNING id",
    )
    .bind(run_id)
    .bind(workspace)
    .bind(name)
    .bind(encode_json(&payload)?)
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let id = id.ok_or_else(|| Error::not_found("run", run_id))?;
    Ok(Signal {
        id: u64_of(id, "signal id")?,
        run_id: run_id.to_owned(),
        name: name.to_owned(),
        payload,
        sent_ms: now_ms,
    })
}

/// Records a cron slot unless the trigger's recorded slot is at or after it (the upsert's
/// `WHERE` makes it a compare-and-set; concurrent inserts of one key wait for each other):
/// whether this claim won.
pub(crate) async fn claim_cron_slot(pool: &PgPool, claim: &CronClaim) -> Result<bool, Error> {
    let changed = sqlx::query(
        "INSERT INTO cron_slots (workspace, flow_id, trigger_key, last_slot_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workspace, flow_id, trigger_key) DO UPDATE \
         SET last_slot_ms = excluded.last_slot_ms, updated_ms = excluded.updated_ms \
         WHERE excluded.last_slot_ms > cron_slots.last_slot_ms",
    )
    .bind(&claim.workspace)
    .bind(&claim.flow_id)
    .bind(&claim.trigger)
    .bind(claim.slot_ms)
    .bind(claim.now_ms)
    .execute(pool)
    .await
    .map_err(|err| workspace_fk(err, &claim.workspace))?;
    Ok(changed.rows_affected() == 1)
}

//! Write operations, each run by the writer thread inside its own savepoint of a group
//! commit. They check everything the trait promises (workspace, lease epoch, journal seq)
//! before writing, and compare epochs and seqs as `u64` in Rust so no value can overflow SQL.
//! A run is looked up by its text id once (with its lease state); every other statement
//! addresses it by its integer key.

use aion_store::payload::{encode, encode_json};
use aion_store::usage_columns;
use aion_store::{
    CachePut, ClaimRequest, CommitReceipt, CommitRequest, CronClaim, Error, FlowVersion, Lease,
    NewFlowVersion, NewRun, RenewRequest, Run, RunUpdate, Signal, TimerOp, Workspace, check_id,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::{db, read};
use aion_store::chunk::EncodedChunk;

fn to_i64(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::InvalidArgument(format!("{what} out of range")))
}

pub(crate) fn workspace_exists(conn: &Connection, workspace: &str) -> Result<(), Error> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")
        .map_err(db)?
        .query_row(params![workspace], |row| row.get(0))
        .optional()
        .map_err(db)?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::not_found("workspace", workspace)),
    }
}

pub(crate) fn is_constraint(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

pub(crate) fn create_workspace(
    conn: &Connection,
    id: &str,
    now_ms: i64,
) -> Result<Workspace, Error> {
    match conn.execute(
        "INSERT INTO workspaces (id, created_ms) VALUES (?1, ?2)",
        params![id, now_ms],
    ) {
        Ok(_) => Ok(Workspace {
            id: id.to_owned(),
            created_ms: now_ms,
        }),
        Err(err) if is_constraint(&err) => Err(Error::AlreadyExists {
            what: "workspace",
            id: id.to_owned(),
        }),
        Err(err) => Err(db(err)),
    }
}

pub(crate) fn put_flow(conn: &Connection, flow: NewFlowVersion) -> Result<FlowVersion, Error> {
    workspace_exists(conn, &flow.workspace)?;
    let latest: i64 = conn
        .prepare_cached(
            "SELECT coalesce(max(version), 0) FROM flow_versions WHERE workspace = ?1 AND flow_id = ?2",
        )
        .map_err(db)?
        .query_row(params![flow.workspace, flow.flow_id], |row| row.get(0))
        .map_err(db)?;
    let current = u32::try_from(latest)
        .map_err(|_| Error::Corrupt("flow version out of range".to_owned()))?;
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
    register_webhooks(conn, &flow)?;
    conn.prepare_cached(
        "INSERT INTO flow_versions (workspace, flow_id, version, document, format, plan, \
         plan_hash, created_ms, name, description, tags) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(db)?
    .execute(params![
        flow.workspace,
        flow.flow_id,
        version,
        encode(flow.document.as_bytes()),
        flow.format.as_str(),
        encode_json(&flow.plan)?,
        flow.plan_hash,
        flow.created_ms,
        flow.labels.name,
        flow.labels.description,
        serde_json::to_string(&flow.labels.tags)
            .map_err(|e| Error::InvalidArgument(format!("flow tags: {e}")))?,
    ])
    .map_err(db)?;
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

/// See [`aion_store::Store::delete_flow`].
pub(crate) fn delete_flow(conn: &Connection, workspace: &str, flow_id: &str) -> Result<(), Error> {
    let deleted = conn
        .prepare_cached("DELETE FROM flow_versions WHERE workspace = ?1 AND flow_id = ?2")
        .map_err(db)?
        .execute(params![workspace, flow_id])
        .map_err(db)?;
    if deleted == 0 {
        return Err(Error::not_found("flow", flow_id));
    }
    for sql in [
        "DELETE FROM webhooks WHERE workspace = ?1 AND flow_id = ?2",
        "DELETE FROM cron_slots WHERE workspace = ?1 AND flow_id = ?2",
    ] {
        conn.prepare_cached(sql)
            .map_err(db)?
            .execute(params![workspace, flow_id])
            .map_err(db)?;
    }
    Ok(())
}

/// Makes `flow.webhook_paths` the flow's paths; [`Error::AlreadyExists`] if another flow of
/// the workspace serves one of them (the caller's savepoint undoes the rest).
fn register_webhooks(conn: &Connection, flow: &NewFlowVersion) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM webhooks WHERE workspace = ?1 AND flow_id = ?2")
        .map_err(db)?
        .execute(params![flow.workspace, flow.flow_id])
        .map_err(db)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO webhooks (workspace, path, flow_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (workspace, path) DO NOTHING",
        )
        .map_err(db)?;
    for path in &flow.webhook_paths {
        check_id("webhook path", path)?;
        if insert
            .execute(params![flow.workspace, path, flow.flow_id])
            .map_err(db)?
            == 0
        {
            let owner: String = conn
                .prepare_cached("SELECT flow_id FROM webhooks WHERE workspace = ?1 AND path = ?2")
                .map_err(db)?
                .query_row(params![flow.workspace, path], |row| row.get(0))
                .map_err(db)?;
            if owner != flow.flow_id {
                return Err(Error::AlreadyExists {
                    what: "webhook path",
                    id: format!("{path} (served by flow {owner})"),
                });
            }
        }
    }
    Ok(())
}

pub(crate) fn create_run(conn: &Connection, run: NewRun, id: String) -> Result<Run, Error> {
    workspace_exists(conn, &run.workspace)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (id, workspace, flow_id, flow_version, plan_hash, input, trigger, \
             trace_id, parent_run_id, retry_of, status, created_ms, lease_owner, lease_epoch, \
             lease_expires_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )
        .map_err(db)?
        .execute(params![
            id,
            run.workspace,
            run.flow_id,
            run.flow_version,
            run.plan_hash,
            encode_json(&run.input)?,
            encode_json(&run.trigger)?,
            run.trace_id,
            run.parent_run_id,
            run.retry_of,
            run.status.as_str(),
            run.created_ms,
            run.lease.as_ref().map(|l| l.worker_id.as_str()),
            i64::from(run.lease.is_some()),
            run.lease
                .as_ref()
                .map(|l| run.created_ms.saturating_add(l.lease_ms)),
        ]);
    match inserted {
        Ok(_) => {}
        Err(err) if is_constraint(&err) => {
            return Err(Error::AlreadyExists { what: "run", id });
        }
        Err(err) => return Err(db(err)),
    }
    read::get_run(conn, &run.workspace, &id)?.ok_or_else(|| Error::not_found("run", id))
}

/// See [`aion_store::Store::create_run_once`].
pub(crate) fn create_run_once(
    conn: &Connection,
    run: NewRun,
    id: String,
    once: &aion_store::Once,
) -> Result<(Run, bool), Error> {
    conn.prepare_cached(
        "DELETE FROM idempotency WHERE workspace = ?1 AND key = ?2 AND expires_ms <= ?3",
    )
    .map_err(db)?
    .execute(params![run.workspace, once.key, run.created_ms])
    .map_err(db)?;
    let existing: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT request_hash, run_id FROM idempotency WHERE workspace = ?1 AND key = ?2",
        )
        .map_err(db)?
        .query_row(params![run.workspace, once.key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(db)?;
    if let Some((hash, run_id)) = existing {
        if hash != once.request_hash {
            return Err(Error::AlreadyExists {
                what: "idempotency key",
                id: once.key.clone(),
            });
        }
        let found = read::get_run(conn, &run.workspace, &run_id)?
            .ok_or_else(|| Error::Corrupt(format!("idempotency key of a missing run {run_id}")))?;
        return Ok((found, false));
    }
    let workspace = run.workspace.clone();
    let created = create_run(conn, run, id)?;
    conn.prepare_cached(
        "INSERT INTO idempotency (workspace, key, request_hash, run_id, expires_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(db)?
    .execute(params![
        workspace,
        once.key,
        once.request_hash,
        created.id,
        once.expires_ms
    ])
    .map_err(db)?;
    Ok((created, true))
}

/// A [`RunUpdate`] with its blobs already encoded.
pub(crate) struct EncodedRunUpdate {
    status: Option<&'static str>,
    output: Option<Vec<u8>>,
    error: Option<Vec<u8>>,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
    /// Input tokens, output tokens, cost (integers as SQLite stores them).
    usage: Option<[i64; 3]>,
    /// The new status ends the run (and so its lease, when committed).
    terminal: bool,
}

impl EncodedRunUpdate {
    pub(crate) fn new(update: &RunUpdate) -> Result<Self, Error> {
        Ok(Self {
            status: update.status.map(|s| s.as_str()),
            output: update.output.as_ref().map(encode_json).transpose()?,
            error: update.error.as_ref().map(encode_json).transpose()?,
            started_ms: update.started_ms,
            finished_ms: update.finished_ms,
            usage: update.usage.as_ref().map(usage_columns),
            terminal: update.status.is_some_and(|s| s.is_terminal()),
        })
    }
}

fn apply_run_update(conn: &Connection, key: i64, update: &EncodedRunUpdate) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE runs SET status = coalesce(?2, status), output = coalesce(?3, output), \
         error = coalesce(?4, error), started_ms = coalesce(?5, started_ms), \
         finished_ms = coalesce(?6, finished_ms), input_tokens = coalesce(?7, input_tokens), \
         output_tokens = coalesce(?8, output_tokens), \
         cost_micro_usd = coalesce(?9, cost_micro_usd) WHERE key = ?1",
    )
    .map_err(db)?
    .execute(params![
        key,
        update.status,
        update.output,
        update.error,
        update.started_ms,
        update.finished_ms,
        update.usage.map(|u| u[0]),
        update.usage.map(|u| u[1]),
        update.usage.map(|u| u[2]),
    ])
    .map_err(db)?;
    Ok(())
}

pub(crate) fn update_run(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
    update: &EncodedRunUpdate,
) -> Result<Run, Error> {
    let state = lease_state(conn, workspace, run_id)?;
    apply_run_update(conn, state.key, update)?;
    read::get_run(conn, workspace, run_id)?.ok_or_else(|| Error::not_found("run", run_id))
}

/// See [`aion_store::Store::request_cancel`]; `error` is the encoded error of a run cancelled
/// before it started.
pub(crate) fn request_cancel(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
    reason: &str,
    error: &[u8],
    now_ms: i64,
) -> Result<Run, Error> {
    let run =
        read::get_run(conn, workspace, run_id)?.ok_or_else(|| Error::not_found("run", run_id))?;
    if run.status.is_terminal() {
        return Ok(run);
    }
    let unstarted = run.status == aion_store::RunStatus::Queued
        && run.lease_owner.is_none()
        && run.last_seq == 0;
    if unstarted {
        conn.prepare_cached(
            "UPDATE runs SET status = 'cancelled', finished_ms = ?2, error = ?3, \
             cancel_requested_ms = ?2, cancel_reason = ?4 WHERE id = ?1",
        )
        .map_err(db)?
        .execute(params![run_id, now_ms, error, reason])
        .map_err(db)?;
    } else {
        conn.prepare_cached(
            "UPDATE runs SET cancel_requested_ms = coalesce(cancel_requested_ms, ?2), \
             cancel_reason = coalesce(cancel_reason, ?3) WHERE id = ?1",
        )
        .map_err(db)?
        .execute(params![run_id, now_ms, reason])
        .map_err(db)?;
    }
    read::get_run(conn, workspace, run_id)?.ok_or_else(|| Error::not_found("run", run_id))
}

/// The integer key and lease columns of a run in a workspace.
struct LeaseState {
    key: i64,
    epoch: u64,
    owner: Option<String>,
    last_seq: u64,
}

fn lease_state(conn: &Connection, workspace: &str, run_id: &str) -> Result<LeaseState, Error> {
    let found: Option<(i64, i64, Option<String>, i64)> = conn
        .prepare_cached(
            "SELECT key, lease_epoch, lease_owner, last_seq FROM runs \
             WHERE id = ?1 AND workspace = ?2",
        )
        .map_err(db)?
        .query_row(params![run_id, workspace], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()
        .map_err(db)?;
    let (key, epoch, owner, last_seq) = found.ok_or_else(|| Error::not_found("run", run_id))?;
    Ok(LeaseState {
        key,
        epoch: u64::try_from(epoch).map_err(|_| Error::Corrupt("negative epoch".to_owned()))?,
        owner,
        last_seq: u64::try_from(last_seq).map_err(|_| Error::Corrupt("negative seq".to_owned()))?,
    })
}

/// A step record with its blobs encoded.
struct EncodedStep {
    step_key: String,
    status: &'static str,
    attempts: u32,
    input: Option<Vec<u8>>,
    output: Option<Vec<u8>>,
    error: Option<Vec<u8>>,
    logs: Vec<u8>,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
    duration_ms: Option<i64>,
    cache_hit: bool,
    idempotency_key: Option<String>,
    usage: [i64; 3],
}

/// A [`CommitRequest`] with every blob serialized and compressed by the caller's task, so the
/// writer thread (the serial bottleneck of group commit) only executes SQL.
pub(crate) struct EncodedCommit {
    workspace: String,
    run_id: String,
    epoch: u64,
    /// All journal records of the commit as one chunk.
    journal: Option<EncodedChunk>,
    run_update: Option<EncodedRunUpdate>,
    steps: Vec<EncodedStep>,
    timers: Vec<TimerOp>,
    consume_signals: Vec<u64>,
    /// (key, encoded value, expires_ms).
    cache: Vec<(String, Vec<u8>, i64)>,
}

impl EncodedCommit {
    pub(crate) fn new(request: CommitRequest) -> Result<Self, Error> {
        request.validate()?;
        let mut steps = Vec::with_capacity(request.steps.len());
        for step in request.steps {
            let logs = serde_json::to_value(&step.logs)
                .map_err(|err| Error::InvalidArgument(format!("step logs: {err}")))?;
            steps.push(EncodedStep {
                status: step.status.as_str(),
                attempts: step.attempts,
                input: step.input.as_ref().map(encode_json).transpose()?,
                output: step.output.as_ref().map(encode_json).transpose()?,
                error: step.error.as_ref().map(encode_json).transpose()?,
                logs: encode_json(&logs)?,
                started_ms: step.started_ms,
                finished_ms: step.finished_ms,
                duration_ms: step.duration_ms,
                cache_hit: step.cache_hit,
                idempotency_key: step.idempotency_key,
                usage: usage_columns(&step.usage),
                step_key: step.step_key,
            });
        }
        Ok(Self {
            journal: EncodedChunk::new(&request.journal)?,
            run_update: request
                .run_update
                .as_ref()
                .map(EncodedRunUpdate::new)
                .transpose()?,
            steps,
            timers: request.timers,
            consume_signals: request.consume_signals,
            cache: request
                .cache
                .into_iter()
                .map(|put| (put.key, encode(&put.value), put.expires_ms))
                .collect(),
            workspace: request.workspace,
            run_id: request.run_id,
            epoch: request.epoch,
        })
    }
}

pub(crate) fn commit(conn: &Connection, request: &EncodedCommit) -> Result<CommitReceipt, Error> {
    let state = lease_state(conn, &request.workspace, &request.run_id)?;
    if state.epoch != request.epoch || state.owner.is_none() {
        return Err(Error::StaleEpoch {
            run_id: request.run_id.clone(),
            given: request.epoch,
            current: state.epoch,
        });
    }
    let expected = state.last_seq.saturating_add(1);
    let mut last_seq = state.last_seq;
    let key = state.key;
    if let Some(chunk) = &request.journal {
        if chunk.first_seq != expected {
            return Err(Error::SeqConflict {
                run_id: request.run_id.clone(),
                expected,
                given: chunk.first_seq,
            });
        }
        conn.prepare_cached(
            "INSERT INTO journal (run_key, first_seq, last_seq, records) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?
        .execute(params![
            key,
            to_i64(chunk.first_seq, "seq")?,
            to_i64(chunk.last_seq, "seq")?,
            chunk.records,
        ])
        .map_err(db)?;
        last_seq = chunk.last_seq;
        conn.prepare_cached("UPDATE runs SET last_seq = ?2 WHERE key = ?1")
            .map_err(db)?
            .execute(params![key, to_i64(last_seq, "seq")?])
            .map_err(db)?;
    }
    if let Some(update) = &request.run_update {
        apply_run_update(conn, key, update)?;
        if update.terminal {
            conn.prepare_cached(
                "UPDATE runs SET lease_owner = NULL, lease_expires_ms = NULL WHERE key = ?1",
            )
            .map_err(db)?
            .execute(params![key])
            .map_err(db)?;
        }
    }
    if !request.steps.is_empty() {
        let mut upsert = conn
            .prepare_cached(
                "INSERT INTO steps (run_key, step_key, status, attempts, input, output, \
                 error, logs, started_ms, finished_ms, duration_ms, cache_hit, idempotency_key, \
                 input_tokens, output_tokens, cost_micro_usd) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT (run_key, step_key) DO UPDATE SET status = excluded.status, \
                 attempts = excluded.attempts, input = excluded.input, output = excluded.output, \
                 error = excluded.error, logs = excluded.logs, started_ms = excluded.started_ms, \
                 finished_ms = excluded.finished_ms, duration_ms = excluded.duration_ms, \
                 cache_hit = excluded.cache_hit, idempotency_key = excluded.idempotency_key, \
                 input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
                 cost_micro_usd = excluded.cost_micro_usd",
            )
            .map_err(db)?;
        for step in &request.steps {
            upsert
                .execute(params![
                    key,
                    step.step_key,
                    step.status,
                    step.attempts,
                    step.input,
                    step.output,
                    step.error,
                    step.logs,
                    step.started_ms,
                    step.finished_ms,
                    step.duration_ms,
                    i64::from(step.cache_hit),
                    step.idempotency_key,
                    step.usage[0],
                    step.usage[1],
                    step.usage[2],
                ])
                .map_err(db)?;
        }
    }
    for op in &request.timers {
        match op {
            TimerOp::Set { timer_id, due_ms } => conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO timers (run_key, timer_id, due_ms) VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?
                .execute(params![key, timer_id, due_ms]),
            TimerOp::Clear { timer_id } => conn
                .prepare_cached("DELETE FROM timers WHERE run_key = ?1 AND timer_id = ?2")
                .map_err(db)?
                .execute(params![key, timer_id]),
        }
        .map_err(db)?;
    }
    for id in &request.consume_signals {
        // An id beyond i64 cannot exist, so there is nothing to delete.
        if let Ok(id) = i64::try_from(*id) {
            conn.prepare_cached("DELETE FROM signals WHERE id = ?1 AND run_key = ?2")
                .map_err(db)?
                .execute(params![id, key])
                .map_err(db)?;
        }
    }
    for (key, value, expires_ms) in &request.cache {
        put_cache(conn, &request.workspace, key, value, *expires_ms)?;
    }
    Ok(CommitReceipt { last_seq })
}

fn put_cache(
    conn: &Connection,
    workspace: &str,
    key: &str,
    value: &[u8],
    expires_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO cache (workspace, key, value, expires_ms) VALUES (?1, ?2, ?3, ?4)",
    )
    .map_err(db)?
    .execute(params![workspace, key, value, expires_ms])
    .map_err(db)?;
    Ok(())
}

pub(crate) fn cache_put(conn: &Connection, workspace: &str, put: &CachePut) -> Result<(), Error> {
    workspace_exists(conn, workspace)?;
    put_cache(
        conn,
        workspace,
        &put.key,
        &encode(&put.value),
        put.expires_ms,
    )
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
             AND (r.status != 'waiting' \
               OR r.cancel_requested_ms IS NOT NULL \
               OR EXISTS (SELECT 1 FROM timers t WHERE t.run_key = r.key AND t.due_ms <= ",
            $now,
            ") \
               OR EXISTS (SELECT 1 FROM signals s WHERE s.run_key = r.key))"
        )
    };
}
pub(crate) use claimable;

pub(crate) fn claim(conn: &Connection, request: &ClaimRequest) -> Result<Vec<Lease>, Error> {
    let expires = request.now_ms.saturating_add(request.lease_ms);
    let mut stmt = conn
        .prepare_cached(concat!(
            "UPDATE runs SET lease_owner = ?1, lease_epoch = lease_epoch + 1, \
                 lease_expires_ms = ?2, \
                 status = CASE WHEN status = 'queued' THEN 'running' ELSE status END \
                 WHERE key IN (SELECT key FROM runs r WHERE ",
            claimable!("?3"),
            " ORDER BY r.created_ms, r.id LIMIT ?4) \
                 RETURNING workspace, id, lease_epoch, lease_expires_ms, created_ms"
        ))
        .map_err(db)?;
    let mut rows = stmt
        .query(params![
            request.worker_id,
            expires,
            request.now_ms,
            i64::from(request.limit)
        ])
        .map_err(db)?;
    let mut leases = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let epoch: i64 = row.get(2).map_err(db)?;
        let created_ms: i64 = row.get(4).map_err(db)?;
        leases.push((
            created_ms,
            Lease {
                workspace: row.get(0).map_err(db)?,
                run_id: row.get(1).map_err(db)?,
                epoch: u64::try_from(epoch)
                    .map_err(|_| Error::Corrupt("negative epoch".to_owned()))?,
                expires_ms: row.get(3).map_err(db)?,
            },
        ));
    }
    // RETURNING does not promise an order: hand the runs out oldest first.
    leases.sort_by(|(a_ms, a), (b_ms, b)| (a_ms, &a.run_id).cmp(&(b_ms, &b.run_id)));
    Ok(leases.into_iter().map(|(_, lease)| lease).collect())
}

fn check_holder(
    state: &LeaseState,
    run_id: &str,
    worker_id: &str,
    epoch: u64,
) -> Result<(), Error> {
    if state.epoch != epoch || state.owner.as_deref() != Some(worker_id) {
        return Err(Error::StaleEpoch {
            run_id: run_id.to_owned(),
            given: epoch,
            current: state.epoch,
        });
    }
    Ok(())
}

pub(crate) fn renew(conn: &Connection, request: &RenewRequest) -> Result<Lease, Error> {
    let state = lease_state(conn, &request.workspace, &request.run_id)?;
    check_holder(&state, &request.run_id, &request.worker_id, request.epoch)?;
    let expires_ms = request.now_ms.saturating_add(request.lease_ms);
    conn.prepare_cached("UPDATE runs SET lease_expires_ms = ?2 WHERE key = ?1")
        .map_err(db)?
        .execute(params![state.key, expires_ms])
        .map_err(db)?;
    Ok(Lease {
        workspace: request.workspace.clone(),
        run_id: request.run_id.clone(),
        epoch: request.epoch,
        expires_ms,
    })
}

pub(crate) fn release(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
    worker_id: &str,
    epoch: u64,
) -> Result<(), Error> {
    let state = lease_state(conn, workspace, run_id)?;
    check_holder(&state, run_id, worker_id, epoch)?;
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = NULL, lease_expires_ms = NULL WHERE key = ?1",
    )
    .map_err(db)?
    .execute(params![state.key])
    .map_err(db)?;
    Ok(())
}

pub(crate) fn send_signal(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
    name: &str,
    payload: &serde_json::Value,
    now_ms: i64,
) -> Result<Signal, Error> {
    check_id("signal name", name)?;
    let state = lease_state(conn, workspace, run_id)?;
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO signals (run_key, name, payload, sent_ms) VALUES (?1, ?2, ?3, ?4) \
             RETURNING id",
        )
        .map_err(db)?
        .query_row(
            params![state.key, name, encode_json(payload)?, now_ms],
            |row| row.get(0),
        )
        .map_err(db)?;
    Ok(Signal {
        id: u64::try_from(id).map_err(|_| Error::Corrupt("negative signal id".to_owned()))?,
        run_id: run_id.to_owned(),
        name: name.to_owned(),
        payload: payload.clone(),
        sent_ms: now_ms,
    })
}

/// Records a cron slot unless the trigger's recorded slot is at or after it (the upsert's
/// `WHERE` makes it a compare-and-set): whether this claim won.
pub(crate) fn claim_cron_slot(conn: &Connection, claim: &CronClaim) -> Result<bool, Error> {
    workspace_exists(conn, &claim.workspace)?;
    let changed = conn
        .prepare_cached(
            "INSERT INTO cron_slots (workspace, flow_id, trigger_key, last_slot_ms, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (workspace, flow_id, trigger_key) DO UPDATE \
             SET last_slot_ms = excluded.last_slot_ms, updated_ms = excluded.updated_ms \
             WHERE excluded.last_slot_ms > cron_slots.last_slot_ms",
        )
        .map_err(db)?
        .execute(params![
            claim.workspace,
            claim.flow_id,
            claim.trigger,
            claim.slot_ms,
            claim.now_ms
        ])
        .map_err(db)?;
    Ok(changed == 1)
}

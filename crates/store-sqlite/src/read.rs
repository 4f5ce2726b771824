//! Read queries and row decoding. Every query that returns user data filters on the
//! workspace (directly, or by joining the run on its integer key), so another workspace's
//! data reads as absent.

use aion_store::payload::{decode, decode_json};
use aion_store::{
    CacheEntry, Error, FlowLabels, FlowSummary, FlowVersion, JournalRecord, LogLine, Run, RunBrief,
    RunCursor, RunFilter, RunPage, Signal, StepRecord, Timer, Usage, Workspace,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::db;
use aion_store::chunk;

pub(crate) const RUN_COLUMNS: &str = "id, workspace, flow_id, flow_version, plan_hash, input, \
     trigger, trace_id, parent_run_id, retry_of, status, output, error, created_ms, started_ms, \
     finished_ms, lease_epoch, lease_owner, lease_expires_ms, last_seq, cancel_requested_ms, \
     cancel_reason, input_tokens, output_tokens, cost_micro_usd";

fn u64_of(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("negative {what}")))
}

fn u32_of(value: i64, what: &str) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("{what} out of range")))
}

fn opt_json(blob: Option<Vec<u8>>) -> Result<Option<serde_json::Value>, Error> {
    blob.map(|b| decode_json(&b)).transpose()
}

pub(crate) fn run_from_row(row: &Row<'_>) -> Result<Run, Error> {
    let input: Vec<u8> = row.get(5).map_err(db)?;
    let trigger: Vec<u8> = row.get(6).map_err(db)?;
    let status: String = row.get(10).map_err(db)?;
    Ok(Run {
        id: row.get(0).map_err(db)?,
        workspace: row.get(1).map_err(db)?,
        flow_id: row.get(2).map_err(db)?,
        flow_version: u32_of(row.get(3).map_err(db)?, "flow version")?,
        plan_hash: row.get(4).map_err(db)?,
        input: decode_json(&input)?,
        trigger: decode_json(&trigger)?,
        trace_id: row.get(7).map_err(db)?,
        parent_run_id: row.get(8).map_err(db)?,
        retry_of: row.get(9).map_err(db)?,
        status: status.parse()?,
        output: opt_json(row.get(11).map_err(db)?)?,
        error: opt_json(row.get(12).map_err(db)?)?,
        created_ms: row.get(13).map_err(db)?,
        started_ms: row.get(14).map_err(db)?,
        finished_ms: row.get(15).map_err(db)?,
        epoch: u64_of(row.get(16).map_err(db)?, "epoch")?,
        lease_owner: row.get(17).map_err(db)?,
        lease_expires_ms: row.get(18).map_err(db)?,
        last_seq: u64_of(row.get(19).map_err(db)?, "seq")?,
        cancel_requested_ms: row.get(20).map_err(db)?,
        cancel_reason: row.get(21).map_err(db)?,
        usage: usage_at(row, 22)?,
    })
}

/// Three integer columns from `first`: input tokens, output tokens, cost in micro-USD.
fn usage_at(row: &Row<'_>, first: usize) -> Result<Usage, Error> {
    Ok(Usage {
        input_tokens: u64_of(row.get(first).map_err(db)?, "token count")?,
        output_tokens: u64_of(row.get(first + 1).map_err(db)?, "token count")?,
        cost_micro_usd: u64_of(row.get(first + 2).map_err(db)?, "cost")?,
    })
}

pub(crate) fn get_run(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
) -> Result<Option<Run>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1 AND workspace = ?2"
        ))
        .map_err(db)?;
    let mut rows = stmt.query(params![run_id, workspace]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => Ok(Some(run_from_row(row)?)),
        None => Ok(None),
    }
}

pub(crate) fn list_runs(
    conn: &Connection,
    workspace: &str,
    filter: &RunFilter,
    after: Option<&RunCursor>,
    limit: u32,
) -> Result<RunPage, Error> {
    let limit = limit.clamp(1, aion_store::MAX_PAGE);
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE workspace = ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(workspace.to_owned())];
    if let Some(flow_id) = &filter.flow_id {
        sql.push_str(" AND flow_id = ?");
        args.push(SqlValue::Text(flow_id.clone()));
    }
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
        args.extend(
            filter
                .statuses
                .iter()
                .map(|s| SqlValue::Text(s.as_str().to_owned())),
        );
    }
    if let Some(from) = filter.created_from_ms {
        sql.push_str(" AND created_ms >= ?");
        args.push(SqlValue::Integer(from));
    }
    if let Some(before) = filter.created_before_ms {
        sql.push_str(" AND created_ms < ?");
        args.push(SqlValue::Integer(before));
    }
    if let Some(cursor) = after {
        sql.push_str(" AND (created_ms < ? OR (created_ms = ? AND id < ?))");
        args.push(SqlValue::Integer(cursor.created_ms));
        args.push(SqlValue::Integer(cursor.created_ms));
        args.push(SqlValue::Text(cursor.id.clone()));
    }
    sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ?");
    args.push(SqlValue::Integer(i64::from(limit) + 1));
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args)).map_err(db)?;
    let mut runs = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        runs.push(run_from_row(row)?);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next = if runs.len() > limit {
        runs.truncate(limit);
        runs.last().map(|run| RunCursor {
            created_ms: run.created_ms,
            id: run.id.clone(),
        })
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

pub(crate) fn list_workspaces(conn: &Connection) -> Result<Vec<Workspace>, Error> {
    let mut stmt = conn
        .prepare_cached("SELECT id, created_ms FROM workspaces ORDER BY id")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(Workspace {
                id: row.get(0)?,
                created_ms: row.get(1)?,
            })
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

fn flow_from_row(row: &Row<'_>) -> Result<FlowVersion, Error> {
    let document: Vec<u8> = row.get(3).map_err(db)?;
    let format: String = row.get(4).map_err(db)?;
    let plan: Vec<u8> = row.get(5).map_err(db)?;
    Ok(FlowVersion {
        workspace: row.get(0).map_err(db)?,
        flow_id: row.get(1).map_err(db)?,
        version: u32_of(row.get(2).map_err(db)?, "flow version")?,
        document: String::from_utf8(decode(&document)?)
            .map_err(|_| Error::Corrupt("flow document is not UTF-8".to_owned()))?,
        format: format.parse()?,
        plan: decode_json(&plan)?,
        plan_hash: row.get(6).map_err(db)?,
        created_ms: row.get(7).map_err(db)?,
    })
}

pub(crate) fn get_flow(
    conn: &Connection,
    workspace: &str,
    flow_id: &str,
    version: Option<u32>,
) -> Result<Option<FlowVersion>, Error> {
    let columns = "workspace, flow_id, version, document, format, plan, plan_hash, created_ms";
    let mut stmt;
    let mut rows = match version {
        Some(version) => {
            stmt = conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM flow_versions \
                     WHERE workspace = ?1 AND flow_id = ?2 AND version = ?3"
                ))
                .map_err(db)?;
            stmt.query(params![workspace, flow_id, version])
                .map_err(db)?
        }
        None => {
            stmt = conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM flow_versions WHERE workspace = ?1 AND flow_id = ?2 \
                     ORDER BY version DESC LIMIT 1"
                ))
                .map_err(db)?;
            stmt.query(params![workspace, flow_id]).map_err(db)?
        }
    };
    match rows.next().map_err(db)? {
        Some(row) => Ok(Some(flow_from_row(row)?)),
        None => Ok(None),
    }
}

pub(crate) fn list_flows(conn: &Connection, workspace: &str) -> Result<Vec<FlowSummary>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT f.flow_id, f.version, f.plan_hash, f.created_ms, f.name, f.description, \
             f.tags, r.id, r.status, r.created_ms FROM flow_versions f \
             LEFT JOIN runs r ON r.key = (SELECT key FROM runs WHERE workspace = f.workspace \
               AND flow_id = f.flow_id ORDER BY created_ms DESC, id DESC LIMIT 1) \
             WHERE f.workspace = ?1 AND f.version = (SELECT max(version) FROM flow_versions \
             WHERE workspace = f.workspace AND flow_id = f.flow_id) ORDER BY f.flow_id",
        )
        .map_err(db)?;
    let mut rows = stmt.query(params![workspace]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let tags: String = row.get(6).map_err(db)?;
        let run_id: Option<String> = row.get(7).map_err(db)?;
        let last_run = match run_id {
            Some(run_id) => {
                let status: String = row.get(8).map_err(db)?;
                Some(RunBrief {
                    run_id,
                    status: status.parse()?,
                    created_ms: row.get(9).map_err(db)?,
                })
            }
            None => None,
        };
        out.push(FlowSummary {
            flow_id: row.get(0).map_err(db)?,
            latest_version: u32_of(row.get(1).map_err(db)?, "flow version")?,
            plan_hash: row.get(2).map_err(db)?,
            updated_ms: row.get(3).map_err(db)?,
            labels: FlowLabels {
                name: row.get(4).map_err(db)?,
                description: row.get(5).map_err(db)?,
                tags: serde_json::from_str(&tags)
                    .map_err(|e| Error::Corrupt(format!("flow tags: {e}")))?,
            },
            last_run,
        });
    }
    Ok(out)
}

pub(crate) fn webhook_flow(
    conn: &Connection,
    workspace: &str,
    path: &str,
) -> Result<Option<String>, Error> {
    conn.prepare_cached("SELECT flow_id FROM webhooks WHERE workspace = ?1 AND path = ?2")
        .map_err(db)?
        .query_row(params![workspace, path], |row| row.get(0))
        .optional()
        .map_err(db)
}

pub(crate) fn last_cron_slot(
    conn: &Connection,
    workspace: &str,
    flow_id: &str,
    trigger: &str,
) -> Result<Option<i64>, Error> {
    conn.prepare_cached(
        "SELECT last_slot_ms FROM cron_slots \
         WHERE workspace = ?1 AND flow_id = ?2 AND trigger_key = ?3",
    )
    .map_err(db)?
    .query_row(params![workspace, flow_id, trigger], |row| row.get(0))
    .optional()
    .map_err(db)
}

pub(crate) fn read_journal(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<JournalRecord>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT j.first_seq, j.last_seq, j.records FROM runs r \
             JOIN journal j ON j.run_key = r.key \
             WHERE r.id = ?1 AND r.workspace = ?2 ORDER BY j.first_seq",
        )
        .map_err(db)?;
    let mut rows = stmt.query(params![run_id, workspace]).map_err(db)?;
    let mut out: Vec<JournalRecord> = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        let first_seq: i64 = row.get(0).map_err(db)?;
        let last_seq: i64 = row.get(1).map_err(db)?;
        let records = row.get_ref(2).map_err(db)?.as_blob().map_err(|_| {
            Error::Corrupt(format!("journal of run {run_id}: a chunk is not a blob"))
        })?;
        // Chunks must not overlap: a seq read twice would be a damaged journal.
        if let Some(previous) = out.last()
            && u64::try_from(first_seq).map_or(true, |first| first <= previous.seq)
        {
            return Err(Error::Corrupt(format!(
                "journal of run {run_id}: chunk at seq {first_seq} overlaps seq {}",
                previous.seq
            )));
        }
        chunk::unpack(first_seq, last_seq, &decode(records)?, &mut out)?;
    }
    Ok(out)
}

const STEP_SELECT: &str = "SELECT s.step_key, s.status, s.attempts, s.input, s.output, s.error, \
     s.logs, s.started_ms, s.finished_ms, s.duration_ms, s.cache_hit, s.idempotency_key, \
     s.input_tokens, s.output_tokens, s.cost_micro_usd FROM runs r JOIN steps s ON s.run_key = r.key WHERE r.id = ?1 AND r.workspace = ?2";

fn step_from_row(row: &Row<'_>) -> Result<StepRecord, Error> {
    let status: String = row.get(1).map_err(db)?;
    let logs: Vec<u8> = row.get(6).map_err(db)?;
    let logs: Vec<LogLine> = decode_json(&logs)?;
    Ok(StepRecord {
        step_key: row.get(0).map_err(db)?,
        status: status.parse()?,
        attempts: u32_of(row.get(2).map_err(db)?, "attempts")?,
        input: opt_json(row.get(3).map_err(db)?)?,
        output: opt_json(row.get(4).map_err(db)?)?,
        error: opt_json(row.get(5).map_err(db)?)?,
        logs,
        started_ms: row.get(7).map_err(db)?,
        finished_ms: row.get(8).map_err(db)?,
        duration_ms: row.get(9).map_err(db)?,
        cache_hit: row.get::<_, i64>(10).map_err(db)? != 0,
        idempotency_key: row.get(11).map_err(db)?,
        usage: usage_at(row, 12)?,
    })
}

pub(crate) fn list_steps(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<StepRecord>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!("{STEP_SELECT} ORDER BY s.step_key"))
        .map_err(db)?;
    let mut rows = stmt.query(params![run_id, workspace]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(step_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn get_step(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
    step_key: &str,
) -> Result<Option<StepRecord>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!("{STEP_SELECT} AND s.step_key = ?3"))
        .map_err(db)?;
    let mut rows = stmt
        .query(params![run_id, workspace, step_key])
        .map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => Ok(Some(step_from_row(row)?)),
        None => Ok(None),
    }
}

pub(crate) fn list_timers(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<Timer>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT r.id, t.timer_id, t.due_ms FROM runs r JOIN timers t ON t.run_key = r.key \
             WHERE r.id = ?1 AND r.workspace = ?2 ORDER BY t.due_ms, t.timer_id",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(params![run_id, workspace], |row| {
            Ok(Timer {
                run_id: row.get(0)?,
                timer_id: row.get(1)?,
                due_ms: row.get(2)?,
            })
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

fn signal_from_row(row: &Row<'_>) -> Result<Signal, Error> {
    let payload: Vec<u8> = row.get(3).map_err(db)?;
    Ok(Signal {
        id: u64_of(row.get(0).map_err(db)?, "signal id")?,
        run_id: row.get(1).map_err(db)?,
        name: row.get(2).map_err(db)?,
        payload: decode_json(&payload)?,
        sent_ms: row.get(4).map_err(db)?,
    })
}

pub(crate) fn list_signals(
    conn: &Connection,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<Signal>, Error> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.id, r.id, s.name, s.payload, s.sent_ms FROM runs r \
             JOIN signals s ON s.run_key = r.key WHERE r.id = ?1 AND r.workspace = ?2 \
             ORDER BY s.id",
        )
        .map_err(db)?;
    let mut rows = stmt.query(params![run_id, workspace]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(signal_from_row(row)?);
    }
    Ok(out)
}

pub(crate) fn cache_get(
    conn: &Connection,
    workspace: &str,
    key: &str,
    now_ms: i64,
) -> Result<Option<CacheEntry>, Error> {
    let found: Option<(Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT value, expires_ms FROM cache WHERE workspace = ?1 AND key = ?2 \
             AND expires_ms > ?3",
        )
        .map_err(db)?
        .query_row(params![workspace, key, now_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(db)?;
    found
        .map(|(value, expires_ms)| {
            Ok(CacheEntry {
                value: decode(&value)?,
                expires_ms,
            })
        })
        .transpose()
}

pub(crate) fn schema_version(conn: &Connection) -> Result<u32, Error> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db)?;
    u32_of(version, "schema version")
}

/// Counts what `write::claim` would take with no limit (the same condition).
pub(crate) fn queue_depth(conn: &Connection, now_ms: i64) -> Result<u64, Error> {
    let count: i64 = conn
        .prepare_cached(concat!(
            "SELECT count(*) FROM runs r WHERE ",
            crate::write::claimable!("?1")
        ))
        .map_err(db)?
        .query_row(params![now_ms], |row| row.get(0))
        .map_err(db)?;
    u64_of(count, "count")
}

pub(crate) fn next_timer_due(conn: &Connection) -> Result<Option<i64>, Error> {
    conn.prepare_cached(
        "SELECT min(t.due_ms) FROM timers t JOIN runs r ON r.key = t.run_key \
         WHERE r.status = 'waiting'",
    )
    .map_err(db)?
    .query_row([], |row| row.get(0))
    .map_err(db)
}

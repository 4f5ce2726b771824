//! Read queries and row decoding. Every query that returns user data filters on the
//! workspace (directly, or by joining the run on its bigint key), so another workspace's data
//! reads as absent.

use aion_store::payload::{decode, decode_json};
use aion_store::{
    CacheEntry, Error, FlowLabels, FlowSummary, FlowVersion, JournalRecord, LogLine, Run, RunBrief,
    RunCursor, RunFilter, RunPage, Signal, StepRecord, Timer, Usage, Workspace,
};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgExecutor, Row};

use crate::error::{db, u32_of, u64_of};
use aion_store::chunk;

pub(crate) const RUN_COLUMNS: &str = "id, workspace, flow_id, flow_version, plan_hash, input, \
     trigger, trace_id, parent_run_id, retry_of, status, output, error, created_ms, started_ms, \
     finished_ms, lease_epoch, lease_owner, lease_expires_ms, last_seq, cancel_requested_ms, \
     cancel_reason, input_tokens, output_tokens, cost_micro_usd";

fn opt_json(blob: Option<Vec<u8>>) -> Result<Option<serde_json::Value>, Error> {
    blob.map(|b| decode_json(&b)).transpose()
}

pub(crate) fn run_from_row(row: &PgRow) -> Result<Run, Error> {
    let input: Vec<u8> = row.try_get(5).map_err(db)?;
    let trigger: Vec<u8> = row.try_get(6).map_err(db)?;
    let status: String = row.try_get(10).map_err(db)?;
    Ok(Run {
        id: row.try_get(0).map_err(db)?,
        workspace: row.try_get(1).map_err(db)?,
        flow_id: row.try_get(2).map_err(db)?,
        flow_version: u32_of(row.try_get(3).map_err(db)?, "flow version")?,
        plan_hash: row.try_get(4).map_err(db)?,
        input: decode_json(&input)?,
        trigger: decode_json(&trigger)?,
        trace_id: row.try_get(7).map_err(db)?,
        parent_run_id: row.try_get(8).map_err(db)?,
        retry_of: row.try_get(9).map_err(db)?,
        status: status.parse()?,
        output: opt_json(row.try_get(11).map_err(db)?)?,
        error: opt_json(row.try_get(12).map_err(db)?)?,
        created_ms: row.try_get(13).map_err(db)?,
        started_ms: row.try_get(14).map_err(db)?,
        finished_ms: row.try_get(15).map_err(db)?,
        epoch: u64_of(row.try_get(16).map_err(db)?, "epoch")?,
        lease_owner: row.try_get(17).map_err(db)?,
        lease_expires_ms: row.try_get(18).map_err(db)?,
        last_seq: u64_of(row.try_get(19).map_err(db)?, "seq")?,
        cancel_requested_ms: row.try_get(20).map_err(db)?,
        cancel_reason: row.try_get(21).map_err(db)?,
        usage: usage_at(row, 22)?,
    })
}

/// Three bigint columns from `first`: input tokens, output tokens, cost in micro-USD.
fn usage_at(row: &PgRow, first: usize) -> Result<Usage, Error> {
    Ok(Usage {
        input_tokens: u64_of(row.try_get(first).map_err(db)?, "token count")?,
        output_tokens: u64_of(row.try_get(first + 1).map_err(db)?, "token count")?,
        cost_micro_usd: u64_of(row.try_get(first + 2).map_err(db)?, "cost")?,
    })
}

const GET_RUN: &str = "SELECT id, workspace, flow_id, flow_version, plan_hash, input, trigger, \
     trace_id, parent_run_id, retry_of, status, output, error, created_ms, started_ms, \
     finished_ms, lease_epoch, lease_owner, lease_expires_ms, last_seq, cancel_requested_ms, \
     cancel_reason, input_tokens, output_tokens, cost_micro_usd FROM runs \
     WHERE id = $1 AND workspace = $2";

pub(crate) async fn get_run<'e>(
    executor: impl PgExecutor<'e>,
    workspace: &str,
    run_id: &str,
) -> Result<Option<Run>, Error> {
    let row = sqlx::query(GET_RUN)
        .bind(run_id)
        .bind(workspace)
        .fetch_optional(executor)
        .await
        .map_err(db)?;
    row.as_ref().map(run_from_row).transpose()
}

pub(crate) async fn list_runs(
    pool: &PgPool,
    workspace: &str,
    filter: &RunFilter,
    after: Option<&RunCursor>,
    limit: u32,
) -> Result<RunPage, Error> {
    let limit = limit.clamp(1, aion_store::MAX_PAGE);
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE workspace = $1");
    let mut next = 2;
    let mut param = |sql: &mut String, text: &str| {
        sql.push_str(&text.replace('?', &format!("${next}")));
        next += 1;
    };
    if filter.flow_id.is_some() {
        param(&mut sql, " AND flow_id = ?");
    }
    if !filter.statuses.is_empty() {
        param(&mut sql, " AND status = ANY(?)");
    }
    if filter.created_from_ms.is_some() {
        param(&mut sql, " AND created_ms >= ?");
    }
    if filter.created_before_ms.is_some() {
        param(&mut sql, " AND created_ms < ?");
    }
    if after.is_some() {
        param(&mut sql, " AND (created_ms, id) < (?");
        param(&mut sql, ", ?)");
    }
    param(&mut sql, " ORDER BY created_ms DESC, id DESC LIMIT ?");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(workspace);
    if let Some(flow_id) = &filter.flow_id {
        query = query.bind(flow_id);
    }
    if !filter.statuses.is_empty() {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        query = query.bind(statuses);
    }
    if let Some(from) = filter.created_from_ms {
        query = query.bind(from);
    }
    if let Some(before) = filter.created_before_ms {
        query = query.bind(before);
    }
    if let Some(cursor) = after {
        query = query.bind(cursor.created_ms).bind(&cursor.id);
    }
    query = query.bind(i64::from(limit) + 1);
    let rows = query.fetch_all(pool).await.map_err(db)?;
    let mut runs = rows
        .iter()
        .map(run_from_row)
        .collect::<Result<Vec<_>, _>>()?;
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

pub(crate) async fn list_workspaces(pool: &PgPool) -> Result<Vec<Workspace>, Error> {
    let rows = sqlx::query("SELECT id, created_ms FROM workspaces ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(Workspace {
                id: row.try_get(0).map_err(db)?,
                created_ms: row.try_get(1).map_err(db)?,
            })
        })
        .collect()
}

fn flow_from_row(row: &PgRow) -> Result<FlowVersion, Error> {
    let document: Vec<u8> = row.try_get(3).map_err(db)?;
    let format: String = row.try_get(4).map_err(db)?;
    let plan: Vec<u8> = row.try_get(5).map_err(db)?;
    Ok(FlowVersion {
        workspace: row.try_get(0).map_err(db)?,
        flow_id: row.try_get(1).map_err(db)?,
        version: u32_of(row.try_get(2).map_err(db)?, "flow version")?,
        document: String::from_utf8(decode(&document)?)
            .map_err(|_| Error::Corrupt("flow document is not UTF-8".to_owned()))?,
        format: format.parse()?,
        plan: decode_json(&plan)?,
        plan_hash: row.try_get(6).map_err(db)?,
        created_ms: row.try_get(7).map_err(db)?,
    })
}

pub(crate) async fn get_flow(
    pool: &PgPool,
    workspace: &str,
    flow_id: &str,
    version: Option<u32>,
) -> Result<Option<FlowVersion>, Error> {
    // `$3` NULL means the latest version.
    let row = sqlx::query(
        "SELECT workspace, flow_id, version, document, format, plan, plan_hash, created_ms \
         FROM flow_versions WHERE workspace = $1 AND flow_id = $2 \
         AND ($3::bigint IS NULL OR version = $3) ORDER BY version DESC LIMIT 1",
    )
    .bind(workspace)
    .bind(flow_id)
    .bind(version.map(i64::from))
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.as_ref().map(flow_from_row).transpose()
}

pub(crate) async fn list_flows(pool: &PgPool, workspace: &str) -> Result<Vec<FlowSummary>, Error> {
    let rows = sqlx::query(
        "SELECT f.flow_id, f.version, f.plan_hash, f.created_ms, f.name, f.description, f.tags, \
           r.id, r.status, r.created_ms \
         FROM (SELECT DISTINCT ON (flow_id) * FROM flow_versions WHERE workspace = $1 \
           ORDER BY flow_id, version DESC) f \
         LEFT JOIN LATERAL (SELECT id, status, created_ms FROM runs \
           WHERE workspace = f.workspace AND flow_id = f.flow_id \
           ORDER BY created_ms DESC, id DESC LIMIT 1) r ON true \
         ORDER BY f.flow_id",
    )
    .bind(workspace)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            let run_id: Option<String> = row.try_get(7).map_err(db)?;
            let last_run = match run_id {
                Some(run_id) => {
                    let status: String = row.try_get(8).map_err(db)?;
                    Some(RunBrief {
                        run_id,
                        status: status.parse()?,
                        created_ms: row.try_get(9).map_err(db)?,
                    })
                }
                None => None,
            };
            Ok(FlowSummary {
                flow_id: row.try_get(0).map_err(db)?,
                latest_version: u32_of(row.try_get(1).map_err(db)?, "flow version")?,
                plan_hash: row.try_get(2).map_err(db)?,
                updated_ms: row.try_get(3).map_err(db)?,
                labels: FlowLabels {
                    name: row.try_get(4).map_err(db)?,
                    description: row.try_get(5).map_err(db)?,
                    tags: row.try_get(6).map_err(db)?,
                },
                last_run,
            })
        })
        .collect()
}

pub(crate) async fn webhook_flow(
    pool: &PgPool,
    workspace: &str,
    path: &str,
) -> Result<Option<String>, Error> {
    sqlx::query_scalar("SELECT flow_id FROM webhooks WHERE workspace = $1 AND path = $2")
        .bind(workspace)
        .bind(path)
        .fetch_optional(pool)
        .await
        .map_err(db)
}

pub(crate) async fn last_cron_slot(
    pool: &PgPool,
    workspace: &str,
    flow_id: &str,
    trigger: &str,
) -> Result<Option<i64>, Error> {
    sqlx::query_scalar(
        "SELECT last_slot_ms FROM cron_slots \
         WHERE workspace = $1 AND flow_id = $2 AND trigger_key = $3",
    )
    .bind(workspace)
    .bind(flow_id)
    .bind(trigger)
    .fetch_optional(pool)
    .await
    .map_err(db)
}

pub(crate) async fn read_journal(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<JournalRecord>, Error> {
    let rows = sqlx::query(
        "SELECT j.first_seq, j.last_seq, j.records FROM runs r \
         JOIN journal j ON j.run_key = r.key \
         WHERE r.id = $1 AND r.workspace = $2 ORDER BY j.first_seq",
    )
    .bind(run_id)
    .bind(workspace)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut out: Vec<JournalRecord> = Vec::new();
    for row in &rows {
        let first_seq: i64 = row.try_get(0).map_err(db)?;
        let last_seq: i64 = row.try_get(1).map_err(db)?;
        let records: &[u8] = row.try_get(2).map_err(db)?;
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

fn step_from_row(row: &PgRow) -> Result<StepRecord, Error> {
    let status: String = row.try_get(1).map_err(db)?;
    let logs: Vec<u8> = row.try_get(6).map_err(db)?;
    let logs: Vec<LogLine> = decode_json(&logs)?;
    Ok(StepRecord {
        step_key: row.try_get(0).map_err(db)?,
        status: status.parse()?,
        attempts: u32_of(row.try_get(2).map_err(db)?, "attempts")?,
        input: opt_json(row.try_get(3).map_err(db)?)?,
        output: opt_json(row.try_get(4).map_err(db)?)?,
        error: opt_json(row.try_get(5).map_err(db)?)?,
        logs,
        started_ms: row.try_get(7).map_err(db)?,
        finished_ms: row.try_get(8).map_err(db)?,
        duration_ms: row.try_get(9).map_err(db)?,
        cache_hit: row.try_get(10).map_err(db)?,
        idempotency_key: row.try_get(11).map_err(db)?,
        usage: usage_at(row, 12)?,
    })
}

/// The steps of a run by step key, or only `only` when given.
pub(crate) async fn list_steps(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
    only: Option<&str>,
) -> Result<Vec<StepRecord>, Error> {
    let rows = sqlx::query(
        "SELECT s.step_key, s.status, s.attempts, s.input, s.output, s.error, s.logs, \
         s.started_ms, s.finished_ms, s.duration_ms, s.cache_hit, s.idempotency_key, \
         s.input_tokens, s.output_tokens, s.cost_micro_usd \
         FROM runs r JOIN steps s ON s.run_key = r.key WHERE r.id = $1 AND r.workspace = $2 \
         AND ($3::text IS NULL OR s.step_key = $3) ORDER BY s.step_key",
    )
    .bind(run_id)
    .bind(workspace)
    .bind(only)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter().map(step_from_row).collect()
}

pub(crate) async fn list_timers(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<Timer>, Error> {
    let rows = sqlx::query(
        "SELECT r.id, t.timer_id, t.due_ms FROM runs r JOIN timers t ON t.run_key = r.key \
         WHERE r.id = $1 AND r.workspace = $2 ORDER BY t.due_ms, t.timer_id",
    )
    .bind(run_id)
    .bind(workspace)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            Ok(Timer {
                run_id: row.try_get(0).map_err(db)?,
                timer_id: row.try_get(1).map_err(db)?,
                due_ms: row.try_get(2).map_err(db)?,
            })
        })
        .collect()
}

pub(crate) async fn list_signals(
    pool: &PgPool,
    workspace: &str,
    run_id: &str,
) -> Result<Vec<Signal>, Error> {
    let rows = sqlx::query(
        "SELECT s.id, r.id, s.name, s.payload, s.sent_ms FROM runs r \
         JOIN signals s ON s.run_key = r.key WHERE r.id = $1 AND r.workspace = $2 \
         ORDER BY s.id",
    )
    .bind(run_id)
    .bind(workspace)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| {
            let payload: &[u8] = row.try_get(3).map_err(db)?;
            Ok(Signal {
                id: u64_of(row.try_get(0).map_err(db)?, "signal id")?,
                run_id: row.try_get(1).map_err(db)?,
                name: row.try_get(2).map_err(db)?,
                payload: decode_json(payload)?,
                sent_ms: row.try_get(4).map_err(db)?,
            })
        })
        .collect()
}

pub(crate) async fn cache_get(
    pool: &PgPool,
    workspace: &str,
    key: &str,
    now_ms: i64,
) -> Result<Option<CacheEntry>, Error> {
    let row = sqlx::query(
        "SELECT value, expires_ms FROM cache WHERE workspace = $1 AND key = $2 \
         AND expires_ms > $3",
    )
    .bind(workspace)
    .bind(key)
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|row| {
        let value: &[u8] = row.try_get(0).map_err(db)?;
        Ok(CacheEntry {
            value: decode(value)?,
            expires_ms: row.try_get(1).map_err(db)?,
        })
    })
    .transpose()
}

pub(crate) async fn schema_version(pool: &PgPool) -> Result<u32, Error> {
    let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM aion_schema")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    u32::try_from(version.unwrap_or(0))
        .map_err(|_| Error::Corrupt("schema version out of range".to_owned()))
}

/// Counts what `write::claim` would take with no limit (the same condition).
pub(crate) async fn queue_depth(pool: &PgPool, now_ms: i64) -> Result<u64, Error> {
    let count: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM runs r WHERE ",
        crate::write::claimable!("$1")
    ))
    .bind(now_ms)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    u64_of(count, "count")
}

pub(crate) async fn next_timer_due(pool: &PgPool) -> Result<Option<i64>, Error> {
    sqlx::query_scalar(
        "SELECT min(t.due_ms) FROM timers t JOIN runs r ON r.key = t.run_key \
         WHERE r.status = 'waiting'",
    )
    .fetch_one(pool)
    .await
    .map_err(db)
}

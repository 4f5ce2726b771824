//! Commits, grouped: every [`aion_store::Store::commit`] becomes a job for one of a few
//! committer tasks (chosen by a hash of the run id, so one run's commits keep their order),
//! and each committer applies all jobs it has pending as **one statement** in autocommit: one
//! round trip and one WAL flush for the whole batch, however many runs it spans.
//!
//! The statement is data-modifying CTEs over `UNNEST`ed request columns. Its `UPDATE` of the
//! run rows is the fence: a run row is changed only with the current epoch of a held lease
//! and a journal continuing at `last_seq + 1`, and every other part (journal chunk, step
//! upserts, timers, signals, cache entries) writes only for the requests that update
//! returned. A refused request therefore writes nothing and costs its neighbours nothing; a
//! second query tells it why (stale epoch, seq conflict, missing run). A batch never holds
//! two requests for one run or two cache writes of one key (such a request waits for the next
//! batch), so no row is written twice by one statement. Should the statement itself fail
//! (an unexpected database error), each request is retried alone, so only the guilty one
//! fails. Each job is acknowledged only after its statement has committed.

use std::collections::{BTreeMap, HashSet, VecDeque};

use aion_store::payload::{encode, encode_json};
use aion_store::{CommitReceipt, CommitRequest, Error, TimerOp};
use sqlx::Row;
use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::error::{db, to_i64, u64_of};
use crate::write::{EncodedRunUpdate, lease_state};
use aion_store::chunk::EncodedChunk;

/// The most requests one statement applies.
const MAX_BATCH: usize = 512;

/// A step record with its blobs encoded.
struct EncodedStep {
    status: &'static str,
    attempts: i64,
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

/// A [`CommitRequest`] with every blob serialized and compressed on the caller's task, and
/// its lists folded so that no row is written twice (a later step, timer op or cache entry
/// with the same key wins, as when SQLite applies them in order).
pub(crate) struct EncodedCommit {
    workspace: String,
    run_id: String,
    epoch: u64,
    journal: Option<EncodedChunk>,
    run_update: Option<EncodedRunUpdate>,
    steps: BTreeMap<String, EncodedStep>,
    /// Timer id to its due instant (`None`: cleared).
    timers: BTreeMap<String, Option<i64>>,
    consume_signals: Vec<i64>,
    /// Key to (encoded value, expires_ms).
    cache: BTreeMap<String, (Vec<u8>, i64)>,
}

impl EncodedCommit {
    pub(crate) fn new(request: CommitRequest) -> Result<Self, Error> {
        request.validate()?;
        let mut steps = BTreeMap::new();
        for step in request.steps {
            let logs = serde_json::to_value(&step.logs)
                .map_err(|err| Error::InvalidArgument(format!("step logs: {err}")))?;
            steps.insert(
                step.step_key,
                EncodedStep {
                    status: step.status.as_str(),
                    attempts: i64::from(step.attempts),
                    input: step.input.as_ref().map(encode_json).transpose()?,
                    output: step.output.as_ref().map(encode_json).transpose()?,
                    error: step.error.as_ref().map(encode_json).transpose()?,
                    logs: encode_json(&logs)?,
                    started_ms: step.started_ms,
                    finished_ms: step.finished_ms,
                    duration_ms: step.duration_ms,
                    cache_hit: step.cache_hit,
                    idempotency_key: step.idempotency_key,
                    usage: aion_store::usage_columns(&step.usage),
                },
            );
        }
        let mut timers = BTreeMap::new();
        for op in request.timers {
            match op {
                TimerOp::Set { timer_id, due_ms } => timers.insert(timer_id, Some(due_ms)),
                TimerOp::Clear { timer_id } => timers.insert(timer_id, None),
            };
        }
        Ok(Self {
            journal: EncodedChunk::new(&request.journal)?,
            run_update: request
                .run_update
                .as_ref()
                .map(EncodedRunUpdate::new)
                .transpose()?,
            steps,
            timers,
            // An id beyond i64 cannot exist, so there is nothing to consume.
            consume_signals: request
                .consume_signals
                .iter()
                .filter_map(|id| i64::try_from(*id).ok())
                .collect(),
            cache: request
                .cache
                .into_iter()
                .map(|put| (put.key, (encode(&put.value), put.expires_ms)))
                .collect(),
            workspace: request.workspace,
            run_id: request.run_id,
            epoch: request.epoch,
        })
    }
}

/// An epoch or seq as bound: values beyond `i64::MAX` match no stored one.
fn bound(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(-1)
}

/// The batch statement; `idx` is a request's position in the batch.
const COMMIT_BATCH: &str = "WITH q AS ( \
     SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
       $6::bigint[], $7::bytea[], $8::text[], $9::bytea[], $10::bytea[], $11::bigint[], \
       $12::bigint[], $13::boolean[], $14::bigint[], $15::bigint[], $16::bigint[]) \
     AS q(idx, run_id, workspace, epoch, first_seq, last_seq, records, status, output, error, \
       started_ms, finished_ms, terminal, input_tokens, output_tokens, cost_micro_usd)), \
   r AS ( \
     UPDATE runs SET \
       last_seq = CASE WHEN q.first_seq IS NULL THEN runs.last_seq ELSE q.last_seq END, \
       status = coalesce(q.status, runs.status), \
       output = coalesce(q.output, runs.output), \
       error = coalesce(q.error, runs.error), \
       started_ms = coalesce(q.started_ms, runs.started_ms), \
       finished_ms = coalesce(q.finished_ms, runs.finished_ms), \
       input_tokens = coalesce(q.input_tokens, runs.input_tokens), \
       output_tokens = coalesce(q.output_tokens, runs.output_tokens), \
       cost_micro_usd = coalesce(q.cost_micro_usd, runs.cost_micro_usd), \
       lease_owner = CASE WHEN q.terminal THEN NULL ELSE runs.lease_owner END, \
       lease_expires_ms = CASE WHEN q.terminal THEN NULL ELSE runs.lease_expires_ms END \
     FROM q \
     WHERE runs.id = q.run_id AND runs.workspace = q.workspace \
       AND runs.lease_epoch = q.epoch AND runs.lease_owner IS NOT NULL \
       AND (q.first_seq IS NULL OR runs.last_seq + 1 = q.first_seq) \
     RETURNING runs.key, runs.workspace, runs.last_seq AS new_last_seq, q.idx, q.first_seq, \
       q.last_seq AS chunk_last_seq, q.records), \
   j AS (INSERT INTO journal (run_key, first_seq, last_seq, records) \
     SELECT key, first_seq, chunk_last_seq, records FROM r WHERE first_seq IS NOT NULL), \
   s AS (INSERT INTO steps (run_key, step_key, status, attempts, input, output, error, logs, \
       started_ms, finished_ms, duration_ms, cache_hit, idempotency_key, input_tokens, \
       output_tokens, cost_micro_usd) \
     SELECT r.key, u.step_key, u.status, u.attempts, u.input, u.output, u.error, u.logs, \
       u.started_ms, u.finished_ms, u.duration_ms, u.cache_hit, u.idempotency_key, \
       u.input_tokens, u.output_tokens, u.cost_micro_usd \
     FROM unnest($17::integer[], $18::text[], $19::text[], $20::bigint[], $21::bytea[], \
       $22::bytea[], $23::bytea[], $24::bytea[], $25::bigint[], $26::bigint[], $27::bigint[], \
       $28::boolean[], $29::text[], $30::bigint[], $31::bigint[], $32::bigint[]) \
       AS u(idx, step_key, status, attempts, input, output, error, logs, started_ms, \
       finished_ms, duration_ms, cache_hit, idempotency_key, input_tokens, output_tokens, \
       cost_micro_usd) \
     JOIN r ON r.idx = u.idx \
     ON CONFLICT (run_key, step_key) DO UPDATE SET status = excluded.status, \
       attempts = excluded.attempts, input = excluded.input, output = excluded.output, \
       error = excluded.error, logs = excluded.logs, started_ms = excluded.started_ms, \
       finished_ms = excluded.finished_ms, duration_ms = excluded.duration_ms, \
       cache_hit = excluded.cache_hit, idempotency_key = excluded.idempotency_key, \
       input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, \
       cost_micro_usd = excluded.cost_micro_usd), \
   tc AS (DELETE FROM timers t \
     USING r, unnest($33::integer[], $34::text[]) AS u(idx, timer_id) \
     WHERE r.idx = u.idx AND t.run_key = r.key AND t.timer_id = u.timer_id), \
   ts AS (INSERT INTO timers (run_key, timer_id, due_ms) \
     SELECT r.key, u.timer_id, u.due_ms \
     FROM unnest($35::integer[], $36::text[], $37::bigint[]) AS u(idx, timer_id, due_ms) \
     JOIN r ON r.idx = u.idx \
     ON CONFLICT (run_key, timer_id) DO UPDATE SET due_ms = excluded.due_ms), \
   sg AS (DELETE FROM signals g \
     USING r, unnest($38::integer[], $39::bigint[]) AS u(idx, id) \
     WHERE r.idx = u.idx AND g.run_key = r.key AND g.id = u.id), \
   c AS (INSERT INTO cache (workspace, key, value, expires_ms) \
     SELECT r.workspace, u.key, u.value, u.expires_ms \
     FROM unnest($40::integer[], $41::text[], $42::bytea[], $43::bigint[]) \
       AS u(idx, key, value, expires_ms) \
     JOIN r ON r.idx = u.idx \
     ON CONFLICT (workspace, key) DO UPDATE SET value = excluded.value, \
       expires_ms = excluded.expires_ms) \
   SELECT idx, new_last_seq FROM r";

/// The columns of a batch: one vector per `UNNEST` argument.
#[derive(Default)]
struct Columns<'a> {
    idx: Vec<i32>,
    run_ids: Vec<&'a str>,
    workspaces: Vec<&'a str>,
    epochs: Vec<i64>,
    first_seqs: Vec<Option<i64>>,
    last_seqs: Vec<Option<i64>>,
    records: Vec<Option<&'a [u8]>>,
    statuses: Vec<Option<&'static str>>,
    outputs: Vec<Option<&'a [u8]>>,
    errors: Vec<Option<&'a [u8]>>,
    started: Vec<Option<i64>>,
    finished: Vec<Option<i64>>,
    terminal: Vec<bool>,
    input_tokens: Vec<Option<i64>>,
    output_tokens: Vec<Option<i64>>,
    costs: Vec<Option<i64>>,
    step_idx: Vec<i32>,
    step_keys: Vec<&'a str>,
    step_statuses: Vec<&'static str>,
    step_attempts: Vec<i64>,
    step_inputs: Vec<Option<&'a [u8]>>,
    step_outputs: Vec<Option<&'a [u8]>>,
    step_errors: Vec<Option<&'a [u8]>>,
    step_logs: Vec<&'a [u8]>,
    step_started: Vec<Option<i64>>,
    step_finished: Vec<Option<i64>>,
    step_durations: Vec<Option<i64>>,
    step_cache_hits: Vec<bool>,
    step_idempotency_keys: Vec<Option<&'a str>>,
    step_input_tokens: Vec<i64>,
    step_output_tokens: Vec<i64>,
    step_costs: Vec<i64>,
    cleared_idx: Vec<i32>,
    cleared_ids: Vec<&'a str>,
    set_idx: Vec<i32>,
    set_ids: Vec<&'a str>,
    set_dues: Vec<i64>,
    signal_idx: Vec<i32>,
    signal_ids: Vec<i64>,
    cache_idx: Vec<i32>,
    cache_keys: Vec<&'a str>,
    cache_values: Vec<&'a [u8]>,
    cache_expiry: Vec<i64>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a [&'a EncodedCommit]) -> Self {
        let mut c = Self::default();
        for (i, request) in batch.iter().enumerate() {
            // A batch holds at most MAX_BATCH requests.
            let idx = i32::try_from(i).unwrap_or(i32::MAX);
            let update = request.run_update.as_ref();
            c.idx.push(idx);
            c.run_ids.push(&request.run_id);
            c.workspaces.push(&request.workspace);
            c.epochs.push(bound(request.epoch));
            c.first_seqs
                .push(request.journal.as_ref().map(|j| bound(j.first_seq)));
            c.last_seqs
                .push(request.journal.as_ref().map(|j| bound(j.last_seq)));
            c.records
                .push(request.journal.as_ref().map(|j| j.records.as_slice()));
            c.statuses.push(update.and_then(|u| u.status));
            c.outputs.push(update.and_then(|u| u.output.as_deref()));
            c.errors.push(update.and_then(|u| u.error.as_deref()));
            c.started.push(update.and_then(|u| u.started_ms));
            c.finished.push(update.and_then(|u| u.finished_ms));
            c.terminal.push(update.is_some_and(|u| u.terminal));
            let usage = update.and_then(|u| u.usage);
            c.input_tokens.push(usage.map(|u| u[0]));
            c.output_tokens.push(usage.map(|u| u[1]));
            c.costs.push(usage.map(|u| u[2]));
            for (key, step) in &request.steps {
                c.step_idx.push(idx);
                c.step_keys.push(key);
                c.step_statuses.push(step.status);
                c.step_attempts.push(step.attempts);
                c.step_inputs.push(step.input.as_deref());
                c.step_outputs.push(step.output.as_deref());
                c.step_errors.push(step.error.as_deref());
                c.step_logs.push(&step.logs);
                c.step_started.push(step.started_ms);
                c.step_finished.push(step.finished_ms);
                c.step_durations.push(step.duration_ms);
                c.step_cache_hits.push(step.cache_hit);
                c.step_idempotency_keys
                    .push(step.idempotency_key.as_deref());
                c.step_input_tokens.push(step.usage[0]);
                c.step_output_tokens.push(step.usage[1]);
                c.step_costs.push(step.usage[2]);
            }
            for (id, due) in &request.timers {
                match due {
                    Some(due) => {
                        c.set_idx.push(idx);
                        c.set_ids.push(id);
                        c.set_dues.push(*due);
                    }
                    None => {
                        c.cleared_idx.push(idx);
                        c.cleared_ids.push(id);
                    }
                }
            }
            for id in &request.consume_signals {
                c.signal_idx.push(idx);
                c.signal_ids.push(*id);
            }
            for (key, (value, expires_ms)) in &request.cache {
                c.cache_idx.push(idx);
                c.cache_keys.push(key);
                c.cache_values.push(value);
                c.cache_expiry.push(*expires_ms);
            }
        }
        c
    }
}

/// Applies `batch` in one statement: for each request, `Some(last_seq)` if it was applied,
/// `None` if its fence refused it.
async fn apply(pool: &PgPool, batch: &[&EncodedCommit]) -> Result<Vec<Option<u64>>, Error> {
    let c = Columns::of(batch);
    let rows = sqlx::query(COMMIT_BATCH)
        .bind(&c.idx)
        .bind(&c.run_ids)
        .bind(&c.workspaces)
        .bind(&c.epochs)
        .bind(&c.first_seqs)
        .bind(&c.last_seqs)
        .bind(&c.records)
        .bind(&c.statuses)
        .bind(&c.outputs)
        .bind(&c.errors)
        .bind(&c.started)
        .bind(&c.finished)
        .bind(&c.terminal)
        .bind(&c.input_tokens)
        .bind(&c.output_tokens)
        .bind(&c.costs)
        .bind(&c.step_idx)
        .bind(&c.step_keys)
        .bind(&c.step_statuses)
        .bind(&c.step_attempts)
        .bind(&c.step_inputs)
        .bind(&c.step_outputs)
        .bind(&c.step_errors)
        .bind(&c.step_logs)
        .bind(&c.step_started)
        .bind(&c.step_finished)
        .bind(&c.step_durations)
        .bind(&c.step_cache_hits)
        .bind(&c.step_idempotency_keys)
        .bind(&c.step_input_tokens)
        .bind(&c.step_output_tokens)
        .bind(&c.step_costs)
        .bind(&c.cleared_idx)
        .bind(&c.cleared_ids)
        .bind(&c.set_idx)
        .bind(&c.set_ids)
        .bind(&c.set_dues)
        .bind(&c.signal_idx)
        .bind(&c.signal_ids)
        .bind(&c.cache_idx)
        .bind(&c.cache_keys)
        .bind(&c.cache_values)
        .bind(&c.cache_expiry)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let mut out = vec![None; batch.len()];
    for row in &rows {
        let idx: i32 = row.try_get(0).map_err(db)?;
        let last_seq: i64 = row.try_get(1).map_err(db)?;
        if let Some(slot) = usize::try_from(idx).ok().and_then(|i| out.get_mut(i)) {
            *slot = Some(u64_of(last_seq, "seq")?);
        }
    }
    Ok(out)
}

/// Why a request the fence refused was refused; `Ok(())` if the run's state now admits it
/// (it raced a change that is gone, and may be tried again).
async fn refusal(pool: &PgPool, request: &EncodedCommit) -> Result<(), Error> {
    let state = lease_state(pool, &request.workspace, &request.run_id).await?;
    if state.epoch != request.epoch || state.owner.is_none() {
        return Err(Error::StaleEpoch {
            run_id: request.run_id.clone(),
            given: request.epoch,
            current: state.epoch,
        });
    }
    if let Some(chunk) = &request.journal {
        let expected = state.last_seq.saturating_add(1);
        if chunk.first_seq != expected {
            return Err(Error::SeqConflict {
                run_id: request.run_id.clone(),
                expected,
                given: chunk.first_seq,
            });
        }
        // The seq matches: only a last seq beyond i64 can make the fence refuse it.
        to_i64(chunk.last_seq, "seq")?;
    }
    Ok(())
}

/// Applies one request alone, reporting why it was refused.
async fn commit_alone(pool: &PgPool, request: &EncodedCommit) -> Result<CommitReceipt, Error> {
    for _ in 0..3 {
        if let Some(Some(last_seq)) = apply(pool, &[request]).await?.first() {
            return Ok(CommitReceipt {
                last_seq: *last_seq,
            });
        }
        refusal(pool, request).await?;
    }
    Err(Error::Backend(
        "the commit kept racing concurrent changes of its run".into(),
    ))
}

/// A commit waiting for its committer.
struct Job {
    request: EncodedCommit,
    reply: oneshot::Sender<Result<CommitReceipt, Error>>,
}

/// The handles of the committer tasks; they stop when the last handle is dropped (after
/// applying what was queued).
#[derive(Debug, Clone)]
pub(crate) struct Committers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
}

impl Committers {
    /// Starts `count` committer tasks on the current tokio runtime ([`Error::Closed`] outside
    /// one).
    pub(crate) fn start(pool: &PgPool, count: usize) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Closed)?;
        let queues = (0..count.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                runtime.spawn(committer(pool.clone(), rx));
                tx
            })
            .collect();
        Ok(Self { queues })
    }

    /// Queues a commit and waits for its outcome.
    pub(crate) async fn commit(&self, request: EncodedCommit) -> Result<CommitReceipt, Error> {
        // FNV-1a of the run id: one run's commits always go to the same committer, in order.
        let hash = request
            .run_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let index =
            usize::try_from(hash % u64::try_from(self.queues.len()).unwrap_or(1)).unwrap_or(0);
        let queue = self.queues.get(index).ok_or(Error::Closed)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { request, reply })
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

/// One committer: takes every queued job, applies as many as one batch may hold, answers
/// them, and goes on with the rest.
async fn committer(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut pending: VecDeque<Job> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match queue.recv().await {
                Some(job) => pending.push_back(job),
                None => return,
            }
        }
        while pending.len() < 4 * MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => pending.push_back(job),
                Err(_) => break,
            }
        }
        let batch = take_batch(&mut pending);
        run_batch(&pool, batch).await;
    }
}

/// Takes the jobs of the next batch out of `pending`, oldest first: at most [`MAX_BATCH`],
/// at most one per run, no two writing one cache key; a job left behind holds back the later
/// jobs of its run, so each run's commits apply in the order they were queued.
fn take_batch(pending: &mut VecDeque<Job>) -> Vec<Job> {
    let mut batch = Vec::new();
    let mut rest = VecDeque::new();
    let mut runs: HashSet<(String, String)> = HashSet::new();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    for job in pending.drain(..) {
        let request = &job.request;
        let run = (request.workspace.clone(), request.run_id.clone());
        let fits = batch.len() < MAX_BATCH
            && !runs.contains(&run)
            && request
                .cache
                .keys()
                .all(|key| !keys.contains(&(request.workspace.clone(), key.clone())));
        if fits {
            keys.extend(
                request
                    .cache
                    .keys()
                    .map(|key| (request.workspace.clone(), key.clone())),
            );
            batch.push(job);
        } else {
            rest.push_back(job);
        }
        runs.insert(run);
    }
    *pending = rest;
    batch
}

/// Applies a batch and answers each job.
async fn run_batch(pool: &PgPool, batch: Vec<Job>) {
    let requests: Vec<&EncodedCommit> = batch.iter().map(|job| &job.request).collect();
    let outcomes: Vec<Result<CommitReceipt, Error>> = match apply(pool, &requests).await {
        Ok(applied) => {
            let mut outcomes = Vec::with_capacity(batch.len());
            for (request, applied) in requests.iter().zip(applied) {
                outcomes.push(match applied {
                    Some(last_seq) => Ok(CommitReceipt { last_seq }),
                    None => match refusal(pool, request).await {
                        Ok(()) => commit_alone(pool, request).await,
                        Err(err) => Err(err),
                    },
                });
            }
            outcomes
        }
        // One request alone: its error is its answer.
        Err(err) if requests.len() == 1 => vec![Err(err)],
        // The statement failed as a whole: nothing of it was written; try each alone so only
        // the request at fault fails.
        Err(_) => {
            let mut outcomes = Vec::with_capacity(batch.len());
            for request in &requests {
                outcomes.push(commit_alone(pool, request).await);
            }
            outcomes
        }
    };
    drop(requests);
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        // The caller may have stopped waiting; the commit stands either way.
        let _ = job.reply.send(outcome);
    }
}

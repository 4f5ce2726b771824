//! Durable step records per second through the SQLite store: one commit at a time (one record
//! per transaction) against 64 concurrent committers (group commit), and the raw SQLite floor
//! (plain inserts of the same size in one transaction) for comparison.
//!
//! Each commit carries one journal record and one step record upsert, as a worker's step
//! completion does; `chain_500` commits 500 of each at once, the shape of a long chain of
//! steps flushed together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aion_store::conformance::new_run;
use aion_store::{ClaimRequest, CommitRequest, JournalRecord, StepRecord, StepStatus, Store};
use aion_store_sqlite::{Durability, Options, SqliteStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TASKS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

fn step(n: u64) -> StepRecord {
    StepRecord {
        usage: Default::default(),
        step_key: format!("step-{}", n % 8),
        status: StepStatus::Succeeded,
        attempts: 1,
        input: Some(serde_json::json!({ "url": "https://example.invalid/api", "n": n })),
        output: Some(serde_json::json!({ "status": 200, "body": { "ok": true, "id": n } })),
        error: None,
        logs: Vec::new(),
        started_ms: Some(1),
        finished_ms: Some(2),
        duration_ms: Some(1),
        cache_hit: false,
        idempotency_key: Some(format!("idem-{n}")),
    }
}

/// A store with `runs` claimed runs; returns the store, the run ids and their epochs.
async fn setup(
    dir: &std::path::Path,
    durability: Durability,
    runs: usize,
) -> (Arc<SqliteStore>, Vec<(String, u64)>) {
    let options = Options {
        durability,
        readers: 1,
    };
    let store = Arc::new(SqliteStore::open(dir, options).await.expect("open"));
    for i in 0..runs {
        store
            .create_run(new_run(
                "default",
                "bench",
                i64::try_from(i).expect("small"),
            ))
            .await
            .expect("create run");
    }
    let leases = store
        .claim(ClaimRequest {
            worker_id: "bench".to_owned(),
            limit: u32::try_from(runs).expect("small"),
            lease_ms: i64::MAX / 2,
            now_ms: 0,
        })
        .await
        .expect("claim");
    let runs = leases.into_iter().map(|l| (l.run_id, l.epoch)).collect();
    (store, runs)
}

/// Commits `count` step completions to one run, one after the other, from `next_seq`.
async fn commit_serially(
    store: &SqliteStore,
    run_id: &str,
    epoch: u64,
    next_seq: &mut u64,
    count: u64,
) {
    for _ in 0..count {
        let seq = *next_seq;
        *next_seq += 1;
        store
            .commit(CommitRequest {
                workspace: "default".to_owned(),
                run_id: run_id.to_owned(),
                epoch,
                journal: vec![JournalRecord {
                    seq,
                    kind: "step.succeeded".to_owned(),
                    payload: vec![7; 200],
                    at_ms: 1,
                }],
                steps: vec![step(seq)],
                ..CommitRequest::default()
            })
            .await
            .expect("commit");
    }
}

/// Commits `count` batches of [`CHAIN`] journal records and [`CHAIN`] step records each.
async fn commit_chains(
    store: &SqliteStore,
    run_id: &str,
    epoch: u64,
    next_seq: &mut u64,
    count: u64,
) {
    for _ in 0..count {
        let first = *next_seq;
        *next_seq += CHAIN;
        store
            .commit(CommitRequest {
                workspace: "default".to_owned(),
                run_id: run_id.to_owned(),
                epoch,
                journal: (first..first + CHAIN)
                    .map(|seq| JournalRecord {
                        seq,
                        kind: "step.succeeded".to_owned(),
                        payload: vec![7; 200],
                        at_ms: 1,
                    })
                    .collect(),
                steps: (first..first + CHAIN)
                    .map(|seq| StepRecord {
                        usage: Default::default(),
                        step_key: format!("step-{seq}"),
                        ..step(seq)
                    })
                    .collect(),
                ..CommitRequest::default()
            })
            .await
            .expect("commit");
    }
}

/// Records of each kind in one `chain_500` commit.
const CHAIN: u64 = 500;

fn bench_commit(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("commit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    for (name, durability) in [("normal", Durability::Normal), ("full", Durability::Full)] {
        // One commit in flight: every step record pays for a whole transaction.
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, runs) = rt.block_on(setup(dir.path(), durability, 1));
        let (run_id, epoch) = runs[0].clone();
        let mut next_seq = 1;
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("single_{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    commit_serially(&store, &run_id, epoch, &mut next_seq, iters).await;
                    start.elapsed()
                })
            });
        });

        // 64 committers at once: the writer folds their commits into shared transactions.
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, runs) = rt.block_on(setup(dir.path(), durability, TASKS));
        let mut seqs = vec![1_u64; TASKS];
        group.throughput(Throughput::Elements(TASKS as u64));
        group.bench_function(format!("group_{TASKS}_tasks_{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let mut handles = Vec::with_capacity(TASKS);
                    for (i, (run_id, epoch)) in runs.iter().enumerate() {
                        let store = Arc::clone(&store);
                        let run_id = run_id.clone();
                        let epoch = *epoch;
                        let mut next_seq = seqs[i];
                        handles.push(tokio::spawn(async move {
                            commit_serially(&store, &run_id, epoch, &mut next_seq, iters).await;
                            next_seq
                        }));
                    }
                    for (i, handle) in handles.into_iter().enumerate() {
                        seqs[i] = handle.await.expect("task");
                    }
                    start.elapsed()
                })
            });
        });
    }

    // One commit of a long chain: 500 journal records and 500 step records.
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, runs) = rt.block_on(setup(dir.path(), Durability::Normal, 1));
    let (run_id, epoch) = runs[0].clone();
    let mut next_seq = 1;
    group.throughput(Throughput::Elements(CHAIN));
    group.bench_function(format!("chain_{CHAIN}_normal"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                commit_chains(&store, &run_id, epoch, &mut next_seq, iters).await;
                start.elapsed()
            })
        });
    });

    // The floor: the same bytes inserted with plain rusqlite, all in one transaction.
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open raw");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE rows (id INTEGER PRIMARY KEY, key TEXT NOT NULL, body BLOB NOT NULL);",
    )
    .expect("raw schema");
    let body = serde_json::to_vec(&step(1)).expect("json");
    let mut n: u64 = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_sqlite_one_transaction", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            conn.execute_batch("BEGIN").expect("begin");
            {
                let mut insert = conn
                    .prepare_cached("INSERT INTO rows (key, body) VALUES (?1, ?2)")
                    .expect("prepare");
                for _ in 0..iters {
                    n += 1;
                    insert
                        .execute(rusqlite::params![format!("k{n}"), body])
                        .expect("insert");
                }
            }
            conn.execute_batch("COMMIT").expect("commit");
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, bench_commit);
criterion_main!(benches);

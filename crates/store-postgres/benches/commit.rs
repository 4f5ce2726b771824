//! Durable step transitions per second through the PostgreSQL store: concurrent
//! committers, each driving its own claimed run, every commit carrying one journal record and
//! one step record upsert (a worker's step completion). Prints one line per scenario; the
//! database is `AION_TEST_DATABASE_URL` (default: the local test database), in a fresh
//! schema dropped afterwards.
//!
//! Run with `cargo bench -p aion-store-postgres --bench commit`.

#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]
#![expect(clippy::expect_used, reason = "a bench fails loudly")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aion_store::conformance::new_run;
use aion_store::{ClaimRequest, CommitRequest, JournalRecord, StepRecord, StepStatus, Store};
use aion_store_postgres::{PgOptions, PgStore};
use sqlx::Connection;

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

#[expect(
    clippy::disallowed_methods,
    reason = "the bench reads its database URL from the environment"
)]
fn database_url() -> String {
    std::env::var("AION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

async fn scenario(url: &str, tasks: usize, connections: u32, committers: usize, seconds: u64) {
    let schema = format!("aion_bench_{tasks}_{connections}_{committers}");
    drop_schema(url, &schema).await;
    let store = Arc::new(
        PgStore::connect(
            url,
            PgOptions {
                schema: schema.clone(),
                max_connections: connections,
                committers,
                ..PgOptions::default()
            },
        )
        .await
        .expect("connect"),
    );
    for i in 0..tasks {
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
            limit: u32::try_from(tasks).expect("small"),
            lease_ms: 3_600_000,
            now_ms: 10,
        })
        .await
        .expect("claim");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for lease in leases {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut seq = 0_u64;
            while Instant::now() < deadline {
                seq += 1;
                store
                    .commit(CommitRequest {
                        workspace: lease.workspace.clone(),
                        run_id: lease.run_id.clone(),
                        epoch: lease.epoch,
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
            seq
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{tasks:>4} tasks, {connections:>3} connections, {committers} committers: {total} commits \
         in {elapsed:.1} s = {:.0} durable step transitions/s",
        total as f64 / elapsed
    );
    store.close().await;
    drop_schema(url, &schema).await;
}

/// Drops a bench schema (left over by an interrupted run, or just measured) over a plain
/// connection.
async fn drop_schema(url: &str, schema: &str) {
    let mut admin = sqlx::PgConnection::connect(url).await.expect("admin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut admin)
    .await
    .expect("drop schema");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let url = database_url();
    runtime.block_on(async {
        for (tasks, connections, committers) in [
            (1, 2, 2),
            (64, 8, 1),
            (64, 8, 2),
            (64, 8, 4),
            (256, 16, 2),
            (256, 16, 4),
        ] {
            scenario(&url, tasks, connections, committers, 5).await;
        }
    });
}

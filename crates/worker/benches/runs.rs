//! End-to-end run throughput on a durable SQLite store (`Durability::Normal`): a flow of 10
//! `core.set` nodes with expressions, one run at a time (latency, p50) and 64 runs at once
//! (runs per second).
#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aion_store::{ClaimRequest, DEFAULT_WORKSPACE, FlowFormat};
use aion_worker::{Config, Outcome, Parts, Runtime, Silent, StartRun, SystemClock};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn flow() -> String {
    let mut yaml = String::from("aion: 1\nid: bench\nnodes:\n");
    yaml.push_str("  - { id: s0, type: core.set, config: { value: \"{{ inputs.n + 1 }}\" } }\n");
    for i in 1..10 {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, type: core.set, config: {{ value: \"{{{{ steps.s{}.output * 2 }}}}\" }} }}\n",
            i - 1
        ));
    }
    yaml.push_str("output: \"{{ steps.s9.output }}\"\nedges:\n");
    for i in 1..10 {
        yaml.push_str(&format!("  - {{ from: s{}, to: s{i} }}\n", i - 1));
    }
    yaml
}

struct Bench {
    rt: Arc<Runtime>,
    start: StartRun,
    _dir: tempfile::TempDir,
}

async fn setup() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let store =
        aion_store_sqlite::SqliteStore::open(dir.path(), aion_store_sqlite::Options::default())
            .await
            .unwrap();
    let rt = Runtime::new(Parts {
        store: Arc::new(store),
        catalog: aion_nodes::catalog(),
        clock: Arc::new(SystemClock),
        observer: Arc::new(Silent),
        config: Config::default(),
    });
    let yaml = flow();
    let plan = aion_compiler::Compiler::new(aion_nodes::catalog())
        .compile(yaml.as_bytes(), aion_dsl::source::Format::Yaml)
        .plan
        .expect("the bench flow compiles");
    let start = StartRun {
        workspace: DEFAULT_WORKSPACE.to_owned(),
        plan,
        document: yaml,
        format: FlowFormat::Yaml,
        input: json!({ "n": 1 }),
    };
    Bench {
        rt,
        start,
        _dir: dir,
    }
}

async fn one(bench: &Bench) {
    let run = bench.rt.create_run(bench.start.clone()).await.unwrap();
    let lease = bench
        .rt
        .claim_run(DEFAULT_WORKSPACE, &run.id)
        .await
        .unwrap()
        .unwrap();
    let outcome = bench.rt.drive(lease, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Finished(run) if run.output == Some(json!(1024))));
}

async fn many(bench: &Bench, count: u32) {
    for _ in 0..count {
        bench.rt.create_run(bench.start.clone()).await.unwrap();
    }
    let leases = bench
        .rt
        .store()
        .claim(ClaimRequest {
            worker_id: "worker".into(),
            limit: count,
            lease_ms: 30_000,
            now_ms: bench.rt.now_ms(),
        })
        .await
        .unwrap();
    assert_eq!(leases.len(), count as usize);
    let mut tasks = tokio::task::JoinSet::new();
    for lease in leases {
        tasks.spawn(bench.rt.drive(lease, None));
    }
    while let Some(done) = tasks.join_next().await {
        assert!(matches!(done.unwrap().unwrap(), Outcome::Finished(_)));
    }
}

fn runs(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = tokio.block_on(setup());

    // Latency of one run at a time, p50 and p99 over 200 runs.
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            tokio.block_on(one(&bench));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "one run at a time (10 core.set, durable): p50 {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    // Throughput of 64 concurrent runs, best of 5 batches.
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        tokio.block_on(many(&bench, 64));
        best = best.max(64.0 / start.elapsed().as_secs_f64());
    }
    println!("64 concurrent runs: {best:.0} runs/s");

    let mut group = c.benchmark_group("runs");
    group.sample_size(20);
    group.bench_function("one_run_10_set", |b| b.iter(|| tokio.block_on(one(&bench))));
    group.bench_function("64_concurrent_runs_10_set", |b| {
        b.iter(|| tokio.block_on(many(&bench, 64)));
    });
    group.finish();
}

criterion_group!(benches, runs);
criterion_main!(benches);

//! End-to-end run throughput on a durable SQLite store (`Durability::Normal`): a flow of 10
//! `core.set` nodes with expressions, one run at a time (latency, p50) and 64 runs at once
//! (runs per second); 40 sequential `core.set` steps and a `core.foreach` of 1,000 items with
//! 10 body nodes, one run at a time.
#![expect(clippy::print_stdout, reason = "a bench reports on stdout")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aion_store::{DEFAULT_WORKSPACE, FlowFormat};
use aion_worker::{Config, Outcome, Parts, Runtime, Silent, StartRun, SystemClock};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// The allocator the `aion` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn flow() -> String {
    chain(10)
}

/// `steps` sequential `core.set` nodes, each doubling the previous one.
fn chain(steps: usize) -> String {
    let mut yaml = String::from("aion: 1\nid: bench\nnodes:\n");
    yaml.push_str("  - { id: s0, type: core.set, config: { value: \"{{ inputs.n + 1 }}\" } }\n");
    for i in 1..steps {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, type: core.set, config: {{ value: \"{{{{ steps.s{}.output * 2 }}}}\" }} }}\n",
            i - 1
        ));
    }
    yaml.push_str(&format!(
        "output: \"{{{{ steps.s{}.output }}}}\"\nedges:\n",
        steps - 1
    ));
    for i in 1..steps {
        yaml.push_str(&format!("  - {{ from: s{}, to: s{i} }}\n", i - 1));
    }
    yaml
}

/// A `core.foreach` over `inputs.items` whose body is a chain of 10 `core.set` nodes.
fn foreach() -> String {
    let mut yaml = String::from(
        "aion: 1\nid: bench-loop\nnodes:\n  - id: each\n    type: core.foreach\n    config: { items: \"{{ inputs.items }}\", concurrency: 8 }\n    body:\n      nodes:\n",
    );
    yaml.push_str("        - { id: b0, type: core.set, config: { value: \"{{ item + 1 }}\" } }\n");
    for i in 1..10 {
        yaml.push_str(&format!(
            "        - {{ id: b{i}, type: core.set, config: {{ value: \"{{{{ steps.b{}.output + 1 }}}}\" }} }}\n",
            i - 1
        ));
    }
    yaml.push_str("      edges:\n");
    for i in 1..10 {
        yaml.push_str(&format!("        - {{ from: b{}, to: b{i} }}\n", i - 1));
    }
    yaml.push_str(
        "      output: \"{{ steps.b9.output }}\"\noutput: \"{{ steps.each.output | length }}\"\n",
    );
    yaml
}

struct Bench {
    rt: Arc<Runtime>,
    start: StartRun,
    _dir: tempfile::TempDir,
}

async fn setup() -> Bench {
    setup_with(flow(), json!({ "n": 1 })).await
}

async fn setup_with(yaml: String, input: serde_json::Value) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let store =
        aion_store_sqlite::SqliteStore::open(dir.path(), aion_store_sqlite::Options::default())
            .await
            .unwrap();
    let rt = Runtime::new(Parts {
        spans: None,
        vars: None,
        store: Arc::new(store),
        catalog: aion_nodes::catalog(),
        clock: Arc::new(SystemClock),
        observer: Arc::new(Silent),
        config: Config::default(),
    });
    let plan = aion_compiler::Compiler::new(aion_nodes::catalog())
        .compile(yaml.as_bytes(), aion_dsl::source::Format::Yaml)
        .plan
        .expect("the bench flow compiles");
    let start = StartRun {
        workspace: DEFAULT_WORKSPACE.to_owned(),
        plan,
        document: yaml,
        format: FlowFormat::Yaml,
        input,
    };
    Bench {
        rt,
        start,
        _dir: dir,
    }
}

async fn one(bench: &Bench) {
    let output = finish(bench).await;
    assert_eq!(output, Some(json!(1024)));
}

/// Creates one run (leased to the bench's runtime, as `aion run` and the server's `execute`
/// do) and drives it to its end; returns its output.
async fn finish(bench: &Bench) -> Option<serde_json::Value> {
    finish_on(&bench.rt, bench.start.clone()).await
}

async fn finish_on(rt: &Arc<Runtime>, start: StartRun) -> Option<serde_json::Value> {
    let (run, lease) = rt.create_leased_run(start).await.unwrap();
    match rt.drive_run(run, lease).await.unwrap() {
        Outcome::Finished(run) => run.output,
        other => panic!("the run did not finish: {other:?}"),
    }
}

/// Median and range of `count` sequential runs of `bench`.
fn sample(
    tokio: &tokio::runtime::Runtime,
    bench: &Bench,
    count: usize,
    expected: &serde_json::Value,
) -> (Duration, Duration, Duration) {
    let mut times: Vec<Duration> = (0..count)
        .map(|_| {
            let start = Instant::now();
            let output = tokio.block_on(finish(bench));
            let elapsed = start.elapsed();
            assert_eq!(output.as_ref(), Some(expected));
            elapsed
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2], times[times.len() - 1])
}

/// `count` runs started at once, each created and driven by its own task (as concurrent
/// `execute` requests are).
async fn many(bench: &Bench, count: u32) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let rt = Arc::clone(&bench.rt);
        let start = bench.start.clone();
        tasks.spawn(async move { finish_on(&rt, start).await });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap(), Some(json!(1024)));
    }
}

/// Median and range of five runs of a `core.foreach` of 1,000 items, 10 body nodes each.
fn foreach_figure(tokio: &tokio::runtime::Runtime) {
    let items: Vec<u32> = (0..1000).collect();
    let looped = tokio.block_on(setup_with(foreach(), json!({ "items": items })));
    let (min, median, max) = sample(tokio, &looped, 5, &json!(1000));
    println!(
        "core.foreach 1,000 items x 10 body nodes (durable): median {median:?} (min {min:?}, max {max:?})"
    );
}

fn runs(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `AION_BENCH=foreach` runs only the foreach figure (for profiling it alone).
    #[expect(
        clippy::disallowed_methods,
        reason = "a bench switch for profiling, not configuration"
    )]
    let only_foreach = std::env::var("AION_BENCH").is_ok_and(|v| v == "foreach");
    if only_foreach {
        foreach_figure(&tokio);
        return;
    }
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

    let forty = tokio.block_on(setup_with(chain(40), json!({ "n": 1 })));
    let (min, median, max) = sample(&tokio, &forty, 50, &json!(2_u64.pow(40)));
    println!("40 sequential core.set (durable): median {median:?} (min {min:?}, max {max:?})");

    foreach_figure(&tokio);

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

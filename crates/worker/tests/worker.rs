//! The worker on a real SQLite store: panics, oversized outputs, unavailable nodes, parallel
//! branches, many concurrent runs, crash recovery from a journal that stops mid-way, and
//! graceful shutdown.

use std::sync::Arc;

use aion_node_sdk::{
    BoxFuture, Catalog, Category, Context, Execute, Execution, Manifest, NodeError, Output,
    PortRule,
};
use aion_store::{DEFAULT_WORKSPACE, FlowFormat, RunStatus, Store as _};
use aion_worker::{Config, Outcome, Parts, Runtime, Silent, StartRun, SystemClock};
use serde_json::{Value, json};

struct Panics;
impl Execute for Panics {
    fn execute<'a>(&'a self, _ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>> {
        Box::pin(async { panic!("the node exploded") })
    }
}

struct Big;
impl Execute for Big {
    fn execute<'a>(&'a self, _ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>> {
        Box::pin(async { Ok(Output::new(Value::String("x".repeat(4096)))) })
    }
}

/// Reports what an LLM call would: usage on every attempt, a retryable failure on the first.
struct Metered;
impl Execute for Metered {
    fn execute<'a>(&'a self, ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>> {
        Box::pin(async move {
            ctx.log.usage(aion_store::Usage {
                input_tokens: 100,
                output_tokens: 20,
                cost_micro_usd: 1_500,
            });
            if ctx.attempt == 1 {
                return Err(NodeError::retryable("rate_limited", "try again"));
            }
            Ok(Output::new(json!(ctx.attempt)))
        })
    }
}

fn manifest(node_type: &str, execution: Execution) -> Manifest {
    Manifest {
        node_type: node_type.to_owned(),
        version: 1,
        title: node_type.to_owned(),
        description: "a test node".to_owned(),
        category: Category::Utility,
        config_schema: json!({ "type": "object" }),
        ports: PortRule::out(),
        credential: None,
        side_effects: false,
        has_body: false,
        execution,
    }
}

fn catalog() -> Catalog {
    let mut catalog = aion_nodes::catalog();
    catalog
        .register(manifest("test.panic", Execution::Action(Arc::new(Panics))))
        .unwrap();
    catalog
        .register(manifest("test.big", Execution::Action(Arc::new(Big))))
        .unwrap();
    catalog
        .register(manifest(
            "test.metered",
            Execution::Action(Arc::new(Metered)),
        ))
        .unwrap();
    catalog
}

async fn runtime(dir: &std::path::Path, worker_id: &str, lease_ms: i64) -> Arc<Runtime> {
    runtime_with(
        dir,
        Config {
            worker_id: worker_id.to_owned(),
            lease_ms,
            max_output_bytes: 1024,
            ..Config::default()
        },
    )
    .await
}

async fn runtime_with(dir: &std::path::Path, config: Config) -> Arc<Runtime> {
    let store = aion_store_sqlite::SqliteStore::open(dir, aion_store_sqlite::Options::default())
        .await
        .unwrap();
    Runtime::new(Parts {
        spans: None,
        vars: None,
        store: Arc::new(store),
        catalog: catalog(),
        clock: Arc::new(SystemClock),
        observer: Arc::new(Silent),
        config,
    })
}

async fn start(rt: &Arc<Runtime>, yaml: &str, input: Value) -> String {
    let output = aion_compiler::Compiler::new(catalog())
        .compile(yaml.as_bytes(), aion_dsl::source::Format::Yaml);
    let plan = output
        .plan
        .unwrap_or_else(|| panic!("{:#?}", output.diagnostics));
    rt.create_run(StartRun {
        workspace: DEFAULT_WORKSPACE.to_owned(),
        plan,
        document: yaml.to_owned(),
        format: FlowFormat::Yaml,
        input,
    })
    .await
    .unwrap()
    .id
}

async fn drive(rt: &Arc<Runtime>, run_id: &str) -> aion_store::Run {
    let lease = rt
        .claim_run(DEFAULT_WORKSPACE, run_id)
        .await
        .unwrap()
        .unwrap();
    match rt.drive(lease, None).await.unwrap() {
        Outcome::Finished(run) => *run,
        Outcome::Released => panic!("released"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_oversized_outputs_and_unavailable_nodes_are_step_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "w", 30_000).await;
    let id = start(
        &rt,
        r##"aion: 1
id: errors
nodes:
  - { id: bad, type: test.panic }
  - { id: caught, type: core.set, config: { value: "{{ steps.bad.error }}" } }
  - { id: big, type: test.big }
  - { id: too_big, type: core.set, config: { value: "{{ steps.big.error.kind }}" } }
  - { id: slack, type: slack.post_message, credential: bot, config: { channel: "#x", text: hi } }
  - { id: nope, type: core.set, config: { value: "{{ steps.slack.error.kind }}" } }
output:
  panic: "{{ steps.caught.output }}"
  big: "{{ steps.too_big.output }}"
  slack: "{{ steps.nope.output }}"
edges:
  - { from: bad, to: caught, port: error }
  - { from: big, to: too_big, port: error }
  - { from: slack, to: nope, port: error }
"##,
        json!({}),
    )
    .await;
    let run = drive(&rt, &id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let output = run.output.unwrap();
    assert_eq!(output["panic"]["kind"], "panic");
    assert_eq!(output["panic"]["message"], "the node exploded");
    assert_eq!(output["big"], "output_too_large");
    assert_eq!(output["slack"], "unavailable");
    // Every step result was committed with its history row.
    let steps = rt.store().list_steps(DEFAULT_WORKSPACE, &id).await.unwrap();
    let bad = steps.iter().find(|s| s.step_key == "bad").unwrap();
    assert_eq!(bad.status, aion_store::StepStatus::Failed);
    assert_eq!(
        bad.idempotency_key.as_deref(),
        Some(format!("{id}/bad").as_str())
    );
}

const FAN: &str = r#"aion: 1
id: fan
nodes:
  - id: each
    type: core.foreach
    config: { items: "{{ inputs.items }}", concurrency: 4 }
    body:
      nodes:
        - { id: t, type: core.transform, config: { program: ". * 10", input: "{{ item }}" } }
      output: "{{ steps.t.output }}"
  - { id: side, type: core.set, config: { value: "{{ inputs.items | length }}" } }
output:
  each: "{{ steps.each.output }}"
  side: "{{ steps.side.output }}"
"#;

/// Usage reported by nodes is summed per step (every attempt, the failed one too) and per run,
/// stored, and journaled so that a replay rebuilds the same totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_summed_per_step_and_run_and_survives_replay() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "w1", 30_000).await;
    let id = start(
        &rt,
        r##"
aion: 1
id: metered
nodes:
  - id: ask
    type: test.metered
    retry: { max_attempts: 2, backoff: fixed, initial: 1ms }
  - { id: ask_again, type: test.metered, retry: { max_attempts: 2, backoff: fixed, initial: 1ms } }
edges:
  - { from: ask, to: ask_again }
"##,
        json!({}),
    )
    .await;
    let run = drive(&rt, &id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let per_step = aion_store::Usage {
        input_tokens: 200,
        output_tokens: 40,
        cost_micro_usd: 3_000,
    };
    assert_eq!(
        run.usage,
        per_step.plus(per_step),
        "two steps, two attempts each"
    );
    let stored = rt
        .store()
        .get_run(DEFAULT_WORKSPACE, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.usage, run.usage, "the run row keeps the total");
    let step = rt
        .store()
        .get_step(DEFAULT_WORKSPACE, &id, "ask")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(step.usage, per_step);
    // Replaying the journal rebuilds the same totals.
    let records = rt
        .store()
        .read_journal(DEFAULT_WORKSPACE, &id)
        .await
        .unwrap();
    let events = aion_worker::journal::decode(&records).unwrap();
    let flow = rt
        .store()
        .get_flow(
            DEFAULT_WORKSPACE,
            &stored.flow_id,
            Some(stored.flow_version),
        )
        .await
        .unwrap()
        .unwrap();
    let plan = rt.compiled(&flow.plan, &flow.plan_hash).unwrap();
    let state = aion_engine::RunState::replay(plan, Arc::default(), events);
    assert_eq!(state.usage(), run.usage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_runs_run_concurrently_through_the_worker_loop() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "w", 30_000).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(start(&rt, FAN, json!({ "items": [i, 1, 2] })).await);
    }
    let worker = Arc::clone(&rt);
    let handle = tokio::spawn(async move { worker.run_worker().await });
    for (i, id) in ids.iter().enumerate() {
        let run = loop {
            let run = rt
                .store()
                .get_run(DEFAULT_WORKSPACE, id)
                .await
                .unwrap()
                .unwrap();
            if run.status.is_terminal() {
                break run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(
            run.output,
            Some(json!({ "each": [i * 10, 10, 20], "side": 3 }))
        );
    }
    rt.shutdown();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_stops_mid_way_resumes_without_repeating_results() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"aion: 1
id: steps
nodes:
  - { id: a, type: core.log, config: { message: "a" } }
  - { id: b, type: core.set, config: { value: "{{ steps.a.output.message }}b" } }
output: "{{ steps.b.output }}"
edges:
  - { from: a, to: b }
"#;
    let rt = runtime(dir.path(), "first", 30_000).await;
    let id = start(&rt, yaml, json!({})).await;
    // Write the journal a crashed worker would leave: started, `a` done, `b` started only.
    let lease = rt.claim_run(DEFAULT_WORKSPACE, &id).await.unwrap().unwrap();
    let run = rt
        .store()
        .get_run(DEFAULT_WORKSPACE, &id)
        .await
        .unwrap()
        .unwrap();
    let key = |step| aion_engine::StepKey::top(step);
    let events = [
        aion_engine::Event::RunStarted {
            run_id: id.clone(),
            flow_id: "steps".into(),
            flow_version: 1,
            input: run.input.clone(),
            trigger: Value::Null,
            vars: json!({}),
            at_ms: 1,
            seed: 1,
        },
        aion_engine::Event::StepStarted {
            key: key(0),
            attempt: 1,
            fencing: lease.epoch,
            at_ms: 2,
        },
        aion_engine::Event::StepSucceeded {
            usage: Default::default(),
            key: key(0),
            attempt: 1,
            output: json!({ "level": "info", "message": "a" }),
            port: None,
            cache_hit: false,
            at_ms: 3,
        },
        aion_engine::Event::StepStarted {
            key: key(1),
            attempt: 1,
            fencing: lease.epoch,
            at_ms: 4,
        },
    ];
    let journal = events
        .iter()
        .enumerate()
        .map(|(i, e)| aion_worker::journal::encode(i as u64 + 1, e).unwrap())
        .collect();
    rt.store()
        .commit(aion_store::CommitRequest {
            workspace: DEFAULT_WORKSPACE.into(),
            run_id: id.clone(),
            epoch: lease.epoch,
            journal,
            ..Default::default()
        })
        .await
        .unwrap();
    rt.store()
        .release(DEFAULT_WORKSPACE, &id, "first", lease.epoch)
        .await
        .unwrap();
    drop(rt);
    let rt = runtime(dir.path(), "second", 30_000).await;
    let run = drive(&rt, &id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(json!("ab")));
    let journal = rt
        .store()
        .read_journal(DEFAULT_WORKSPACE, &id)
        .await
        .unwrap();
    let kinds: Vec<&str> = journal.iter().map(|r| r.kind.as_str()).collect();
    // `b` is computed again, once; being pure, its new attempt journals no start of its own.
    assert_eq!(
        kinds,
        [
            "run_started",
            "step_started",
            "step_succeeded",
            "step_started",
            "step_succeeded"
        ]
    );
    let events = aion_worker::journal::decode(&journal).unwrap();
    let a_results = events
        .iter()
        .filter(|e| matches!(e, aion_engine::Event::StepSucceeded { key, .. } if key.step == 0))
        .count();
    assert_eq!(a_results, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_a_waiting_run_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "w1", 30_000).await;
    let id = start(
        &rt,
        r#"aion: 1
id: napper
nodes:
  - { id: nap, type: core.wait, config: { duration: 300ms } }
  - { id: done, type: core.set, config: { value: 1 } }
output: "{{ steps.done.output }}"
edges:
  - { from: nap, to: done }
"#,
        json!({}),
    )
    .await;
    let lease = rt.claim_run(DEFAULT_WORKSPACE, &id).await.unwrap().unwrap();
    let driver = Arc::clone(&rt);
    let handle = tokio::spawn(async move { driver.drive(lease, None).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    rt.shutdown();
    assert_eq!(handle.await.unwrap().unwrap(), Outcome::Released);
    // Waiting runs are claimable again once their timer is due.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let rt = runtime(dir.path(), "w2", 30_000).await;
    let run = drive(&rt, &id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(json!(1)));
}

/// A parent waiting for a sub-flow driven in the same process hears of its end at once, not at
/// its next poll (here an hour away), and an `on_error` flow runs in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_hears_of_its_child_at_once_and_on_error_flows_run() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_with(
        dir.path(),
        Config {
            poll_ms: 3_600_000,
            ..Config::default()
        },
    )
    .await;
    let child = "aion: 1\nid: child\nnodes:\n  - { id: c, type: core.set, config: { value: \"{{ inputs.x * 2 }}\" } }\noutput: \"{{ steps.c.output }}\"\n";
    let alert = "aion: 1\nid: alert\nnodes:\n  - { id: n, type: core.noop }\n";
    for (yaml, input) in [(child, json!({ "x": 1 })), (alert, json!({}))] {
        let id = start(&rt, yaml, input).await;
        assert_eq!(drive(&rt, &id).await.status, RunStatus::Succeeded);
    }
    let parent = r#"aion: 1
id: parent
on_error: { flow: alert }
nodes:
  - { id: sub, type: core.subflow, config: { flow: child, input: { x: 21 } } }
  - { id: boom, type: core.fail, config: { message: "got {{ steps.sub.output }}" } }
edges:
  - { from: sub, to: boom }
"#;
    let id = start(&rt, parent, json!({})).await;
    let run = tokio::time::timeout(std::time::Duration::from_secs(5), drive(&rt, &id))
        .await
        .expect("the parent waited for its next poll instead of hearing of its child");
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_ref().unwrap()["message"], json!("got 42"));
    rt.wait_background().await;
    let alerts = rt
        .store()
        .list_runs(
            DEFAULT_WORKSPACE,
            &aion_store::RunFilter {
                flow_id: Some("alert".to_owned()),
                ..aion_store::RunFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let statuses: Vec<RunStatus> = alerts.runs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [RunStatus::Succeeded, RunStatus::Succeeded]);
}

/// A cancellation stored by another process reaches the worker at its next lease renewal
/// (here every 100 ms); one stored for a released waiting run makes it claimable, and the next
/// worker applies it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellations_stored_elsewhere_reach_the_worker() {
    let napper = r#"aion: 1
id: napper
nodes:
  - { id: nap, type: core.wait, config: { duration: 1h } }
  - { id: done, type: core.set, config: { value: 1 } }
edges:
  - { from: nap, to: done }
"#;
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), "w1", 300).await;
    let id = start(&rt, napper, json!({})).await;
    let lease = rt.claim_run(DEFAULT_WORKSPACE, &id).await.unwrap().unwrap();
    let driver = Arc::clone(&rt);
    let handle = tokio::spawn(async move { driver.drive(lease, None).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Another process (no notice reaches this runtime): only the store knows.
    let other =
        aion_store_sqlite::SqliteStore::open(dir.path(), aion_store_sqlite::Options::default())
            .await
            .unwrap();
    other
        .request_cancel(DEFAULT_WORKSPACE, &id, "from elsewhere", 1)
        .await
        .unwrap();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), handle)
        .await
        .expect("the worker sees the request at its next renewal")
        .unwrap()
        .unwrap();
    let Outcome::Finished(run) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(run.status, RunStatus::Cancelled);

    // A waiting run no worker holds: the request makes it claimable and it ends at once.
    let id = start(&rt, napper, json!({})).await;
    let lease = rt.claim_run(DEFAULT_WORKSPACE, &id).await.unwrap().unwrap();
    let driver = Arc::clone(&rt);
    let handle = tokio::spawn(async move { driver.drive(lease, None).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    rt.shutdown();
    assert_eq!(handle.await.unwrap().unwrap(), Outcome::Released);
    other
        .request_cancel(DEFAULT_WORKSPACE, &id, "while nobody held it", 2)
        .await
        .unwrap();
    let rt = runtime(dir.path(), "w2", 30_000).await;
    let run = drive(&rt, &id).await;
    assert_eq!(run.status, RunStatus::Cancelled);
}

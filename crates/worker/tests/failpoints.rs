//! The worker's fault points (feature `failpoints`): each point is hit, as an injected error in
//! this process and as an abort of a child worker process, and the run must then complete on
//! resumption with every step result recorded once and a side effect repeated only for the step
//! that was in flight.
//!
//! The child process is this test binary, run with a filter on [`child_worker`] and the
//! `AION_TEST_CHILD_DIR` and `AION_FAILPOINTS` variables (tests may read the environment).
#![cfg(feature = "failpoints")]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aion_node_sdk::{
    BoxFuture, Catalog, Category, Context, Execute, Execution, Manifest, NodeError, Output,
    PortRule,
};
use aion_store::{DEFAULT_WORKSPACE, FlowFormat, RunStatus};
use aion_worker::failpoints::{self, AFTER_COMMIT, BEFORE_COMMIT, Fault, MID_NODE};
use aion_worker::{Config, Error, Outcome, Parts, Runtime, Silent, StartRun, SystemClock};
use serde_json::{Value, json};

/// The registry is process-wide: tests that arm points take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// A side effect: appends the step's idempotency key to the file `config.path`, then returns
/// the step id.
struct Count;
impl Execute for Count {
    fn execute<'a>(&'a self, ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>> {
        Box::pin(async move {
            let path = ctx.config["path"].as_str().unwrap_or_default();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| NodeError::permanent("io", e.to_string()))?;
            writeln!(file, "{}", ctx.idempotency_key)
                .map_err(|e| NodeError::permanent("io", e.to_string()))?;
            Ok(Output::new(Value::String(ctx.step_id.to_owned())))
        })
    }
}

fn catalog() -> Catalog {
    let mut catalog = aion_nodes::catalog();
    catalog
        .register(Manifest {
            node_type: "test.count".to_owned(),
            version: 1,
            title: "count".to_owned(),
            description: "a side effect".to_owned(),
            category: Category::Utility,
            config_schema: json!({ "type": "object" }),
            ports: PortRule::out(),
            credential: None,
            side_effects: true,
            has_body: false,
            execution: Execution::Action(Arc::new(Count)),
        })
        .unwrap();
    catalog
}

fn flow(effects: &Path) -> String {
    let path = effects.display();
    format!(
        r#"aion: 1
id: faults
nodes:
  - id: a
    type: test.count
    config: {{ path: "{path}" }}
    retry: {{ max_attempts: 3, backoff: fixed, initial: 10ms, jitter: false }}
  - id: b
    type: test.count
    config: {{ path: "{path}" }}
    retry: {{ max_attempts: 3, backoff: fixed, initial: 10ms, jitter: false }}
  - {{ id: c, type: core.set, config: {{ value: "{{{{ steps.a.output }}}}+{{{{ steps.b.output }}}}" }} }}
output: "{{{{ steps.c.output }}}}"
edges:
  - {{ from: a, to: b }}
  - {{ from: b, to: c }}
"#
    )
}

async fn runtime(dir: &Path, worker_id: &str, lease_ms: i64) -> Arc<Runtime> {
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
        config: Config {
            worker_id: worker_id.to_owned(),
            lease_ms,
            poll_ms: 20,
            ..Config::default()
        },
    })
}

async fn start(rt: &Arc<Runtime>, effects: &Path) -> String {
    let yaml = flow(effects);
    let output = aion_compiler::Compiler::new(catalog())
        .compile(yaml.as_bytes(), aion_dsl::source::Format::Yaml);
    let plan = output
        .plan
        .unwrap_or_else(|| panic!("{:#?}", output.diagnostics));
    rt.create_run(StartRun {
        workspace: DEFAULT_WORKSPACE.to_owned(),
        plan,
        document: yaml,
        format: FlowFormat::Yaml,
        input: json!({}),
    })
    .await
    .unwrap()
    .id
}

/// Claims the run (waiting for a dead worker's lease to expire) and drives it once.
async fn drive_once(rt: &Arc<Runtime>, run_id: &str) -> Result<Outcome, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(lease) = rt.claim_run(DEFAULT_WORKSPACE, run_id).await.unwrap() {
            return rt.drive(lease, None).await;
        }
        assert!(Instant::now() < deadline, "the run's lease never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Side-effect deliveries per idempotency key.
fn deliveries(effects: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(effects).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    counts
}

/// The run succeeded with `a+b`, each of a, b, c has exactly one success in the journal and a
/// succeeded history row, and only `repeated` (if any) delivered its side effect twice.
async fn check_recovered(rt: &Arc<Runtime>, run_id: &str, effects: &Path, repeated: Option<&str>) {
    let run = rt
        .store()
        .get_run(DEFAULT_WORKSPACE, run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!("a+b")));
    let journal = rt
        .store()
        .read_journal(DEFAULT_WORKSPACE, run_id)
        .await
        .unwrap();
    let events = aion_worker::journal::decode(&journal).unwrap();
    let mut successes: BTreeMap<String, usize> = BTreeMap::new();
    for (record, event) in journal.iter().zip(&events) {
        if record.kind == "step_succeeded" {
            let event = serde_json::to_value(event).unwrap();
            *successes.entry(event["key"].to_string()).or_default() += 1;
        }
    }
    assert_eq!(successes.len(), 3, "{successes:?}");
    assert!(successes.values().all(|n| *n == 1), "{successes:?}");
    let steps = rt
        .store()
        .list_steps(DEFAULT_WORKSPACE, run_id)
        .await
        .unwrap();
    assert_eq!(steps.len(), 3);
    for step in &steps {
        assert_eq!(step.status.as_str(), "succeeded", "{step:?}");
    }
    let counts = deliveries(effects);
    assert_eq!(counts.len(), 2, "{counts:?}");
    for step in ["a", "b"] {
        let expected = if repeated == Some(step) { 2 } else { 1 };
        assert_eq!(
            counts[&format!("{run_id}/{step}")],
            expected,
            "deliveries of {step}: {counts:?}"
        );
    }
}

/// Commits of the run, in order: 1 run started with `a` started, 2 `a` succeeded with `b`
/// started, 3 `b` succeeded… (a step's start is committed with the event that caused it).
const A_SUCCEEDED_COMMIT: u32 = 2;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn injected_errors_at_each_point_are_recovered() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // (point, nth hit, step whose side effect repeats)
    let cases = [
        (BEFORE_COMMIT, A_SUCCEEDED_COMMIT, Some("a")),
        (AFTER_COMMIT, A_SUCCEEDED_COMMIT, None),
        (MID_NODE, 2, Some("b")),
    ];
    for (point, nth, repeated) in cases {
        tokio().block_on(inject_error(point, nth, repeated));
    }
    failpoints::clear();
}

/// Arms `point` to return an error on its `nth` hit, drives a run through it and checks the
/// recovery.
async fn inject_error(point: &'static str, nth: u32, repeated: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let effects = dir.path().join("effects.txt");
    let rt = runtime(dir.path(), "w", 30_000).await;
    let id = start(&rt, &effects).await;
    failpoints::clear();
    failpoints::arm(point, Fault::Error, nth).unwrap();
    let first = drive_once(&rt, &id).await;
    assert!(!failpoints::is_armed(point), "{point} was never hit");
    let run = match first {
        // A commit point stops the driver; the run resumes from its journal.
        Err(Error::Injected(at)) => {
            assert_eq!(at, point);
            assert_ne!(point, MID_NODE);
            match drive_once(&rt, &id).await.unwrap() {
                Outcome::Finished(run) => *run,
                Outcome::Released => panic!("released"),
            }
        }
        // The node point fails the attempt, which the step's retry policy repeats.
        Ok(Outcome::Finished(run)) => {
            assert_eq!(point, MID_NODE);
            *run
        }
        other => panic!("{point}: {other:?}"),
    };
    assert_eq!(run.status, RunStatus::Succeeded, "{point}: {:?}", run.error);
    check_recovered(&rt, &id, &effects, repeated).await;
    if point == MID_NODE {
        let steps = rt.store().list_steps(DEFAULT_WORKSPACE, &id).await.unwrap();
        let b = steps.iter().find(|s| s.step_key == "b").unwrap();
        assert_eq!(b.attempts, 2, "the injected failure took one attempt");
    }
}

/// The worker of the abort tests, in a child process: arms `AION_FAILPOINTS`, then drives the
/// runs of `AION_TEST_CHILD_DIR` until they all finished (or a point aborts it). Does nothing
/// when run as an ordinary test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::disallowed_methods,
    reason = "the child's parameters come from its parent"
)]
async fn child_worker() {
    let Ok(dir) = std::env::var("AION_TEST_CHILD_DIR") else {
        return;
    };
    let spec = std::env::var("AION_FAILPOINTS").unwrap_or_default();
    failpoints::configure(&spec).unwrap();
    let rt = runtime(Path::new(&dir), "child", 300).await;
    let worker = Arc::clone(&rt);
    let handle = tokio::spawn(async move { worker.run_worker().await });
    loop {
        let page = rt
            .store()
            .list_runs(
                DEFAULT_WORKSPACE,
                &aion_store::RunFilter::default(),
                None,
                100,
            )
            .await
            .unwrap();
        if page.runs.iter().all(|r| r.status.is_terminal()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rt.shutdown();
    handle.await.unwrap().unwrap();
}

/// Runs [`child_worker`] in a child process on `dir` with `spec` armed; returns whether it
/// exited successfully.
#[expect(
    clippy::disallowed_methods,
    reason = "the test thread waits for a child process"
)]
fn run_child(dir: &Path, spec: &str) -> bool {
    let exe: PathBuf = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_worker",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("AION_TEST_CHILD_DIR", dir)
        .env("AION_FAILPOINTS", spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child worker never finished");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_abort_at_each_point_is_recovered_after_restart() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tokio = tokio();
    let cases = [
        (BEFORE_COMMIT, A_SUCCEEDED_COMMIT, Some("a")),
        (AFTER_COMMIT, A_SUCCEEDED_COMMIT, None),
        (MID_NODE, 2, Some("b")),
    ];
    for (point, nth, repeated) in cases {
        let dir = tempfile::tempdir().unwrap();
        let effects = dir.path().join("effects.txt");
        let id = tokio.block_on(async {
            let rt = runtime(dir.path(), "parent", 300).await;
            start(&rt, &effects).await
        });
        let spec = format!("{point}=abort@{nth}");
        assert!(
            !run_child(dir.path(), &spec),
            "{spec} did not abort the worker"
        );
        assert!(run_child(dir.path(), ""), "the restarted worker failed");
        tokio.block_on(async {
            let rt = runtime(dir.path(), "check", 300).await;
            check_recovered(&rt, &id, &effects, repeated).await;
        });
    }
}

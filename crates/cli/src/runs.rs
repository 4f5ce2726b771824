//! `aion runs list|show|retry|signal`: the run history of the data dir.

use std::fmt::Write as _;
use std::process::ExitCode;

use aion_store::{DEFAULT_WORKSPACE, RunFilter, RunStatus};
use anyhow::Context as _;
use serde_json::Value;

use crate::run::{CLI_LEASE_MS, finish, worker_id};
use crate::store::{self, OperatorArgs, StoreArgs, Unfinished};

/// `aion runs list`.
pub(crate) fn list(
    args: &StoreArgs,
    flow: Option<String>,
    status: Option<&str>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let statuses = match status {
        Some(s) => vec![s.parse::<RunStatus>().map_err(|_| {
            anyhow::anyhow!(
                "unknown status `{s}` (queued, running, waiting, succeeded, failed, cancelled)"
            )
        })?],
        None => Vec::new(),
    };
    store::tokio()?.block_on(async {
        let store = args.open().await?;
        let filter = RunFilter {
            flow_id: flow,
            statuses,
            ..RunFilter::default()
        };
        let page = store
            .list_runs(DEFAULT_WORKSPACE, &filter, None, limit)
            .await?;
        print_list(&page.runs, json);
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints a list of runs on stdout: a table, or `{"runs": [...]}` with `json` (also used by
/// the remote `aion runs list --server`).
pub(crate) fn print_list(runs: &[aion_store::Run], json: bool) {
    if json {
        let runs: Vec<Value> = runs.iter().map(run_json).collect();
        emit_json(&serde_json::json!({ "runs": runs }));
        return;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<36}  {:<20}  {:>3}  {:<9}  {:>9}  RETRY OF",
        "RUN", "FLOW", "V", "STATUS", "DURATION"
    );
    for run in runs {
        let duration = match (run.started_ms, run.finished_ms) {
            (Some(s), Some(f)) => format!("{} ms", f - s),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<36}  {:<20}  {:>3}  {:<9}  {:>9}  {}",
            run.id,
            run.flow_id,
            run.flow_version,
            run.status.as_str(),
            duration,
            run.retry_of.as_deref().unwrap_or("-")
        );
    }
    emit(&out);
}

/// Writes to stdout, ignoring a closed pipe (`aion runs list | head`).
pub(crate) fn emit(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `aion runs show RUN_ID`.
pub(crate) fn show(args: &StoreArgs, run_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    store::tokio()?.block_on(async {
        let store = args.open().await?;
        let Some(run) = store.get_run(DEFAULT_WORKSPACE, run_id).await? else {
            eprintln!("error: run {run_id} not found");
            return Ok(ExitCode::from(2));
        };
        let mut steps = store.list_steps(DEFAULT_WORKSPACE, run_id).await?;
        let plan = store
            .get_flow(DEFAULT_WORKSPACE, &run.flow_id, Some(run.flow_version))
            .await?
            .map(|f| f.plan)
            .unwrap_or(Value::Null);
        order_steps(&mut steps, &plan);
        print_show(&run, &steps, json);
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints a run and its steps (already in order) on stdout: a summary and a step table, or
/// one JSON document with `json` (also used by the remote `aion runs show --server`).
pub(crate) fn print_show(run: &aion_store::Run, steps: &[aion_store::StepRecord], json: bool) {
    let mut out = String::new();
    let _ = writeln!(out, "run:      {}", run.id);
    let _ = writeln!(out, "flow:     {} v{}", run.flow_id, run.flow_version);
    let _ = writeln!(out, "status:   {}", run.status);
    if let Some(of) = &run.retry_of {
        let _ = writeln!(out, "retry of: {of}");
    }
    if let Some(parent) = &run.parent_run_id {
        let _ = writeln!(out, "parent:   {parent}");
    }
    if let (Some(s), Some(f)) = (run.started_ms, run.finished_ms) {
        let _ = writeln!(out, "duration: {} ms", f - s);
    }
    let _ = writeln!(out, "input:    {}", compact(&run.input));
    if let Some(output) = &run.output {
        let _ = writeln!(out, "output:   {}", compact(output));
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "error:    {}", compact(error));
    }
    if json {
        let mut value = run_json(run);
        let rows: Vec<Value> = steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "step": s.step_key,
                    "status": s.status.as_str(),
                    "attempts": s.attempts,
                    "duration_ms": s.duration_ms,
                    "cache_hit": s.cache_hit,
                    "output": s.output,
                    "error": s.error,
                })
            })
            .collect();
        if let Value::Object(map) = &mut value {
            map.insert("steps".to_owned(), Value::Array(rows));
        }
        emit_json(&value);
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<28}  {:<9}  {:>8}  {:>9}  {:<5}  LOGS",
        "STEP", "STATUS", "ATTEMPTS", "DURATION", "CACHE"
    );
    for step in steps {
        let duration = step
            .duration_ms
            .map_or_else(|| "-".to_owned(), |d| format!("{d} ms"));
        let _ = writeln!(
            out,
            "{:<28}  {:<9}  {:>8}  {:>9}  {:<5}  {}",
            step.step_key,
            step.status.as_str(),
            step.attempts,
            duration,
            if step.cache_hit { "hit" } else { "-" },
            step.logs.len()
        );
    }
    emit(&out);
}

/// The stable JSON shape of a run row (`--format json`).
fn run_json(run: &aion_store::Run) -> Value {
    serde_json::json!({
        "id": run.id,
        "flow_id": run.flow_id,
        "flow_version": run.flow_version,
        "status": run.status.as_str(),
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "duration_ms": match (run.started_ms, run.finished_ms) {
            (Some(s), Some(f)) => Some(f - s),
            _ => None,
        },
        "retry_of": run.retry_of,
        "parent_run_id": run.parent_run_id,
        "input": run.input,
        "output": run.output,
        "error": run.error,
    })
}

/// Prints a JSON document on stdout, pretty, with a final newline.
fn emit_json(value: &Value) {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    emit(&text);
}

/// Orders history rows the way the run went: by start time, then the steps that never started
/// in plan order (a nested key like `each[0].b` takes its top-level node's place).
pub(crate) fn order_steps(steps: &mut [aion_store::StepRecord], plan: &Value) {
    let mut ids = Vec::new();
    plan_ids(plan, &mut ids);
    let position = |key: &str| {
        let id = key.split(['.', '[']).next().unwrap_or(key);
        ids.iter().position(|i| i == id).unwrap_or(usize::MAX)
    };
    steps.sort_by_cached_key(|s| {
        (
            s.started_ms.is_none(),
            s.started_ms,
            position(&s.step_key),
            s.step_key.clone(),
        )
    });
}

/// The node ids of a plan's JSON, in document order (every object inside a `steps` array).
fn plan_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                if name == "steps"
                    && let Value::Array(items) = child
                {
                    for item in items {
                        if let Some(id) = item.get("id").and_then(Value::as_str) {
                            out.push(id.to_owned());
                        }
                    }
                }
                plan_ids(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| plan_ids(i, out)),
        _ => {}
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `aion runs retry RUN_ID --from STEP`.
pub(crate) fn retry(
    args: &StoreArgs,
    operator: &OperatorArgs,
    run_id: &str,
    from: &str,
) -> anyhow::Result<ExitCode> {
    store::tokio()?.block_on(async {
        let rt = store::runtime(
            args.open_with_accounts().await?,
            operator,
            store::Tuning {
                worker_id: worker_id("retry"),
                lease_ms: CLI_LEASE_MS,
                max_runs: None,
            },
        )?;
        let new_id = aion_worker::new_run_id(rt.now_ms());
        let plan = match rt
            .plan_retry(DEFAULT_WORKSPACE, run_id, from, &new_id)
            .await
        {
            Ok(plan) => plan,
            Err(aion_worker::Error::Invalid(message)) => {
                eprintln!("error: {message}");
                return Ok(ExitCode::from(2));
            }
            Err(error) => return Err(error.into()),
        };
        rt.store()
            .create_run(plan.run)
            .await
            .context("cannot create the retry run")?;
        eprintln!("run {new_id} retries {run_id} from `{from}`");
        if !plan.reused.is_empty() {
            eprintln!("reusing: {}", plan.reused.join(", "));
        }
        finish(&rt, &new_id, Some(plan.seed))
            .await
            .context(Unfinished(new_id.clone()))
    })
}

/// `aion runs signal RUN_ID NAME`.
pub(crate) fn signal(
    args: &StoreArgs,
    run_id: &str,
    name: &str,
    payload: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let payload = match payload {
        Some(text) => match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => {
                eprintln!("error: the payload is not valid JSON: {error}");
                return Ok(ExitCode::from(2));
            }
        },
        None => Value::Null,
    };
    store::tokio()?.block_on(async {
        let store = args.open().await?;
        let now = aion_worker::Clock::now_ms(&aion_worker::SystemClock);
        match store
            .send_signal(DEFAULT_WORKSPACE, run_id, name, payload, now)
            .await
        {
            Ok(signal) => {
                eprintln!("signal `{name}` sent to run {run_id} (#{})", signal.id);
                Ok(ExitCode::SUCCESS)
            }
            Err(error) if error.kind() == aion_store::ErrorKind::NotFound => {
                eprintln!("error: {error}");
                Ok(ExitCode::from(2))
            }
            Err(error) => Err(error.into()),
        }
    })
}

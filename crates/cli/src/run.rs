//! `aion run` (compile, validate the input, store and execute a flow in-process) and
//! `aion worker` (the long-running process that drives the data dir's runs).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use aion_compiler::Compiler;
use aion_dsl::source::Format as SourceFormat;
use aion_store::{DEFAULT_WORKSPACE, FlowFormat, Run, RunStatus};
use aion_worker::{Outcome, Runtime, StartRun};
use anyhow::Context as _;
use serde_json::Value;

use crate::render;
use crate::store::{self, OperatorArgs, StoreArgs, Tuning, Unfinished};

/// Leases taken by `aion run` and `aion runs retry`.
pub(crate) const CLI_LEASE_MS: i64 = 30_000;

/// The input options of `aion run`.
#[derive(Debug)]
pub(crate) struct InputArgs<'a> {
    pub input: Option<&'a str>,
    pub input_file: Option<&'a Path>,
    pub detach: bool,
}

/// `aion run FILE`.
pub(crate) fn run(
    file: &Path,
    opts: &InputArgs<'_>,
    args: &StoreArgs,
    operator: &OperatorArgs,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = SourceFormat::from_path(file);
    let output = Compiler::new(aion_nodes::catalog()).compile(&bytes, format);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    for diagnostic in &output.diagnostics {
        eprint!(
            "{}",
            render::diagnostic(&file.display().to_string(), &text, diagnostic)
        );
    }
    let Some(plan) = output.plan else {
        eprintln!("error: {} is not a valid flow document", file.display());
        return Ok(ExitCode::from(2));
    };
    let input = match read_input(opts.input, opts.input_file) {
        Ok(input) => input,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let problems = validate_input(&plan, &input);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("error: invalid input: {problem}");
        }
        return Ok(ExitCode::from(2));
    }
    let format = match format {
        SourceFormat::Json => FlowFormat::Json,
        SourceFormat::Yaml => FlowFormat::Yaml,
    };
    store::tokio()?.block_on(async {
        let rt = store::runtime(
            args.open_with_accounts().await?,
            operator,
            Tuning {
                worker_id: worker_id("run"),
                lease_ms: CLI_LEASE_MS,
                max_runs: None,
            },
        )?;
        let start = StartRun {
            workspace: DEFAULT_WORKSPACE.to_owned(),
            plan,
            document: text,
            format,
            input,
        };
        if opts.detach {
            let run = rt.create_run(start).await?;
            crate::runs::emit(&format!("{}\n", run.id));
            return Ok(ExitCode::SUCCESS);
        }
        // Created already leased to this process, which drives it at once.
        let (run, lease) = rt.create_leased_run(start).await?;
        eprintln!(
            "run {} of flow {} v{}",
            run.id, run.flow_id, run.flow_version
        );
        let id = run.id.clone();
        let finished = match rt.drive_run(run, lease).await {
            Ok(Outcome::Finished(run)) => Ok(*run),
            Ok(Outcome::Released) => Err(anyhow::anyhow!("its lease was given back")),
            Err(error) => Err(error.into()),
        };
        let code = report(&finished.context(Unfinished(id))?);
        // Runs this one started (sub-flows that were not awaited, its `on_error` flow) finish
        // before the process exits, rather than waiting for a worker.
        rt.wait_background().await;
        Ok(code)
    })
}

/// Drives a run in-process (or waits for whoever holds it) and prints its result.
pub(crate) async fn finish(
    rt: &Arc<Runtime>,
    run_id: &str,
    seed: Option<aion_worker::Seed>,
) -> anyhow::Result<ExitCode> {
    let ws = DEFAULT_WORKSPACE;
    let mut seed = seed;
    let run = loop {
        if let Some(lease) = rt.claim_run(ws, run_id).await? {
            match rt.drive(lease, seed.take()).await? {
                Outcome::Finished(run) => break *run,
                Outcome::Released => anyhow::bail!("its lease was given back"),
            }
        }
        let run = rt
            .store()
            .get_run(ws, run_id)
            .await?
            .with_context(|| format!("run {run_id} not found"))?;
        if run.status.is_terminal() {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let code = report(&run);
    rt.wait_background().await;
    Ok(code)
}

/// Prints a finished run's output (stdout) or error (stderr) and returns the exit code.
pub(crate) fn report(run: &Run) -> ExitCode {
    match run.status {
        RunStatus::Succeeded => {
            let output = run.output.clone().unwrap_or(Value::Null);
            let text = serde_json::to_string_pretty(&output).unwrap_or_else(|_| "null".to_owned());
            crate::runs::emit(&format!("{text}\n"));
            ExitCode::SUCCESS
        }
        status => {
            let error = run.error.clone().unwrap_or(Value::Null);
            let step = error.get("step").and_then(Value::as_str);
            let kind = error.get("kind").and_then(Value::as_str).unwrap_or("error");
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            match step {
                Some(step) => eprintln!(
                    "error: run {} {status}: step `{step}` failed: {kind}: {message}",
                    run.id
                ),
                None => eprintln!("error: run {} {status}: {kind}: {message}", run.id),
            }
            ExitCode::from(1)
        }
    }
}

/// The run input: the `--input` text, the `--input-file` content, or `{}` without either.
pub(crate) fn read_input(input: Option<&str>, file: Option<&Path>) -> anyhow::Result<Value> {
    let text = match (input, file) {
        (Some(text), _) => text.to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => return Ok(Value::Object(serde_json::Map::new())),
    };
    serde_json::from_str(&text).context("the input is not valid JSON")
}

/// Checks the input, after defaults, against the flow's `inputs` schema.
fn validate_input(plan: &aion_plan::Plan, input: &Value) -> Vec<String> {
    aion_worker::check_input(plan, input)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A worker id: the role, host-independent, and the process id.
pub(crate) fn worker_id(role: &str) -> String {
    format!("{role}-{}", std::process::id())
}

/// `aion worker`.
pub(crate) fn worker(
    args: &StoreArgs,
    operator: &OperatorArgs,
    lease_ms: i64,
    max_runs: Option<usize>,
) -> anyhow::Result<ExitCode> {
    store::tokio()?.block_on(async {
        let rt = store::runtime(
            args.open_with_accounts().await?,
            operator,
            Tuning {
                worker_id: worker_id("worker"),
                lease_ms,
                max_runs,
            },
        )?;
        eprintln!("worker started; Ctrl-C or SIGTERM stops it gracefully");
        let stopper = Arc::clone(&rt);
        tokio::spawn(async move {
            shutdown_signal().await;
            eprintln!("shutting down: letting in-flight steps finish");
            stopper.shutdown();
        });
        rt.run_worker().await?;
        eprintln!("worker stopped");
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

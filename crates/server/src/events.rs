//! Live run events: `GET /api/v1/runs/{id}/events` as Server-Sent Events, read from the run's
//! journal, so a stream shows exactly what is durable and can be resumed.
//!
//! Each journal record becomes one or more events (`run_started`, `step_started`, `log`,
//! `step_finished`, `timer_fired`, `signal_received`, `child_finished`, `cancel_requested`),
//! the last of them carrying the record's seq as its SSE `id`; a client that reconnects with
//! `Last-Event-ID: N` gets everything after record N (the events of a record it had only partly
//! received come again). When the run has ended the stream sends `run_finished` and closes.
//! Pure steps (`core.set`, ...) journal no start, so they show as `step_finished` only.
//!
//! New records are noticed through the runtime's commit notifications (runs driven by this
//! process) and, for runs driven elsewhere, by polling every second. Streams end when the
//! server stops, so they never hold up its shutdown.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use aion_engine::{CompiledPlan, Event};
use aion_store::{Role, Run};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::ApiError;

/// How often a stream looks at the store when no local commit woke it.
const POLL: Duration = Duration::from_secs(1);

/// Stream a run's events (Server-Sent Events). Resume with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(
        ("id" = String, Path, description = "The run id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this journal seq"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: run_started, step_started, log, \
          step_finished, timer_fired, signal_received, child_finished, cancel_requested, \
          run_finished", content_type = "text/event-stream", body = String),
        (status = 400, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem),
    )
)]
pub(crate) async fn run_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    caller.require(Role::Viewer)?;
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request("`Last-Event-ID` must be an event id this stream gave out")
            })?,
    };
    let run = crate::api::run_in(&state, &caller, &id).await?;
    let flow = state
        .store()
        .get_flow(&caller.workspace, &run.flow_id, Some(run.flow_version))
        .await?
        .ok_or_else(|| ApiError::not_found("run", &id))?;
    let plan = state.runtime().compiled(&flow.plan, &flow.plan_hash)?;
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(produce(state, caller.workspace, run, plan, after, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Sends the run's events after `after` until the run ends or the client goes away.
async fn produce(
    state: AppState,
    workspace: String,
    run: Run,
    plan: Arc<CompiledPlan>,
    mut after: u64,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut commits = state.runtime().commits();
    let mut stopping = state.stopping();
    let mut run = run;
    // Steps whose logs were already sent, so a step retried later sends only new lines.
    let mut logged: BTreeSet<(String, usize)> = BTreeSet::new();
    loop {
        let records = match state.store().read_journal(&workspace, &run.id).await {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(run_id = %run.id, error = %error, "event stream stopped");
                return;
            }
        };
        let fresh: Vec<_> = records.into_iter().filter(|r| r.seq > after).collect();
        let steps = if fresh.is_empty() {
            Vec::new()
        } else {
            state
                .store()
                .list_steps(&workspace, &run.id)
                .await
                .unwrap_or_default()
        };
        for record in fresh {
            let Ok(event) = serde_json::from_slice::<Event>(&record.payload) else {
                tracing::warn!(run_id = %run.id, seq = record.seq, "unreadable journal record");
                after = record.seq;
                continue;
            };
            let mut out = translate(&plan, &event, &steps, &mut logged);
            let last = out.len().saturating_sub(1);
            for (i, sse) in out.drain(..).enumerate() {
                let sse = if i == last {
                    sse.id(record.seq.to_string())
                } else {
                    sse
                };
                if tx.send(sse).await.is_err() {
                    return;
                }
            }
            after = record.seq;
        }
        if run.status.is_terminal() && run.last_seq <= after {
            let end = json!({
                "run_id": run.id,
                "status": run.status.as_str(),
                "output": run.output,
                "error": run.error,
            });
            let _ = tx
                .send(event("run_finished", &end).id(after.to_string()))
                .await;
            return;
        }
        tokio::select! {
            _ = commits.changed() => {}
            () = tokio::time::sleep(POLL) => {}
            () = tx.closed() => return,
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        match state.store().get_run(&workspace, &run.id).await {
            Ok(Some(fresh)) => run = fresh,
            Ok(None) | Err(_) => return,
        }
    }
}

fn event(name: &str, data: &Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// The client-facing events of one journal record.
fn translate(
    plan: &CompiledPlan,
    event_: &Event,
    steps: &[aion_store::StepRecord],
    logged: &mut BTreeSet<(String, usize)>,
) -> Vec<SseEvent> {
    let mut out = Vec::new();
    match event_ {
        Event::RunStarted {
            run_id,
            flow_id,
            flow_version,
            at_ms,
            ..
        } => out.push(event(
            "run_started",
            &json!({ "run_id": run_id, "flow_id": flow_id, "flow_version": flow_version, "at_ms": at_ms }),
        )),
        Event::StepStarted {
            key,
            attempt,
            at_ms,
            ..
        } => out.push(event(
            "step_started",
            &json!({ "step": plan.display(key), "attempt": attempt, "at_ms": at_ms }),
        )),
        Event::StepSucceeded {
            usage,
            key,
            attempt,
            output,
            port,
            cache_hit,
            at_ms,
        } => {
            let step = plan.display(key);
            push_logs(&mut out, &step, steps, logged);
            out.push(event(
                "step_finished",
                &json!({
                    "step": step, "status": "succeeded", "attempt": attempt, "output": output,
                    "port": port, "cache_hit": cache_hit, "usage": usage, "at_ms": at_ms,
                }),
            ));
        }
        Event::StepFailed {
            usage,
            key,
            attempt,
            error,
            at_ms,
        } => {
            let step = plan.display(key);
            push_logs(&mut out, &step, steps, logged);
            out.push(event(
                "step_finished",
                &json!({
                    "step": step, "status": "failed", "attempt": attempt,
                    "error": { "kind": error.kind, "message": error.message, "retryable": error.retryable },
                    "usage": usage, "at_ms": at_ms,
                }),
            ));
        }
        Event::TimerFired { at_ms, .. } => {
            out.push(event("timer_fired", &json!({ "at_ms": at_ms })));
        }
        Event::SignalReceived { name, at_ms, .. } => out.push(event(
            "signal_received",
            &json!({ "name": name, "at_ms": at_ms }),
        )),
        Event::ChildRunFinished { key, result, at_ms } => out.push(event(
            "child_finished",
            &json!({ "step": plan.display(key), "succeeded": result.is_ok(), "at_ms": at_ms }),
        )),
        Event::CancelRequested { reason, at_ms } => out.push(event(
            "cancel_requested",
            &json!({ "reason": reason, "at_ms": at_ms }),
        )),
    }
    out
}

/// The step's log lines not sent yet, as `log` events.
fn push_logs(
    out: &mut Vec<SseEvent>,
    step: &str,
    steps: &[aion_store::StepRecord],
    logged: &mut BTreeSet<(String, usize)>,
) {
    let Some(record) = steps.iter().find(|s| s.step_key == step) else {
        return;
    };
    for (i, line) in record.logs.iter().enumerate() {
        if logged.insert((step.to_owned(), i)) {
            out.push(event(
                "log",
                &json!({
                    "step": step, "level": line.level, "message": line.message,
                    "fields": line.fields, "at_ms": line.at_ms,
                }),
            ));
        }
    }
}

/// How many of the newest runs the workspace stream watches.
const WATCHED_RUNS: u32 = 100;

/// Stream the workspace's run changes (Server-Sent Events) for dashboards: `run_created` for
/// a new run and `run_status` whenever one of the 100 newest runs changes status, each with the
/// run's id, flow, status and times. Not resumable: a client that reconnects reads the run
/// list to catch up.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "runs",
    responses(
        (status = 200, description = "`text/event-stream`: run_created, run_status",
          content_type = "text/event-stream", body = String),
    )
)]
pub(crate) async fn workspace_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    caller.require(Role::Viewer)?;
    let known = newest(&state, &caller.workspace).await?;
    let (tx, rx) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(watch_workspace(state, caller.workspace, known, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The statuses of the workspace's newest runs, by id.
async fn newest(
    state: &AppState,
    workspace: &str,
) -> Result<std::collections::HashMap<String, aion_store::RunStatus>, aion_store::Error> {
    let page = state
        .store()
        .list_runs(
            workspace,
            &aion_store::RunFilter::default(),
            None,
            WATCHED_RUNS,
        )
        .await?;
    Ok(page.runs.into_iter().map(|r| (r.id, r.status)).collect())
}

async fn watch_workspace(
    state: AppState,
    workspace: String,
    mut known: std::collections::HashMap<String, aion_store::RunStatus>,
    tx: mpsc::Sender<SseEvent>,
) {
    let mut commits = state.runtime().commits();
    let mut stopping = state.stopping();
    loop {
        tokio::select! {
            _ = commits.changed() => {}
            () = tokio::time::sleep(POLL) => {}
            () = tx.closed() => return,
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        let page = match state
            .store()
            .list_runs(
                &workspace,
                &aion_store::RunFilter::default(),
                None,
                WATCHED_RUNS,
            )
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(error = %error, "workspace event stream stopped");
                return;
            }
        };
        // Oldest first, so a client sees creations in order.
        for run in page.runs.iter().rev() {
            let name = match known.get(&run.id) {
                None => "run_created",
                Some(status) if *status != run.status => "run_status",
                Some(_) => continue,
            };
            let data = json!({
                "run_id": run.id,
                "flow_id": run.flow_id,
                "flow_version": run.flow_version,
                "status": run.status.as_str(),
                "created_ms": run.created_ms,
                "finished_ms": run.finished_ms,
            });
            if tx.send(event(name, &data)).await.is_err() {
                return;
            }
        }
        known = page.runs.into_iter().map(|r| (r.id, r.status)).collect();
    }
}

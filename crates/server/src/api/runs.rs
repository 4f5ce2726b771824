//! Runs: list (filters and cursor pagination), get with steps, send a signal.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_store::{Role, Run, RunCursor, RunFilter, RunStatus, StepRecord};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, ApiQuery, Problem};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(send_signal))
        .routes(routes!(retry_run))
        .routes(routes!(cancel_run))
        .routes(routes!(crate::events::run_events))
        .routes(routes!(crate::events::workspace_events))
}

/// A run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunOut {
    /// The run id (the execution id).
    pub id: String,
    /// The flow.
    pub flow_id: String,
    /// The flow version it runs.
    pub flow_version: u32,
    /// `queued`, `running`, `waiting`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// The input as given (the flow's defaults apply when it runs).
    #[schema(value_type = Object)]
    pub input: Value,
    /// What started it.
    #[schema(value_type = Object)]
    pub trigger: Value,
    /// The output, once it succeeded.
    #[schema(value_type = Option<serde_json::Value>)]
    pub output: Option<Value>,
    /// Why it failed: `kind`, `message`, `step`, `details`.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// When it was created (Unix ms).
    pub created_ms: i64,
    /// When its first step started.
    pub started_ms: Option<i64>,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// `finished_ms - created_ms`, once ended.
    pub latency_ms: Option<i64>,
    /// The W3C trace id, when known.
    pub trace_id: Option<String>,
    /// The run that started it (a sub-flow's parent).
    pub parent_run_id: Option<String>,
    /// The run it retries.
    pub retry_of: Option<String>,
    /// What its steps consumed from metered services (zero until a step reports usage).
    pub usage: UsageOut,
}

/// Tokens and cost consumed from metered services (LLMs).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct UsageOut {
    /// Tokens sent to models.
    pub input_tokens: u64,
    /// Tokens models produced.
    pub output_tokens: u64,
    /// The cost in US dollars.
    pub cost_usd: f64,
}

impl From<aion_store::Usage> for UsageOut {
    fn from(usage: aion_store::Usage) -> Self {
        UsageOut {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: usage.cost_usd(),
        }
    }
}

impl From<Run> for RunOut {
    fn from(run: Run) -> Self {
        RunOut {
            latency_ms: run
                .finished_ms
                .map(|end| end.saturating_sub(run.created_ms)),
            id: run.id,
            flow_id: run.flow_id,
            flow_version: run.flow_version,
            status: run.status.as_str().to_owned(),
            input: run.input,
            trigger: run.trigger,
            output: run.output,
            error: run.error,
            created_ms: run.created_ms,
            started_ms: run.started_ms,
            finished_ms: run.finished_ms,
            trace_id: run.trace_id,
            parent_run_id: run.parent_run_id,
            retry_of: run.retry_of,
            usage: run.usage.into(),
        }
    }
}

/// The run `id` of the caller's workspace, or 404.
pub(crate) async fn run_in(state: &AppState, caller: &Caller, id: &str) -> Result<Run, ApiError> {
    state
        .store()
        .get_run(&caller.workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("run", id))
}

/// Drives a run this server just created, in a task of its own, holding `hold` until the run
/// stops. With `wait`, waits that long for the end: the finished run, or `None` when it goes on
/// (or this server handed it back).
pub(crate) async fn drive_and_wait(
    runtime: &std::sync::Arc<aion_worker::Runtime>,
    run: Run,
    lease: aion_store::Lease,
    wait: Option<std::time::Duration>,
    hold: impl Send + 'static,
) -> Result<Option<Run>, ApiError> {
    let driver = tokio::spawn({
        let runtime = std::sync::Arc::clone(runtime);
        async move {
            let outcome = runtime.drive_run(run, lease).await;
            drop(hold);
            outcome
        }
    });
    let Some(wait) = wait else {
        return Ok(None);
    };
    match tokio::time::timeout(wait, driver).await {
        Ok(Ok(Ok(aion_worker::Outcome::Finished(run)))) => Ok(Some(*run)),
        Ok(Ok(Ok(aion_worker::Outcome::Released))) | Err(_) => Ok(None),
        Ok(Ok(Err(error))) => Err(error.into()),
        Ok(Err(error)) => Err(ApiError::internal(&error)),
    }
}

/// A step of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepOut {
    /// The step's display key (`greet`, `each_user[3].greet`).
    pub key: String,
    /// Its state.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The resolved config.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// The output.
    #[schema(value_type = Option<serde_json::Value>)]
    pub output: Option<Value>,
    /// The error of the last attempt.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// Log lines.
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Value>,
    /// When it started (Unix ms).
    pub started_ms: Option<i64>,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// Whether the output came from the cache.
    pub cache_hit: bool,
    /// The idempotency key the node received.
    pub idempotency_key: Option<String>,
    /// What its attempts consumed from metered services.
    pub usage: UsageOut,
}

impl From<StepRecord> for StepOut {
    fn from(step: StepRecord) -> Self {
        StepOut {
            key: step.step_key,
            status: step.status.as_str().to_owned(),
            attempts: step.attempts,
            input: step.input,
            output: step.output,
            error: step.error,
            logs: step
                .logs
                .into_iter()
                .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
                .collect(),
            started_ms: step.started_ms,
            finished_ms: step.finished_ms,
            duration_ms: step.duration_ms,
            cache_hit: step.cache_hit,
            idempotency_key: step.idempotency_key,
            usage: step.usage.into(),
        }
    }
}

/// A run with its steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunOut,
    /// Its steps, by key.
    pub steps: Vec<StepOut>,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters and paging of the run list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Only runs of this flow.
    pub flow: Option<String>,
    /// Only runs with these statuses, comma-separated (`failed,cancelled`).
    pub status: Option<String>,
    /// Only runs created at or after this instant (Unix ms).
    pub from_ms: Option<i64>,
    /// Only runs created before this instant (Unix ms).
    pub before_ms: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Runs per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

/// List runs, newest first.
#[utoipa::path(
    get, path = "/api/v1/runs", tag = "runs",
    params(RunQuery),
    responses((status = 200, body = RunList), (status = 400, body = Problem))
)]
async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> Result<Json<RunList>, ApiError> {
    caller.require(Role::Viewer)?;
    let mut statuses = Vec::new();
    for name in query.status.iter().flat_map(|s| s.split(',')) {
        let status = name.trim().parse::<RunStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "`{name}` is not a run status (queued, running, waiting, succeeded, failed, \
                 cancelled)"
            ))
        })?;
        statuses.push(status);
    }
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 100"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(RunCursor::decode)
        .transpose()
        .map_err(|_| ApiError::bad_request("`cursor` is not a cursor this API gave out"))?;
    let filter = RunFilter {
        flow_id: query.flow,
        statuses,
        created_from_ms: query.from_ms,
        created_before_ms: query.before_ms,
    };
    let page = state
        .store()
        .list_runs(&caller.workspace, &filter, cursor.as_ref(), limit)
        .await?;
    Ok(Json(RunList {
        runs: page.runs.into_iter().map(RunOut::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// A run with its steps.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run id")),
    responses((status = 200, body = RunDetail), (status = 404, body = Problem))
)]
async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    caller.require(Role::Viewer)?;
    let run = run_in(&state, &caller, &id).await?;
    let steps = state.store().list_steps(&caller.workspace, &id).await?;
    Ok(Json(RunDetail {
        run: run.into(),
        steps: steps.into_iter().map(StepOut::from).collect(),
    }))
}

/// A signal as delivered.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalOut {
    /// The signal's id.
    pub id: u64,
    /// The run it went to.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// When it was delivered (Unix ms).
    pub sent_ms: i64,
}

/// Send a signal to a run: a `core.signal` step waiting for this name receives the body as
/// its output (a signal that arrives first is kept until one waits).
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/signals/{name}", tag = "runs",
    params(
        ("id" = String, Path, description = "The run id"),
        ("name" = String, Path, description = "The signal name"),
    ),
    request_body(content = Object, description = "The signal's payload (any JSON)"),
    responses(
        (status = 202, body = SignalOut),
        (status = 404, body = Problem),
        (status = 409, description = "The run has ended", body = Problem),
    )
)]
async fn send_signal(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    ApiJson(payload): ApiJson<Value>,
) -> Result<Response, ApiError> {
    caller.require(Role::Runner)?;
    let run = run_in(&state, &caller, &id).await?;
    if run.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_ended",
            format!(
                "run `{id}` has ended ({}); it takes no signals",
                run.status.as_str()
            ),
        ));
    }
    let signal = state
        .store()
        .send_signal(&caller.workspace, &id, &name, payload, state.now_ms())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SignalOut {
            id: signal.id,
            run_id: signal.run_id,
            name: signal.name,
            sent_ms: signal.sent_ms,
        }),
    )
        .into_response())
}

/// Where a retry starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryIn {
    /// The step to run again (its display key, e.g. `notify` or `each_user[3].greet`); the
    /// steps upstream of it keep their recorded outputs.
    pub from: String,
}

/// Re-run a failed or finished run from a step, as a new run linked to it (`retry_of`):
/// earlier steps' recorded outputs are reused, the chosen step and everything downstream run
/// again.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/retry", tag = "runs",
    params(("id" = String, Path, description = "The run to retry")),
    request_body = RetryIn,
    responses(
        (status = 202, description = "The new run, started", body = RunOut),
        (status = 404, body = Problem),
        (status = 409, description = "The run has not ended", body = Problem),
        (status = 422, description = "No such step in the run's flow", body = Problem),
    )
)]
async fn retry_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RetryIn>,
) -> Result<Response, ApiError> {
    caller.require(Role::Runner)?;
    let run = run_in(&state, &caller, &id).await?;
    if !run.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_not_ended",
            format!(
                "run `{id}` is {}; retry it once it has ended",
                run.status.as_str()
            ),
        ));
    }
    let runtime = std::sync::Arc::clone(state.runtime());
    let new_id = aion_worker::new_run_id(state.now_ms());
    let plan = match runtime
        .plan_retry(&caller.workspace, &id, &body.from, &new_id)
        .await
    {
        Ok(plan) => plan,
        Err(aion_worker::Error::Invalid(message)) => {
            return Err(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_step", message)
                    .at("/from"),
            );
        }
        Err(error) => return Err(error.into()),
    };
    let (run, drive) = runtime.start_retry(plan).await?;
    tokio::spawn(async move {
        if let Err(error) = drive.await {
            tracing::warn!(error = %error, "a retried run stopped");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(RunOut::from(run))).into_response())
}

/// Why a run is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Shown in the run's history (default "cancelled through the API").
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancel a run: a queued one ends at once; a started one ends as soon as its worker sees the
/// request (at once when this server drives it): steps in flight are aborted, nothing after
/// them starts.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "The run")),
    request_body(content = CancelIn, description = "Optional"),
    responses(
        (status = 202, description = "Requested (or done: see `status`)", body = RunOut),
        (status = 404, body = Problem),
        (status = 409, description = "The run has ended", body = Problem),
    )
)]
async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Role::Runner)?;
    let body: CancelIn = if body.is_empty() {
        CancelIn::default()
    } else {
        crate::problem::parse_json(&body)?
    };
    let reason = body
        .reason
        .unwrap_or_else(|| "cancelled through the API".to_owned());
    let before = run_in(&state, &caller, &id).await?;
    if before.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_ended",
            format!("run `{id}` has ended ({})", before.status.as_str()),
        ));
    }
    let run = state
        .store()
        .request_cancel(&caller.workspace, &id, &reason, state.now_ms())
        .await?;
    state.runtime().notify_cancel(&id);
    Ok((StatusCode::ACCEPTED, Json(RunOut::from(run))).into_response())
}

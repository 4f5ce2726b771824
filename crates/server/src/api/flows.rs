//! Flows: create, list, get, update (each save a new immutable version, guarded by
//! `If-Match`), versions, and `execute`.
//!
//! Documents are compiled when saved; a document with errors is refused with 422 and every
//! diagnostic. The flow id is the document's `id`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_dsl::source::Format as SourceFormat;
use aion_store::{FlowFormat, FlowVersion, NewFlowVersion, Role};
use aion_worker::StartStored;

use super::runs::RunOut;
use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, ApiQuery, Problem};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_flow, list_flows))
        .routes(routes!(get_flow, update_flow, delete_flow))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(execute))
}

/// The syntax of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    /// YAML 1.2.
    Yaml,
    /// JSON.
    Json,
}

/// A document to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveFlow {
    /// The flow document's text.
    pub document: String,
    /// Its syntax; by default JSON when the text starts with `{`, else YAML.
    #[serde(default)]
    pub format: Option<DocFormat>,
}

/// A flow version.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowOut {
    /// The flow id (the document's `id`).
    pub id: String,
    /// The version (from 1, one per save).
    pub version: u32,
    /// The plan hash: equal for documents that mean the same.
    pub plan_hash: String,
    /// When this version was saved (Unix ms).
    pub created_ms: i64,
    /// The document's syntax.
    pub format: DocFormat,
    /// The document's text.
    pub document: String,
}

/// A flow in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowSummaryOut {
    /// The flow id.
    pub id: String,
    /// Its latest version.
    pub latest_version: u32,
    /// The latest version's plan hash.
    pub plan_hash: String,
    /// When the latest version was saved (Unix ms).
    pub updated_ms: i64,
    /// The latest version's name (the id when the document gives none).
    pub name: String,
    /// The latest version's description (may be empty).
    pub description: String,
    /// The latest version's tags.
    pub tags: Vec<String>,
    /// The flow's most recent run, if any.
    pub last_run: Option<LastRunOut>,
}

/// The most recent run of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastRunOut {
    /// The run id.
    pub id: String,
    /// `queued`, `running`, `waiting`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// When it was created (Unix ms).
    pub created_ms: i64,
}

/// The flows of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowList {
    /// By id.
    pub flows: Vec<FlowSummaryOut>,
}

/// A version in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionOut {
    /// The version.
    pub version: u32,
    /// Its plan hash.
    pub plan_hash: String,
    /// When it was saved (Unix ms).
    pub created_ms: i64,
}

/// The versions of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// Newest first.
    pub versions: Vec<VersionOut>,
}

fn flow_out(flow: FlowVersion) -> FlowOut {
    FlowOut {
        id: flow.flow_id,
        version: flow.version,
        plan_hash: flow.plan_hash,
        created_ms: flow.created_ms,
        format: match flow.format {
            FlowFormat::Yaml => DocFormat::Yaml,
            FlowFormat::Json => DocFormat::Json,
        },
        document: flow.document,
    }
}

/// A flow version with its `ETag` (the version, quoted).
fn versioned(status: StatusCode, flow: FlowVersion) -> Response {
    let etag = format!("\"{}\"", flow.version);
    let mut response = (status, Json(flow_out(flow))).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A document that compiled.
struct Compiled {
    plan: aion_plan::Plan,
    document: String,
    format: FlowFormat,
}

/// Runs the compiler on a document, on the blocking pool: its output, the text back, and the
/// syntax it was read as.
pub(super) async fn run_compiler(
    state: &AppState,
    body: SaveFlow,
) -> Result<(aion_compiler::Output, String, DocFormat), ApiError> {
    let format = body.format.unwrap_or_else(|| {
        if body.document.trim_start().starts_with('{') {
            DocFormat::Json
        } else {
            DocFormat::Yaml
        }
    });
    let compiler = Arc::clone(state.compiler());
    let text = body.document;
    let (output, text) = tokio::task::spawn_blocking(move || {
        let source = match format {
            DocFormat::Yaml => SourceFormat::Yaml,
            DocFormat::Json => SourceFormat::Json,
        };
        let output = compiler.compile(text.as_bytes(), source);
        (output, text)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    Ok((output, text, format))
}

/// Every diagnostic of a compilation as the API shows it.
pub(super) fn diagnostics_json(output: &aion_compiler::Output) -> Vec<Value> {
    output
        .diagnostics
        .iter()
        .map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
        .collect()
}

/// Compiles a document; 422 with every diagnostic when it has errors.
async fn compile(state: &AppState, body: SaveFlow) -> Result<Compiled, ApiError> {
    let (output, text, format) = run_compiler(state, body).await?;
    let Some(plan) = output.plan else {
        let errors = diagnostics_json(&output);
        let count = output.diagnostics.iter().filter(|d| d.is_error()).count();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_flow",
            format!("the document has {count} error(s); each is in `errors`"),
        )
        .at("/document")
        .with_errors(errors));
    };
    let format = match format {
        DocFormat::Yaml => FlowFormat::Yaml,
        DocFormat::Json => FlowFormat::Json,
    };
    Ok(Compiled {
        plan,
        document: text,
        format,
    })
}

/// Saves a version on top of `expected_latest` (0: a new flow); a conflict is the caller's to
/// explain.
async fn save(
    state: &AppState,
    workspace: &str,
    compiled: Compiled,
    expected_latest: u32,
) -> Result<FlowVersion, aion_store::Error> {
    let Compiled {
        plan,
        document,
        format,
    } = compiled;
    let plan_value = serde_json::to_value(&plan)
        .map_err(|e| aion_store::Error::InvalidArgument(format!("the plan: {e}")))?;
    state
        .store()
        .put_flow(NewFlowVersion {
            workspace: workspace.to_owned(),
            flow_id: plan.flow.id.clone(),
            document,
            format,
            plan: plan_value,
            plan_hash: plan.hash.clone(),
            created_ms: state.now_ms(),
            expected_latest: Some(expected_latest),
            webhook_paths: plan.webhook_paths(),
            labels: aion_store::FlowLabels {
                name: plan.flow.name.clone(),
                description: plan.flow.description.clone(),
                tags: plan.flow.tags.clone(),
            },
        })
        .await
}

/// Create a flow from a document (its first version).
#[utoipa::path(
    post, path = "/api/v1/flows", tag = "flows",
    request_body = SaveFlow,
    responses(
        (status = 201, description = "Created; `ETag` holds the version", body = FlowOut),
        (status = 409, description = "A flow with this id exists (update it with PUT)", body = Problem),
        (status = 422, description = "The document has errors (all in `errors`)", body = Problem),
    )
)]
async fn create_flow(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SaveFlow>,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor)?;
    let compiled = compile(&state, body).await?;
    let id = compiled.plan.flow.id.clone();
    match save(&state, &caller.workspace, compiled, 0).await {
        Ok(stored) => Ok(versioned(StatusCode::CREATED, stored)),
        Err(aion_store::Error::VersionConflict { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("flow `{id}` already exists; save a new version with PUT /api/v1/flows/{id}"),
        )),
        Err(error) => Err(error.into()),
    }
}

/// List the workspace's flows with their latest version.
#[utoipa::path(
    get, path = "/api/v1/flows", tag = "flows",
    responses((status = 200, body = FlowList))
)]
async fn list_flows(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<FlowList>, ApiError> {
    caller.require(Role::Viewer)?;
    let flows = state.store().list_flows(&caller.workspace).await?;
    Ok(Json(FlowList {
        flows: flows
            .into_iter()
            .map(|f| FlowSummaryOut {
                name: if f.labels.name.is_empty() {
                    f.flow_id.clone()
                } else {
                    f.labels.name
                },
                description: f.labels.description,
                tags: f.labels.tags,
                last_run: f.last_run.map(|r| LastRunOut {
                    id: r.run_id,
                    status: r.status.as_str().to_owned(),
                    created_ms: r.created_ms,
                }),
                id: f.flow_id,
                latest_version: f.latest_version,
                plan_hash: f.plan_hash,
                updated_ms: f.updated_ms,
            })
            .collect(),
    }))
}

/// The latest version of a flow, with its document.
#[utoipa::path(
    get, path = "/api/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = "The flow id")),
    responses(
        (status = 200, description = "`ETag` holds the version", body = FlowOut),
        (status = 404, body = Problem),
    )
)]
async fn get_flow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let flow = latest(&state, &caller.workspace, &id).await?;
    Ok(versioned(StatusCode::OK, flow))
}

async fn latest(state: &AppState, workspace: &str, id: &str) -> Result<FlowVersion, ApiError> {
    state
        .store()
        .get_flow(workspace, id, None)
        .await?
        .ok_or_else(|| ApiError::not_found("flow", id))
}

/// The version an `If-Match` header names: `"3"`, `3` or `W/"3"`.
fn if_match(headers: &HeaderMap) -> Result<u32, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "an update must carry `If-Match` with the version it changes (the `ETag` of GET)",
        ));
    };
    let text = value.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let text = text.trim_matches('"');
    text.parse::<u32>().map_err(|_| {
        ApiError::bad_request(format!(
            "`If-Match: {}` is not a flow version such as \"3\"",
            value.to_str().unwrap_or("(not text)")
        ))
    })
}

/// Save a new version of a flow. `If-Match` must name the latest version; a stale one is
/// refused with 412 (someone saved meanwhile).
#[utoipa::path(
    put, path = "/api/v1/flows/{id}", tag = "flows",
    params(
        ("id" = String, Path, description = "The flow id"),
        ("If-Match" = String, Header, description = "The version being changed, as its ETag"),
    ),
    request_body = SaveFlow,
    responses(
        (status = 200, description = "The new version; `ETag` holds it", body = FlowOut),
        (status = 400, description = "Malformed If-Match", body = Problem),
        (status = 404, body = Problem),
        (status = 412, description = "If-Match is not the latest version", body = Problem),
        (status = 422, description = "The document has errors, or another id", body = Problem),
        (status = 428, description = "No If-Match", body = Problem),
    )
)]
async fn update_flow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SaveFlow>,
) -> Result<Response, ApiError> {
    caller.require(Role::Editor)?;
    let expected = if_match(&headers)?;
    latest(&state, &caller.workspace, &id).await?;
    let compiled = compile(&state, body).await?;
    if compiled.plan.flow.id != id {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id_mismatch",
            format!(
                "the document's id is `{}` but the URL names flow `{id}`",
                compiled.plan.flow.id
            ),
        )
        .at("/document"));
    }
    match save(&state, &caller.workspace, compiled, expected).await {
        Ok(stored) => Ok(versioned(StatusCode::OK, stored)),
        Err(aion_store::Error::VersionConflict { current, .. }) => {
            Err(stale(&id, expected, current))
        }
        Err(error) => Err(error.into()),
    }
}

fn stale(id: &str, expected: u32, current: u32) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "version_conflict",
        format!(
            "flow `{id}` is at version {current}, not {expected}: someone saved it meanwhile; \
             reload it and apply your change again"
        ),
    )
}

/// Delete a flow: every version, its webhook paths and its schedule. Refused while runs of it
/// have not ended (cancel them first); ended runs stay in history.
#[utoipa::path(
    delete, path = "/api/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = "The flow id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem),
        (status = 409, description = "Runs of it have not ended", body = Problem),
    )
)]
async fn delete_flow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor)?;
    latest(&state, &caller.workspace, &id).await?;
    let active = state
        .store()
        .list_runs(
            &caller.workspace,
            &aion_store::RunFilter {
                flow_id: Some(id.clone()),
                statuses: vec![
                    aion_store::RunStatus::Queued,
                    aion_store::RunStatus::Running,
                    aion_store::RunStatus::Waiting,
                ],
                ..aion_store::RunFilter::default()
            },
            None,
            1,
        )
        .await?;
    if !active.runs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "flow_has_active_runs",
            format!("flow `{id}` has runs that have not ended; cancel them first"),
        ));
    }
    state.store().delete_flow(&caller.workspace, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The versions of a flow, newest first.
#[utoipa::path(
    get, path = "/api/v1/flows/{id}/versions", tag = "flows",
    params(("id" = String, Path, description = "The flow id")),
    responses((status = 200, body = VersionList), (status = 404, body = Problem))
)]
async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    caller.require(Role::Viewer)?;
    let newest = latest(&state, &caller.workspace, &id).await?;
    let mut versions = Vec::with_capacity(newest.version as usize);
    for version in (1..newest.version).rev() {
        if let Some(flow) = state
            .store()
            .get_flow(&caller.workspace, &id, Some(version))
            .await?
        {
            versions.push(flow);
        }
    }
    versions.insert(0, newest);
    Ok(Json(VersionList {
        versions: versions
            .into_iter()
            .map(|f| VersionOut {
                version: f.version,
                plan_hash: f.plan_hash,
                created_ms: f.created_ms,
            })
            .collect(),
    }))
}

/// One version of a flow, with its document.
#[utoipa::path(
    get, path = "/api/v1/flows/{id}/versions/{version}", tag = "flows",
    params(
        ("id" = String, Path, description = "The flow id"),
        ("version" = u32, Path, description = "The version"),
    ),
    responses((status = 200, body = FlowOut), (status = 404, body = Problem))
)]
async fn get_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let number = version
        .parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::not_found("flow version", &format!("{id}@{version}")))?;
    let flow = state
        .store()
        .get_flow(&caller.workspace, &id, Some(number))
        .await?
        .ok_or_else(|| ApiError::not_found("flow version", &format!("{id}@{version}")))?;
    Ok(versioned(StatusCode::OK, flow))
}

/// How long an `Idempotency-Key` holds.
const IDEMPOTENCY_MS: i64 = 24 * 3600 * 1000;

/// The `Idempotency-Key` of a request, with a digest of what it asks for.
fn idempotency(
    headers: &HeaderMap,
    flow_id: &str,
    input: &Value,
    now_ms: i64,
) -> Result<Option<aion_store::Once>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request("`Idempotency-Key` must be 1 to 255 visible ASCII characters")
        })?;
    let request = format!("{flow_id}\n{input}");
    Ok(Some(aion_store::Once {
        key: key.to_owned(),
        request_hash: crate::auth::digest(&request),
        expires_ms: now_ms + IDEMPOTENCY_MS,
    }))
}

/// The answer to a request whose `Idempotency-Key` created a run before: that run (waited
/// for with `wait=true`, up to the timeout), marked `Idempotent-Replayed: true`.
async fn replay(
    state: &AppState,
    run: aion_store::Run,
    query: &ExecuteQuery,
) -> Result<Response, ApiError> {
    let mut run = run;
    if query.wait {
        let wait = query.timeout_ms.unwrap_or(state.config().execute_wait_ms);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait);
        let mut commits = state.runtime().commits();
        while !run.status.is_terminal() && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + Duration::from_millis(200)),
                commits.changed(),
            )
            .await;
            if let Some(fresh) = state.store().get_run(&run.workspace, &run.id).await? {
                run = fresh;
            }
        }
    }
    let status = if run.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = (status, Json(RunOut::from(run))).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

/// Options of `execute`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExecuteQuery {
    /// Wait for the run's end and answer with its output (up to `timeout_ms`).
    #[serde(default)]
    pub wait: bool,
    /// How long to wait, in ms (default: the server's `execute_wait_ms`, 30 s).
    pub timeout_ms: Option<u64>,
}

/// Start a run of the flow's latest version. The body is the run input (a JSON object),
/// checked against the flow's `inputs` schema after defaults. With `Idempotency-Key`, the same
/// request within 24 hours gets the same run (`Idempotent-Replayed: true`) instead of a new
/// one; the key with another flow or input is refused (422).
#[utoipa::path(
    post, path = "/api/v1/flows/{id}/execute", tag = "flows",
    params(
        ("id" = String, Path, description = "The flow id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Deduplicates for 24 hours"),
        ExecuteQuery,
    ),
    request_body(content = Object, description = "The run input"),
    responses(
        (status = 200, description = "With `wait=true`: the run ended in time", body = RunOut),
        (status = 202, description = "The run started (and, with `wait`, is still going)", body = RunOut),
        (status = 404, body = Problem),
        (status = 422, description = "The input breaks the flow's inputs schema", body = Problem),
    )
)]
async fn execute(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ExecuteQuery>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<Value>,
) -> Result<Response, ApiError> {
    caller.require(Role::Runner)?;
    let once = idempotency(&headers, &id, &input, state.now_ms())?;
    if !input.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "the run input must be a JSON object",
        )
        .at(""));
    }
    let flow = latest(&state, &caller.workspace, &id).await?;
    // The compiled plan is cached per hash: no per-request parse of the stored plan.
    let compiled = state.runtime().compiled(&flow.plan, &flow.plan_hash)?;
    let problems = aion_worker::check_input(&compiled.plan, &input);
    if let Some(first) = problems.first() {
        let errors = problems
            .iter()
            .map(|p| serde_json::json!({ "pointer": p.pointer, "message": p.message }))
            .collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("the input does not match the flow's inputs schema: {first}"),
        )
        .at(first.pointer.clone())
        .with_errors(errors));
    }
    let runtime = Arc::clone(state.runtime());
    let start = StartStored {
        flow,
        input,
        trigger: serde_json::json!({ "type": "api", "user_id": caller.user_id }),
        trace_id: Some(crate::auth::trace_id(&headers)),
    };
    let (run, lease) = match once {
        None => {
            let (run, lease) = runtime.create_leased_stored_run(start).await?;
            (run, lease)
        }
        Some(once) => match runtime.create_leased_stored_run_once(start, once).await {
            Ok((run, Some(lease))) => (run, lease),
            Ok((run, None)) => return replay(&state, run, &query).await,
            Err(aion_worker::Error::Store(aion_store::Error::AlreadyExists { .. })) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request in the last 24 hours",
                ));
            }
            Err(error) => return Err(error.into()),
        },
    };
    let started = RunOut::from(run.clone());
    let wait = query
        .wait
        .then(|| Duration::from_millis(query.timeout_ms.unwrap_or(state.config().execute_wait_ms)));
    match super::drive_and_wait(&runtime, run, lease, wait, ()).await? {
        Some(run) => Ok(Json(RunOut::from(run)).into_response()),
        None => Ok((StatusCode::ACCEPTED, Json(started)).into_response()),
    }
}

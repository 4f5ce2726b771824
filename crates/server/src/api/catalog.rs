//! What the Studio needs to build flows without saving them: the node catalog
//! (`GET /api/v1/nodes`) and the compiler as a service (`POST /api/v1/compile`), the same
//! compiler that checks a flow when it is saved.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_store::Role;

use super::flows::{SaveFlow, diagnostics_json, run_compiler};
use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_nodes))
        .routes(routes!(compile))
}

/// The node catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    /// Every node type, by type. Each has `type`, `version`, `title`, `description`,
    /// `category`, `ports` (the rule), `default_ports`, `credential`, `side_effects`,
    /// `has_body`, `execution` and `config_schema` (a JSON Schema).
    #[schema(value_type = Vec<Object>)]
    pub nodes: Vec<Value>,
}

/// The node types this server runs, with their config schemas.
#[utoipa::path(
    get, path = "/api/v1/nodes", tag = "flows",
    responses((status = 200, description = "The catalog", body = NodeList))
)]
async fn list_nodes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NodeList>, ApiError> {
    caller.require(Role::Viewer)?;
    let nodes = state
        .compiler()
        .catalog()
        .iter()
        .map(|m| m.describe(true))
        .collect();
    Ok(Json(NodeList { nodes }))
}

/// What the compiler says about a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompileOut {
    /// Whether the document has no error (warnings allowed): saving it would succeed.
    pub valid: bool,
    /// The plan hash when valid: equal for documents that mean the same.
    pub plan_hash: Option<String>,
    /// Every diagnostic (errors and warnings), each with `code`, `severity`, `pointer`,
    /// `line`, `column`, `message` and `hint`.
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Value>,
}

/// Compile a document without saving it: its diagnostics (200 even when it has errors).
#[utoipa::path(
    post, path = "/api/v1/compile", tag = "flows",
    request_body = SaveFlow,
    responses((status = 200, description = "The compiler's verdict", body = CompileOut))
)]
async fn compile(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SaveFlow>,
) -> Result<Json<CompileOut>, ApiError> {
    caller.require(Role::Viewer)?;
    let (output, _, _) = run_compiler(&state, body).await?;
    let diagnostics = diagnostics_json(&output);
    Ok(Json(CompileOut {
        valid: output.plan.is_some(),
        plan_hash: output.plan.map(|p| p.hash),
        diagnostics,
    }))
}

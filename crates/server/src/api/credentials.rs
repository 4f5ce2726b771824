//! The credential vault through the API: list (viewers), create or replace, and delete
//! (editors). A value goes in and never comes out: no route returns it, and the store only ever
//! holds it sealed by [`crate::vault`], bound to the caller's workspace and the name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_store::{CredentialInfo, Role, check_credential_kind, check_credential_name};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, Problem};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials))
        .routes(routes!(put_credential, delete_credential))
}

/// A credential, without its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialOut {
    /// Its name.
    pub name: String,
    /// What it holds (`webhook_secret`, `bearer_token`, `basic_auth`, `api_key`, ...).
    pub kind: String,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last set (Unix ms).
    pub updated_ms: i64,
}

impl From<CredentialInfo> for CredentialOut {
    fn from(c: CredentialInfo) -> Self {
        CredentialOut {
            name: c.name,
            kind: c.kind,
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
        }
    }
}

/// The workspace's credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    /// By name.
    pub credentials: Vec<CredentialOut>,
}

/// A credential to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialIn {
    /// What it holds: free text such as `webhook_secret` (the value a string, `whsec_<base64>`
    /// or raw), `bearer_token`, `basic_auth` or `api_key`.
    pub kind: String,
    /// The secret: any JSON value (`"s3cret"`, `{"username": .., "password": ..}`). Stored
    /// encrypted, never returned.
    #[schema(value_type = serde_json::Value)]
    pub value: Value,
}

/// The workspace's credentials: names, kinds and times, never values.
#[utoipa::path(
    get, path = "/api/v1/credentials", tag = "credentials",
    responses((status = 200, body = CredentialList), (status = 401, body = Problem))
)]
async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CredentialList>, ApiError> {
    caller.require(Role::Viewer)?;
    let credentials = state.accounts().list_credentials(&caller.workspace).await?;
    Ok(Json(CredentialList {
        credentials: credentials.into_iter().map(CredentialOut::from).collect(),
    }))
}

/// Create or replace a credential (editors). The answer never holds the value.
#[utoipa::path(
    put, path = "/api/v1/credentials/{name}", tag = "credentials",
    params(("name" = String, Path, description = "`[a-z0-9_-]{1,64}`")),
    request_body = CredentialIn,
    responses(
        (status = 201, description = "Created", body = CredentialOut),
        (status = 200, description = "Replaced", body = CredentialOut),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
    )
)]
async fn put_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<CredentialIn>,
) -> Result<(StatusCode, Json<CredentialOut>), ApiError> {
    caller.require(Role::Editor)?;
    check_credential_name(&name)?;
    check_credential_kind(&body.kind).map_err(|e| ApiError::from(e).at("/kind"))?;
    let sealed = state
        .vault()
        .seal(&caller.workspace, &name, &body.value)
        .map_err(|e| ApiError::internal(&e))?;
    let (info, created) = state
        .accounts()
        .put_credential(&caller.workspace, &name, &body.kind, sealed, state.now_ms())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info.into())))
}

/// Delete a credential (editors).
#[utoipa::path(
    delete, path = "/api/v1/credentials/{name}", tag = "credentials",
    params(("name" = String, Path, description = "The credential")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor)?;
    state
        .accounts()
        .delete_credential(&caller.workspace, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

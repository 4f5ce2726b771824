//! Workspaces, members, API keys and variables: who may do what, managed through the API.
//! Everything is scoped to the caller's workspace; managing members and keys needs the owner
//! role, variables the editor role.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use aion_store::{ApiKey, Member, Role, Variable};

use super::session::admin_error;
use crate::AppState;
use crate::auth::{Caller, Credential};
use crate::problem::{ApiError, ApiJson, Problem};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workspaces, create_workspace))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_vars))
        .routes(routes!(set_var, delete_var))
}

/// A workspace of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceOut {
    /// Its id.
    pub id: String,
    /// The caller's role there.
    pub role: String,
}

/// The caller's workspaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    /// By id.
    pub workspaces: Vec<WorkspaceOut>,
}

/// A workspace to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Its id: lowercase letters, digits, `-` and `_`, 1 to 64 characters.
    pub id: String,
}

/// The workspaces the caller's user belongs to.
#[utoipa::path(
    get, path = "/api/v1/workspaces", tag = "access",
    responses((status = 200, body = WorkspaceList), (status = 401, body = Problem))
)]
async fn list_workspaces(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WorkspaceList>, ApiError> {
    let memberships = state.accounts().memberships(&caller.user_id).await?;
    Ok(Json(WorkspaceList {
        workspaces: memberships
            .into_iter()
            .map(|m| WorkspaceOut {
                id: m.workspace,
                role: m.role.as_str().to_owned(),
            })
            .collect(),
    }))
}

/// Create a workspace; the caller's user owns it.
#[utoipa::path(
    post, path = "/api/v1/workspaces", tag = "access",
    request_body = NewWorkspace,
    responses(
        (status = 201, body = WorkspaceOut),
        (status = 409, body = Problem),
        (status = 422, description = "A bad id", body = Problem),
    )
)]
async fn create_workspace(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<Response, ApiError> {
    let valid = !body.id.is_empty()
        && body.id.len() <= 64
        && body
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_argument",
            "a workspace id has 1 to 64 lowercase letters, digits, `-` or `_`",
        )
        .at("/id"));
    }
    let now = state.now_ms();
    state.store().create_workspace(&body.id, now).await?;
    state
        .accounts()
        .set_member(&body.id, &caller.user_id, Role::Owner, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceOut {
            id: body.id,
            role: Role::Owner.as_str().to_owned(),
        }),
    )
        .into_response())
}

/// A member of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    /// The user id.
    pub user_id: String,
    /// The email.
    pub email: String,
    /// The role.
    pub role: String,
    /// Member since (Unix ms).
    pub added_ms: i64,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        MemberOut {
            user_id: m.user_id,
            email: m.email,
            role: m.role.as_str().to_owned(),
            added_ms: m.added_ms,
        }
    }
}

/// The members of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    /// By email.
    pub members: Vec<MemberOut>,
}

/// The members of the caller's workspace.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "access",
    responses((status = 200, body = MemberList))
)]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MemberList>, ApiError> {
    caller.require(Role::Viewer)?;
    let members = state.accounts().list_members(&caller.workspace).await?;
    Ok(Json(MemberList {
        members: members.into_iter().map(MemberOut::from).collect(),
    }))
}

/// A role to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    /// `owner`, `editor`, `runner` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// Add an existing user (by email) to the workspace, or change a member's role. Owners only;
/// the last owner cannot be demoted.
#[utoipa::path(
    put, path = "/api/v1/members/{email}", tag = "access",
    params(("email" = String, Path, description = "The user's email")),
    request_body = RoleIn,
    responses(
        (status = 200, body = MemberOut),
        (status = 403, body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "That would leave no owner", body = Problem),
    )
)]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
    ApiJson(body): ApiJson<RoleIn>,
) -> Result<Json<MemberOut>, ApiError> {
    caller.require(Role::Owner)?;
    let user = state
        .accounts()
        .user_by_email(&email)
        .await?
        .ok_or_else(|| ApiError::not_found("user", &email))?;
    if body.role != Role::Owner {
        ensure_another_owner(&state, &caller.workspace, &user.id).await?;
    }
    let member = state
        .accounts()
        .set_member(&caller.workspace, &user.id, body.role, state.now_ms())
        .await?;
    Ok(Json(member.into()))
}

/// Refuses a change that would leave the workspace without an owner other than `user_id`.
async fn ensure_another_owner(
    state: &AppState,
    workspace: &str,
    user_id: &str,
) -> Result<(), ApiError> {
    let members = state.accounts().list_members(workspace).await?;
    let is_owner = members
        .iter()
        .any(|m| m.user_id == user_id && m.role == Role::Owner);
    let others = members
        .iter()
        .any(|m| m.user_id != user_id && m.role == Role::Owner);
    if is_owner && !others {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_owner",
            "the workspace must keep an owner; make someone else owner first",
        ));
    }
    Ok(())
}

/// Remove a member (their API keys in this workspace are revoked). Owners only; the last
/// owner cannot be removed.
#[utoipa::path(
    delete, path = "/api/v1/members/{email}", tag = "access",
    params(("email" = String, Path, description = "The user's email")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = Problem),
        (status = 409, description = "That would leave no owner", body = Problem),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(email): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Owner)?;
    let user = state
        .accounts()
        .user_by_email(&email)
        .await?
        .ok_or_else(|| ApiError::not_found("member", &email))?;
    ensure_another_owner(&state, &caller.workspace, &user.id).await?;
    state
        .accounts()
        .remove_member(&caller.workspace, &user.id, state.now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// The public id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its role.
    pub role: String,
    /// The user it acts for.
    pub user_id: String,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last used (Unix ms, updated about once a minute).
    pub last_used_ms: Option<i64>,
    /// Revoked (Unix ms).
    pub revoked_ms: Option<i64>,
}

impl From<ApiKey> for KeyOut {
    fn from(k: ApiKey) -> Self {
        KeyOut {
            id: k.id,
            name: k.name,
            role: k.role.as_str().to_owned(),
            user_id: k.user_id,
            created_ms: k.created_ms,
            last_used_ms: k.last_used_ms,
            revoked_ms: k.revoked_ms,
        }
    }
}

/// The workspace's API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first.
    pub keys: Vec<KeyOut>,
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyIn {
    /// A label.
    pub name: String,
    /// Its role: at most the caller's.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A created key: `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key to use as `Authorization: Bearer ...`; never shown again.
    pub token: String,
    /// The key as listed.
    pub key: KeyOut,
}

/// The workspace's API keys (owners only).
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "access",
    responses((status = 200, body = KeyList), (status = 403, body = Problem))
)]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    caller.require(Role::Owner)?;
    let keys = state.accounts().list_api_keys(&caller.workspace).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyOut::from).collect(),
    }))
}

/// Create an API key for the caller's user in this workspace, with at most the caller's role.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "access",
    request_body = NewKeyIn,
    responses(
        (status = 201, body = CreatedKey),
        (status = 403, description = "A role above the caller's", body = Problem),
    )
)]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKeyIn>,
) -> Result<Response, ApiError> {
    caller.require(Role::Runner)?;
    if !caller.role.allows(body.role) {
        return Err(ApiError::forbidden(format!(
            "a {} cannot create a key with role {}",
            caller.role, body.role
        )));
    }
    let user = state
        .accounts()
        .user(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the caller's user no longer exists"))?;
    let (key, token) = crate::admin::create_api_key(
        &**state.accounts(),
        &user.email,
        &caller.workspace,
        body.role,
        &body.name,
        state.now_ms(),
    )
    .await
    .map_err(admin_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            token,
            key: key.into(),
        }),
    )
        .into_response())
}

/// Revoke an API key of the workspace: owners any key, others only their own.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "access",
    params(("id" = String, Path, description = "The key's public id")),
    responses((status = 200, body = KeyOut), (status = 404, body = Problem))
)]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyOut>, ApiError> {
    let key = state
        .accounts()
        .api_key(&id)
        .await?
        .filter(|k| k.workspace == caller.workspace)
        .ok_or_else(|| ApiError::not_found("API key", &id))?;
    let own = key.user_id == caller.user_id;
    if !own && !caller.role.allows(Role::Owner) {
        return Err(ApiError::forbidden(
            "only owners revoke other members' keys",
        ));
    }
    let revoked = state
        .accounts()
        .revoke_api_key(&caller.workspace, &id, state.now_ms())
        .await?;
    if caller.credential == Credential::ApiKey(id.clone()) {
        tracing::info!(key = %id, "an API key revoked itself");
    }
    Ok(Json(revoked.into()))
}

/// A variable.
#[derive(Debug, Serialize, ToSchema)]
pub struct VarOut {
    /// Its name.
    pub name: String,
    /// Its value.
    #[schema(value_type = serde_json::Value)]
    pub value: Value,
    /// Last set (Unix ms).
    pub updated_ms: i64,
}

impl From<Variable> for VarOut {
    fn from(v: Variable) -> Self {
        VarOut {
            name: v.name,
            value: v.value,
            updated_ms: v.updated_ms,
        }
    }
}

/// The workspace's variables.
#[derive(Debug, Serialize, ToSchema)]
pub struct VarList {
    /// By name.
    pub vars: Vec<VarOut>,
}

/// A value to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VarIn {
    /// Any JSON value.
    #[schema(value_type = serde_json::Value)]
    pub value: Value,
}

/// The workspace's variables.
#[utoipa::path(
    get, path = "/api/v1/vars", tag = "access",
    responses((status = 200, body = VarList))
)]
async fn list_vars(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VarList>, ApiError> {
    caller.require(Role::Viewer)?;
    let vars = state.accounts().list_vars(&caller.workspace).await?;
    Ok(Json(VarList {
        vars: vars.into_iter().map(VarOut::from).collect(),
    }))
}

/// Set a variable (editors).
#[utoipa::path(
    put, path = "/api/v1/vars/{name}", tag = "access",
    params(("name" = String, Path, description = "`[A-Za-z_][A-Za-z0-9_]*`")),
    request_body = VarIn,
    responses((status = 200, body = VarOut), (status = 400, body = Problem))
)]
async fn set_var(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<VarIn>,
) -> Result<Json<VarOut>, ApiError> {
    caller.require(Role::Editor)?;
    let var = state
        .accounts()
        .set_var(&caller.workspace, &name, body.value, state.now_ms())
        .await?;
    Ok(Json(var.into()))
}

/// Delete a variable (editors).
#[utoipa::path(
    delete, path = "/api/v1/vars/{name}", tag = "access",
    params(("name" = String, Path, description = "The variable")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem))
)]
async fn delete_var(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Editor)?;
    state
        .accounts()
        .delete_var(&caller.workspace, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

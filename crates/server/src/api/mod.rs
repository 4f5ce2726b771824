//! The routes: `/healthz`, `/readyz`, and the REST API under `/api/v1` with its OpenAPI
//! document at `/api/v1/openapi.json`. Every `/api/v1` route except the document itself
//! needs a [`Caller`].

mod access;
mod catalog;
mod credentials;
mod flows;
mod runs;
mod session;

pub use runs::RunOut;
pub(crate) use runs::{drive_and_wait, run_in};
pub use session::LoginLimiter;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use aion_store::Role;

use crate::AppState;
use crate::auth::{self, Caller, Credential};
use crate::problem::ApiError;

/// How long a key's `last_used_ms` may lag: at most one write per key per minute.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The whole application: health checks, the API and its document, with the body limit and
/// panic catching applied.
pub fn router(state: AppState) -> Router {
    let limit = state.config().body_limit_bytes;
    let (api, document) = api_routes().split_for_parts();
    let document = served_document(finish_document(document));
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || async move { Json(document.clone()) }),
        )
        .merge(api)
        .route(
            "/hooks/{workspace}/{*path}",
            axum::routing::post(crate::hooks::hook),
        )
        .fallback(crate::studio::serve)
        // Bodies are read by extractors that answer a body over the limit with a problem (413).
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal(&"a request handler panicked").into_response()
        }))
        .with_state(state)
}

/// The OpenAPI document of the API, as served.
pub fn openapi() -> serde_json::Value {
    served_document(finish_document(api_routes().split_for_parts().1))
}

/// The document with the answers every operation can give documented once here rather than
/// on each handler: 401 and 403 on operations that need a caller, 400, 413, 415 and 422 on
/// operations that take a body, 400 on operations with query or header parameters; and every
/// error answer typed `application/problem+json`, which is what the server sends.
fn served_document(document: OpenApi) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(&document).unwrap_or(Value::Null);
    let problem = json!({ "$ref": "#/components/schemas/Problem" });
    let answer = |text: &str| {
        json!({
            "description": text,
            "content": { "application/problem+json": { "schema": problem.clone() } }
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            // `security: [{}]` (an empty requirement) marks the public operations.
            let public = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|reqs| {
                    reqs.iter()
                        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                });
            let has_body = operation.contains_key("requestBody");
            let has_params = operation
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" || p["in"] == "header"));
            let Some(responses) = operation
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            else {
                continue;
            };
            let mut add = |code: &str, text: &str| {
                responses
                    .entry(code.to_owned())
                    .or_insert_with(|| answer(text));
            };
            if !public {
                add("401", "No valid API key or session");
                add(
                    "403",
                    "The caller's role does not allow this, or a missing CSRF token",
                );
            }
            if has_body {
                add("400", "The body is not valid JSON");
                add("413", "The body is larger than the server accepts");
                add("415", "The body is not of a type this operation takes");
                add("422", "The body does not have the expected shape");
            }
            if has_body || has_params {
                add("400", "A parameter is malformed");
            }
            for (code, response) in responses.iter_mut() {
                let is_error = code.starts_with('4') || code.starts_with('5');
                let content = response.get_mut("content").and_then(Value::as_object_mut);
                if let (true, Some(content)) = (is_error, content)
                    && let Some(json) = content.remove("application/json")
                {
                    content.insert("application/problem+json".to_owned(), json);
                }
            }
        }
    }
    doc
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(flows::routes())
        .merge(catalog::routes())
        .merge(runs::routes())
        .merge(session::routes())
        .merge(access::routes())
        .merge(credentials::routes())
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(crate::hooks::hook_doc))]
struct Hooks;

fn finish_document(mut document: OpenApi) -> OpenApi {
    document.merge(<Hooks as utoipa::OpenApi>::openapi());
    document.info.title = "Aion API".to_owned();
    document.info.version = "1".to_owned();
    document.info.description = Some(
        "Flows, runs and workspaces of an Aion server. Authenticate with \
         `Authorization: Bearer aion_...` (an API key). Errors are application/problem+json."
            .to_owned(),
    );
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("aion_<id>_<secret>")
                .build(),
        ),
    );
    components.schemas.insert(
        "Problem".to_owned(),
        <crate::problem::Problem as utoipa::PartialSchema>::schema(),
    );
    document.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "api_key",
        Vec::<String>::new(),
    )]);
    document
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "there is no such route; the API is documented at /api/v1/openapi.json",
    )
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the store answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().schema_version().await {
        Ok(_) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "not ready");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the store does not answer",
            )
            .into_response()
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            if let Some(secret) = session::session_secret(&parts.headers) {
                return session::session_caller(state, &parts.headers, &parts.method, secret).await;
            }
            return Err(ApiError::unauthenticated(
                "this route needs an API key (`Authorization: Bearer aion_...`) or a session",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer aion_...`")
            })?;
        let invalid = || ApiError::unauthenticated("the API key is not valid (or was revoked)");
        let (id, secret) = auth::parse_key(token).ok_or_else(invalid)?;
        let key = state.accounts().api_key(id).await?.ok_or_else(invalid)?;
        if key.revoked_ms.is_some() || !auth::digests_match(&auth::digest(secret), &key.secret_hash)
        {
            return Err(invalid());
        }
        let now = state.now_ms();
        if key
            .last_used_ms
            .is_none_or(|last| now.saturating_sub(last) >= TOUCH_EVERY_MS)
        {
            let accounts = std::sync::Arc::clone(state.accounts());
            let id = key.id.clone();
            tokio::spawn(async move {
                if let Err(error) = accounts.touch_api_key(&id, now).await {
                    tracing::warn!(error = %error, "cannot record an API key's use");
                }
            });
        }
        Ok(Caller {
            user_id: key.user_id,
            workspace: key.workspace,
            role: key.role,
            credential: Credential::ApiKey(key.id),
        })
    }
}

impl Caller {
    /// Refuses the call unless the caller's role includes `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {needed} role; the caller is {}",
                self.role
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_every_operation_is_secured() {
        let json = openapi();
        assert!(
            json["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            json["openapi"]
        );
        assert!(json["components"]["securitySchemes"]["api_key"].is_object());
        assert!(!json["paths"].as_object().unwrap().is_empty());
        // Cross-cutting answers are documented, with the problem media type.
        let create = &json["paths"]["/api/v1/flows"]["post"]["responses"];
        for code in ["400", "401", "403", "413", "415", "422"] {
            assert!(create[code].is_object(), "{code} missing: {create}");
        }
        assert!(create["409"]["content"]["application/problem+json"].is_object());
        let hook = &json["paths"]["/hooks/{workspace}/{path}"]["post"];
        assert_eq!(
            hook["security"],
            serde_json::json!([{}]),
            "webhooks need no key"
        );
        assert!(
            hook["responses"]["401"].is_object(),
            "signed webhooks refuse bad signatures"
        );
    }
}

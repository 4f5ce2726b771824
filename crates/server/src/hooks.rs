//! Webhook triggers: `POST /hooks/{workspace}/{path}` starts the flow whose latest version
//! declares a webhook trigger with that path, with `trigger` = the request (body, headers,
//! query). `respond: on_finish` answers with the run's output (or 202 with the run id when it
//! takes longer than the server's webhook timeout), `immediately` answers 202 at once.
//!
//! A webhook is public: no API key. What protects it is its unguessable workspace and path
//! and, when the trigger names a signing secret, the signature check (which needs the
//! credential vault: until it exists such a trigger refuses every call rather than accept
//! unsigned ones). Bodies over the limit are 413; more runs in flight than the server's
//! capacity is 503 with `Retry-After`, before anything is stored.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use aion_plan::Trigger;
use aion_store::RunStatus;
use aion_worker::{Outcome, StartStored};

use crate::AppState;
use crate::api::RunOut;
use crate::problem::{ApiError, parse_json};

/// Request headers whose values never reach run history.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];

/// Start the flow that serves this webhook path. The body (JSON, a form or text), the headers
/// (secrets redacted) and the query become the run's `trigger`. No API key: the workspace and
/// path are the address. `on_finish` triggers answer with the run's output (200), or 500 when
/// the run failed, or 202 when it takes longer than the server's webhook timeout;
/// `immediately` triggers answer 202 with the run. `X-Aion-Run-Id` names the run.
#[utoipa::path(
    post, path = "/hooks/{workspace}/{path}", tag = "webhooks", security(()),
    params(
        ("workspace" = String, Path, description = "The workspace id"),
        ("path" = String, Path, description = "The trigger's path (may contain `/`)"),
    ),
    request_body(content = Object, description = "Any JSON, form or text body"),
    responses(
        (status = 200, description = "The run's output", body = Object),
        (status = 202, description = "The run started", body = RunOut),
        (status = 404, body = crate::problem::Problem),
        (status = 413, body = crate::problem::Problem),
        (status = 500, description = "The run failed", body = crate::problem::Problem),
        (status = 503, description = "Over capacity; see Retry-After", body = crate::problem::Problem),
    )
)]
#[expect(dead_code, reason = "documents `hook`, whose path has a wildcard")]
pub(crate) fn hook_doc() {}

/// `POST /hooks/{workspace}/{*path}`.
pub(crate) async fn hook(
    State(state): State<AppState>,
    Path((workspace, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is larger than the server accepts ({} bytes)",
                    state.config().body_limit_bytes
                ),
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {rejection}"))
        }
    })?;
    let unknown = || ApiError::not_found("webhook", &format!("{workspace}/{path}"));
    let flow_id = state
        .store()
        .webhook_flow(&workspace, &path)
        .await?
        .ok_or_else(unknown)?;
    let flow = state
        .store()
        .get_flow(&workspace, &flow_id, None)
        .await?
        .ok_or_else(unknown)?;
    let plan: aion_plan::Plan =
        serde_json::from_value(flow.plan.clone()).map_err(|e| ApiError::internal(&e))?;
    let Some(Trigger::Webhook {
        respond, secret, ..
    }) = plan.webhook(&path).cloned()
    else {
        return Err(unknown());
    };
    if secret.is_some() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "signature_unavailable",
            "this webhook requires signed requests, and this server cannot check signatures \
             yet (it has no credential vault); the call is refused rather than accepted unsigned",
        ));
    }
    let payload = parse_body(&headers, &body)?;
    let input = Value::Object(Map::new());
    let problems = aion_worker::check_input(&plan, &input);
    if let Some(first) = problems.first() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!(
                "flow `{flow_id}` needs inputs a webhook does not give (its inputs schema \
                 fails on defaults alone: {first}); give them defaults or read the request from \
                 `trigger`"
            ),
        ));
    }
    let Ok(permit) = Arc::clone(state.run_slots()).try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "over_capacity",
            "the server is running as many webhook runs as it may; retry shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")));
    };
    let trigger = json!({
        "type": "webhook",
        "path": path,
        "method": "POST",
        "headers": header_map(&headers),
        "query": query_map(query.as_deref().unwrap_or("")),
        "body": payload,
    });
    let runtime = Arc::clone(state.runtime());
    let (run, lease) = runtime
        .create_leased_stored_run(StartStored {
            flow,
            input,
            trigger,
            trace_id: None,
        })
        .await?;
    let started = RunOut::from(run.clone());
    let run_header = HeaderValue::from_str(&run.id).ok();
    let driver = tokio::spawn({
        let runtime = Arc::clone(&runtime);
        async move {
            let outcome = runtime.drive_run(run, lease).await;
            drop(permit);
            outcome
        }
    });
    let accepted = |started: RunOut| (StatusCode::ACCEPTED, Json(started)).into_response();
    let mut response = if respond == "immediately" {
        accepted(started)
    } else {
        let wait = Duration::from_millis(state.config().webhook_timeout_ms);
        match tokio::time::timeout(wait, driver).await {
            Ok(Ok(Ok(Outcome::Finished(run)))) => finished(*run),
            Ok(Ok(Ok(Outcome::Released))) | Err(_) => accepted(started),
            Ok(Ok(Err(error))) => return Err(error.into()),
            Ok(Err(error)) => return Err(ApiError::internal(&error)),
        }
    };
    if let Some(id) = run_header {
        response.headers_mut().insert("x-aion-run-id", id);
    }
    Ok(response)
}

/// The answer for a run that ended: its output, or a problem saying how it failed.
fn finished(run: aion_store::Run) -> Response {
    if run.status == RunStatus::Succeeded {
        return Json(run.output.unwrap_or(Value::Null)).into_response();
    }
    let error = run.error.unwrap_or(Value::Null);
    let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
    let detail = match (text("step"), text("kind"), text("message")) {
        (Some(step), Some(kind), Some(message)) => {
            format!(
                "run {} {}: step `{step}` failed: {kind}: {message}",
                run.id, run.status
            )
        }
        (None, Some(kind), Some(message)) => {
            format!("run {} {}: {kind}: {message}", run.id, run.status)
        }
        _ => format!("run {} {}", run.id, run.status),
    };
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "run_failed", detail).into_response()
}

/// The body as the run sees it: JSON as JSON, a form as an object of strings (arrays for
/// repeated fields), text as a string, nothing as `null`.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        return parse_json::<Value>(body);
    }
    if mime == "application/x-www-form-urlencoded" {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the form body is not UTF-8"))?;
        return Ok(query_map(text));
    }
    if mime.starts_with("text/") {
        let text = std::str::from_utf8(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the text body is not UTF-8 (at byte {})",
                e.valid_up_to()
            ))
        })?;
        return Ok(Value::String(text.to_owned()));
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "a webhook takes JSON, a form or text, not `{}`",
            if mime.is_empty() {
                "(no content type)"
            } else {
                &mime
            }
        ),
    ))
}

/// URL-encoded pairs as an object: a repeated key becomes an array of its values.
fn query_map(encoded: &str) -> Value {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(encoded.as_bytes()) {
        let value = Value::String(value.into_owned());
        match out.get_mut(key.as_ref()) {
            None => {
                out.insert(key.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Value::Object(out)
}

/// Request headers by lowercase name (repeated ones joined with `, `), secrets redacted.
fn header_map(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let shown = if SECRET_HEADERS.contains(&name.as_str()) {
            "[redacted]".to_owned()
        } else {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.insert(name.as_str().to_owned(), Value::String(shown));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_queries_keep_repeated_keys() {
        assert_eq!(
            query_map("a=1&b=x%20y&a=2&a=3&c="),
            json!({ "a": ["1", "2", "3"], "b": "x y", "c": "" })
        );
        assert_eq!(query_map(""), json!({}));
    }

    #[test]
    fn secret_headers_are_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        headers.append("x-tag", HeaderValue::from_static("a"));
        headers.append("x-tag", HeaderValue::from_static("b"));
        let shown = header_map(&headers);
        assert_eq!(shown["authorization"], "[redacted]");
        assert_eq!(shown["x-api-key"], "[redacted]");
        assert_eq!(shown["x-tag"], "a, b");
        assert!(!shown.to_string().contains("s3cret"));
    }

    #[test]
    fn bodies_by_content_type() {
        let with = |mime: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(mime).unwrap());
            headers
        };
        let body = |text: &'static str| Bytes::from_static(text.as_bytes());
        assert_eq!(
            parse_body(
                &with("application/json; charset=utf-8"),
                &body(r#"{"a":1}"#)
            )
            .unwrap(),
            json!({ "a": 1 })
        );
        assert_eq!(
            parse_body(&with("application/x-www-form-urlencoded"), &body("a=1&a=2")).unwrap(),
            json!({ "a": ["1", "2"] })
        );
        assert_eq!(
            parse_body(&with("text/plain"), &body("hi")).unwrap(),
            json!("hi")
        );
        assert_eq!(
            parse_body(&HeaderMap::new(), &Bytes::new()).unwrap(),
            Value::Null
        );
        let bad = parse_body(&with("application/json"), &body("{")).unwrap_err();
        assert_eq!(bad.code(), "malformed_json");
        let binary = parse_body(&with("application/octet-stream"), &body("x")).unwrap_err();
        assert_eq!(binary.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let latin = parse_body(&with("text/plain"), &Bytes::from_static(b"caf\xe9")).unwrap_err();
        assert_eq!(latin.status(), StatusCode::BAD_REQUEST);
    }
}

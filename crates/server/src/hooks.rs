//! Webhook triggers: `POST /hooks/{workspace}/{path}` starts the flow whose latest version
//! declares a webhook trigger with that path, with `trigger` = the request (body, headers,
//! query). `respond: on_finish` answers with the run's output (or 202 with the run id when it
//! takes longer than the server's webhook timeout), `immediately` answers 202 at once.
//!
//! A webhook is public: no API key. What protects it is its unguessable workspace and path
//! and, when the trigger names a signing secret (`secret: NAME`, a `webhook_secret` credential
//! of the workspace), the [Standard Webhooks](https://www.standardwebhooks.com/) signature:
//! `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>` of
//! `{webhook-id}.{webhook-timestamp}.{raw body}` under the secret (`whsec_<base64>` is decoded,
//! any other string is used as raw bytes); one matching signature passes (compared in constant
//! time), the timestamp must be within five minutes of now, and a `webhook-id` is accepted once
//! per trigger within that window (the ids are kept in the store, so a replay is refused after
//! a restart too). The id is recorded only when the run is about to start, so a sender's retry
//! of a call refused for capacity still runs. A bad or missing signature is 401
//! `invalid_signature`, a replay 401 `replayed_webhook`, a missing or unusable credential 503
//! `webhook_secret_missing`; none of them starts anything. Bodies over the limit are 413; more
//! runs in flight than the server's capacity is 503 with `Retry-After`, before anything is
//! stored.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Map, Value, json};

use aion_plan::Trigger;
use aion_store::RunStatus;
use aion_worker::StartStored;

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

/// How far a signed call's timestamp may be from now: five minutes, as Standard Webhooks
/// recommends.
const SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// How long an accepted `webhook-id` is remembered: past the tolerance on both sides, so any
/// replay whose timestamp would still pass is refused.
const DELIVERY_MEMORY_MS: i64 = 2 * SIGNATURE_TOLERANCE_MS;

/// The credential kind a webhook secret must have.
const WEBHOOK_SECRET_KIND: &str = "webhook_secret";

/// HMAC-SHA256, as Standard Webhooks signs.
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Start the flow that serves this webhook path. The body (JSON, a form or text), the headers
/// (secrets redacted) and the query become the run's `trigger`. No API key: the workspace and
/// path are the address. `on_finish` triggers answer with the run's output (200), or 500 when
/// the run failed, or 202 when it takes longer than the server's webhook timeout;
/// `immediately` triggers answer 202 with the run. `X-Aion-Run-Id` names the run.
/// A trigger with a signing secret also needs Standard Webhooks headers (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`): a missing, wrong, stale or replayed signature is
/// 401 `invalid_signature` / `replayed_webhook`, a missing secret 503 `webhook_secret_missing`.
#[utoipa::path(
    post, path = "/hooks/{workspace}/{path}", tag = "webhooks", security(()),
    params(
        ("workspace" = String, Path, description = "The workspace id"),
        ("path" = String, Path, description = "The trigger's path (may contain `/`)"),
    ),
    request_body(content = Object, description = "Any JSON, form or text body"),
    responses(
        (status = 200, description = "The run's output (any JSON)", body = serde_json::Value),
        (status = 202, description = "The run started", body = RunOut),
        (status = 404, body = crate::problem::Problem),
        (status = 401, description = "A signed webhook's signature is missing, wrong, stale or \
          replayed", body = crate::problem::Problem),
        (status = 413, body = crate::problem::Problem),
        (status = 500, description = "The run failed", body = crate::problem::Problem),
        (status = 503, description = "Over capacity (see Retry-After), or the signing secret is missing", body = crate::problem::Problem),
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
    // The compiled plan is cached per hash: no per-request parse of the stored plan.
    let compiled = state.runtime().compiled(&flow.plan, &flow.plan_hash)?;
    let plan = &compiled.plan;
    let Some(Trigger::Webhook {
        respond, secret, ..
    }) = plan.webhook(&path).cloned()
    else {
        return Err(unknown());
    };
    let delivery_id = match &secret {
        Some(name) => {
            let key = signing_key(&state, &workspace, name).await?;
            Some(verify_signature(&key, &headers, &body, state.now_ms())?)
        }
        None => None,
    };
    let payload = parse_body(&headers, &body)?;
    let input = Value::Object(Map::new());
    let problems = aion_worker::check_input(plan, &input);
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
    if let Some(id) = &delivery_id {
        let now = state.now_ms();
        let first = state
            .accounts()
            .remember_webhook_delivery(
                &workspace,
                &path,
                id,
                now,
                now.saturating_add(DELIVERY_MEMORY_MS),
            )
            .await?;
        if !first {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "replayed_webhook",
                format!("webhook-id `{id}` was already accepted by this webhook"),
            ));
        }
    }
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
            trace_id: Some(crate::auth::trace_id(&headers)),
        })
        .await?;
    let started = RunOut::from(run.clone());
    let run_header = HeaderValue::from_str(&run.id).ok();
    let wait = (respond != "immediately")
        .then(|| Duration::from_millis(state.config().webhook_timeout_ms));
    let mut response = match crate::api::drive_and_wait(&runtime, run, lease, wait, permit).await? {
        Some(run) => finished(run),
        None => (StatusCode::ACCEPTED, Json(started)).into_response(),
    };
    if let Some(id) = run_header {
        response.headers_mut().insert("x-aion-run-id", id);
    }
    Ok(response)
}

/// The signing key of the credential `name`: the base64-decoded part of `whsec_<base64>`, or
/// the string's bytes. Anything missing or unusable is 503 `webhook_secret_missing` (the
/// caller cannot fix it; the workspace's editors can).
async fn signing_key(state: &AppState, workspace: &str, name: &str) -> Result<Vec<u8>, ApiError> {
    let missing = |why: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_secret_missing",
            format!(
                "this webhook checks signatures with the credential `{name}`, which {why}; \
                 the call is refused"
            ),
        )
    };
    let Some(credential) = state.accounts().credential(workspace, name).await? else {
        return Err(missing("does not exist in the workspace"));
    };
    if credential.kind != WEBHOOK_SECRET_KIND {
        return Err(missing(&format!(
            "is a `{}`, not a `{WEBHOOK_SECRET_KIND}`",
            credential.kind
        )));
    }
    let value = state
        .vault()
        .unseal(workspace, name, &credential.ciphertext)
        .map_err(|error| {
            tracing::error!(credential = %name, error = %error, "cannot open a webhook secret");
            missing("cannot be decrypted with this server's master key")
        })?;
    let Value::String(text) = value else {
        return Err(missing("does not hold a string"));
    };
    let key = match text.strip_prefix("whsec_") {
        Some(encoded) => BASE64
            .decode(encoded)
            .map_err(|_| missing("holds a `whsec_` secret that is not base64"))?,
        None => text.into_bytes(),
    };
    if key.is_empty() {
        return Err(missing("is empty"));
    }
    Ok(key)
}

/// Checks a Standard Webhooks signature and timestamp; returns the `webhook-id`.
fn verify_signature(
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
) -> Result<String, ApiError> {
    let invalid =
        |detail: String| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", detail);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "this webhook needs signed calls: the `{name}` header is missing"
                ))
            })
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| invalid("`webhook-timestamp` must be a Unix time in seconds".to_owned()))?;
    let skew = seconds.saturating_mul(1000).saturating_sub(now_ms);
    if skew.saturating_abs() > SIGNATURE_TOLERANCE_MS {
        return Err(invalid(format!(
            "`webhook-timestamp` is {} s from the server's time; at most {} s are accepted",
            skew / 1000,
            SIGNATURE_TOLERANCE_MS / 1000
        )));
    }
    let mut mac = HmacSha256::new_from_slice(key).map_err(|e| ApiError::internal(&e))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let matches = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .any(|given| mac.clone().verify_slice(&given).is_ok());
    if !matches {
        return Err(invalid(
            "no `v1` signature in `webhook-signature` matches the request".to_owned(),
        ));
    }
    Ok(id.to_owned())
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

    fn signed(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        headers.insert(
            "webhook-timestamp",
            HeaderValue::from_str(timestamp).unwrap(),
        );
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(signature).unwrap(),
        );
        headers
    }

    #[test]
    fn standard_webhooks_signatures() {
        // The example of the Standard Webhooks reference libraries.
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let (id, ts) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330");
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let now = 1_614_265_330_000;
        assert_eq!(
            verify_signature(&key, &signed(id, ts, good), body, now).unwrap(),
            id
        );
        // One matching signature among several passes; other versions are ignored.
        let several = format!("v1,bm9wZQ== v2,xyz {good}");
        verify_signature(&key, &signed(id, ts, &several), body, now).unwrap();
        let refused = |headers: HeaderMap, body: &[u8], now: i64| {
            let error = verify_signature(&key, &headers, body, now).unwrap_err();
            assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(error.code(), "invalid_signature");
        };
        refused(signed(id, ts, good), br#"{"test": 2432232315}"#, now);
        refused(signed("msg_other", ts, good), body, now);
        refused(signed(id, ts, "v1,bm9wZQ=="), body, now);
        refused(signed(id, ts, "v1,not base64!"), body, now);
        refused(signed(id, ts, good), body, now + 5 * 60 * 1000 + 1000);
        refused(signed(id, ts, good), body, now - 5 * 60 * 1000 - 1000);
        refused(signed(id, "soon", good), body, now);
        verify_signature(&key, &signed(id, ts, good), body, now + 5 * 60 * 1000).unwrap();
        let mut missing = signed(id, ts, good);
        missing.remove("webhook-signature");
        refused(missing, body, now);
    }

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

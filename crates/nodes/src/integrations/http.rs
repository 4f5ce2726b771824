//! `http.request`: one HTTP call through the SSRF-guarded client of `aion-http`.
//!
//! The output is `{ status, headers, body }`: header names in lowercase, repeated headers joined
//! with `", "`, and the body parsed as JSON when the response says it is JSON (text otherwise, or
//! when it does not parse). Answers outside 2xx fail the step with kind `http_status`
//! (retryable for 429 and 5xx); transport failures keep the client's kind (`blocked_address`,
//! `timeout`, `connect`, `too_large`, …) and retryability.

use std::collections::BTreeMap;
use std::sync::Arc;

use aion_http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use aion_http::{HttpClient, Url};
use aion_node_sdk::{
    BoxFuture, Category, Context, CredentialRequirement, Execute, Execution, LogLevel, Manifest,
    NodeError, Output,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::{DURATION_PATTERN, manifest as base};

/// HTTP methods the node sends.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET
    #[default]
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

/// How `body` is encoded.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyType {
    /// `application/json`.
    #[default]
    Json,
    /// `text/plain`, the body must be a string.
    Text,
    /// `application/x-www-form-urlencoded`, the body must be an object.
    Form,
}

/// Config of `http.request`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    /// The method.
    #[serde(default)]
    pub method: Method,
    /// An absolute `http` or `https` URL.
    #[schemars(length(min = 1, max = 8192))]
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to the URL.
    #[serde(default)]
    pub query: BTreeMap<String, serde_json::Value>,
    /// The request body.
    pub body: Option<serde_json::Value>,
    /// How the body is encoded.
    #[serde(default)]
    pub body_type: BodyType,
    /// The request's own timeout, within the step's.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
}

/// How many bytes of an error answer's body go into the step error's details.
const BODY_EXCERPT_BYTES: usize = 2048;

/// The header that carries the step's idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The W3C Trace Context header that carries the run's trace to the called service.
const TRACEPARENT: &str = "traceparent";

/// The `http.request` action: builds the request from the resolved config and sends it through
/// the shared guarded client.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    client: Arc<HttpClient>,
}

impl Method {
    fn to_http(&self) -> aion_http::Method {
        match self {
            Method::Get => aion_http::Method::GET,
            Method::Post => aion_http::Method::POST,
            Method::Put => aion_http::Method::PUT,
            Method::Patch => aion_http::Method::PATCH,
            Method::Delete => aion_http::Method::DELETE,
            Method::Head => aion_http::Method::HEAD,
            Method::Options => aion_http::Method::OPTIONS,
        }
    }

    /// Methods that change the server's state and so carry the idempotency key.
    fn is_mutating(&self) -> bool {
        matches!(
            self,
            Method::Post | Method::Put | Method::Patch | Method::Delete
        )
    }
}

fn invalid_config(message: impl Into<String>) -> NodeError {
    NodeError::permanent("invalid_config", message)
}

/// A query or form value as text: strings as they are, `null` as empty, other scalars in their
/// JSON spelling, arrays and objects as JSON text.
fn stringify(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Appends `query` to the URL; an array value repeats the parameter once per element.
fn build_url(url: &str, query: &BTreeMap<String, serde_json::Value>) -> Result<Url, NodeError> {
    let mut url = Url::parse(url)
        .map_err(|error| NodeError::permanent("invalid_url", format!("invalid URL: {error}")))?;
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            match value {
                serde_json::Value::Array(items) => {
                    for item in items {
                        pairs.append_pair(name, &stringify(item));
                    }
                }
                other => {
                    pairs.append_pair(name, &stringify(other));
                }
            }
        }
    }
    Ok(url)
}

fn build_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, NodeError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid_config(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid_config(format!("the value of header `{name}` is not valid")))?;
        map.append(header, value);
    }
    Ok(map)
}

/// Whether a content type announces JSON (`application/json`, `application/problem+json`…).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Header names (already lowercase) to values, repeated headers joined with `", "`.
fn headers_to_json(headers: &HeaderMap) -> serde_json::Value {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    serde_json::json!(out)
}

fn from_client_error(error: &aion_http::Error) -> NodeError {
    let node_error = NodeError {
        kind: error.kind().to_owned(),
        message: error.to_string(),
        retryable: error.is_retryable(),
        details: None,
    };
    match error {
        aion_http::Error::BlockedAddress { host, addr, reason } => {
            node_error.with_details(serde_json::json!({
                "host": host,
                "address": addr.to_string(),
                "reason": reason.as_str(),
            }))
        }
        _ => node_error,
    }
}

impl HttpRequest {
    async fn run(&self, ctx: &Context<'_>) -> Result<Output, NodeError> {
        let config: HttpRequestConfig =
            serde_json::from_value(ctx.config.clone()).map_err(|error| {
                invalid_config(format!(
                    "the resolved config does not fit the node: {error}"
                ))
            })?;
        let url = build_url(&config.url, &config.query)?;
        let mut headers = build_headers(&config.headers)?;
        if config.method.is_mutating()
            && !ctx.idempotency_key.is_empty()
            && !headers.contains_key(IDEMPOTENCY_KEY)
        {
            let value = HeaderValue::from_str(ctx.idempotency_key).map_err(|_| {
                NodeError::permanent(
                    "invalid_request",
                    "the idempotency key is not a valid header value",
                )
            })?;
            headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY), value);
        }
        // The run's trace goes on to the service, unless the flow sets its own.
        if let Some(traceparent) = ctx.traceparent
            && !headers.contains_key(TRACEPARENT)
            && let Ok(value) = HeaderValue::from_str(traceparent)
        {
            headers.insert(HeaderName::from_static(TRACEPARENT), value);
        }
        let mut request = self
            .client
            .request(config.method.to_http(), url.as_str())
            .map_err(|error| from_client_error(&error))?;
        if let Some(body) = &config.body {
            request = match config.body_type {
                BodyType::Json => {
                    if !headers.contains_key(CONTENT_TYPE) {
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    }
                    let bytes = serde_json::to_vec(body).map_err(|error| {
                        invalid_config(format!("the body cannot be encoded as JSON: {error}"))
                    })?;
                    request.body(bytes)
                }
                BodyType::Text => {
                    let serde_json::Value::String(text) = body else {
                        return Err(invalid_config("`body_type: text` needs a string `body`"));
                    };
                    if !headers.contains_key(CONTENT_TYPE) {
                        headers.insert(
                            CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; charset=utf-8"),
                        );
                    }
                    request.body(text.clone())
                }
                BodyType::Form => {
                    let serde_json::Value::Object(fields) = body else {
                        return Err(invalid_config("`body_type: form` needs an object `body`"));
                    };
                    let pairs: Vec<(&str, String)> = fields
                        .iter()
                        .map(|(name, value)| (name.as_str(), stringify(value)))
                        .collect();
                    if !headers.contains_key(CONTENT_TYPE) {
                        headers.insert(
                            CONTENT_TYPE,
                            HeaderValue::from_static("application/x-www-form-urlencoded"),
                        );
                    }
                    request.form(&pairs)
                }
            };
        }
        request = request.headers(headers);
        if let Some(timeout) = &config.timeout {
            let timeout = aion_types::duration::Duration::parse(timeout)
                .map_err(|error| invalid_config(error.to_string()))?;
            request = request.timeout(timeout.to_std());
        }
        let response = self
            .client
            .send(request)
            .await
            .map_err(|error| from_client_error(&error))?;
        let status = response.status.as_u16();
        ctx.log.log(
            LogLevel::Debug,
            "HTTP request answered",
            Some(&serde_json::json!({
                "method": config.method.to_http().as_str(),
                "host": url.host_str().unwrap_or_default(),
                "status": status,
            })),
        );
        if !response.status.is_success() {
            let message = format!("the server answered {}", response.status);
            let details = serde_json::json!({
                "status": status,
                "body": response.body_excerpt(BODY_EXCERPT_BYTES),
            });
            let error = if status == 429 || response.status.is_server_error() {
                NodeError::retryable("http_status", message)
            } else {
                NodeError::permanent("http_status", message)
            };
            return Err(error.with_details(details));
        }
        let body = if is_json(&response.headers) {
            serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| serde_json::Value::String(response.text()))
        } else {
            serde_json::Value::String(response.text())
        };
        Ok(Output::new(serde_json::json!({
            "status": status,
            "headers": headers_to_json(&response.headers),
            "body": body,
        })))
    }
}

impl Execute for HttpRequest {
    fn execute<'a>(&'a self, ctx: Context<'a>) -> BoxFuture<'a, Result<Output, NodeError>> {
        Box::pin(async move { self.run(&ctx).await })
    }
}

/// The manifest; without a client (it could not be built) the node says it cannot run.
pub(crate) fn manifest(client: Option<Arc<HttpClient>>) -> Manifest {
    let execution = match client {
        Some(client) => Execution::Action(Arc::new(HttpRequest { client })),
        None => Execution::Unavailable("the HTTP client could not be built in this process"),
    };
    let mut manifest = base::<HttpRequestConfig>(
        "http.request",
        "HTTP request",
        "Calls an HTTP API and outputs `status`, `headers` and the parsed `body`; non-2xx \
         answers are step errors (retryable for 429 and 5xx).",
        Category::Integration,
        execution,
    );
    manifest.side_effects = true;
    manifest.credential = Some(CredentialRequirement {
        kind: "http".into(),
        required: false,
    });
    manifest
}

//! `http.request`: one HTTP call through the SSRF-guarded client.

use std::collections::BTreeMap;

use aion_node_sdk::{Category, CredentialRequirement, Execution, Manifest};
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

pub(crate) fn manifest() -> Manifest {
    let mut manifest = base::<HttpRequestConfig>(
        "http.request",
        "HTTP request",
        "Calls an HTTP API and outputs `status`, `headers` and the parsed `body`; non-2xx \
         answers are step errors (retryable for 429 and 5xx).",
        Category::Integration,
        Execution::Unavailable("the SSRF-guarded HTTP client arrives with the engine"),
    );
    manifest.side_effects = true;
    manifest.credential = Some(CredentialRequirement {
        kind: "http".into(),
        required: false,
    });
    manifest
}

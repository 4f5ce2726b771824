//! Integration nodes (HTTP and SaaS). `http.request` runs through the SSRF-guarded client of
//! `aion-http`; the SaaS connectors publish their manifests so documents using them can be
//! checked, and run once their connectors exist.

mod http;
mod slack;

use std::sync::Arc;

use aion_http::HttpClient;
use aion_node_sdk::Manifest;

pub(crate) fn manifests(http: Option<Arc<HttpClient>>) -> Vec<Manifest> {
    vec![http::manifest(http), slack::manifest()]
}

//! Integration nodes (HTTP and SaaS). Their manifests are published now so documents using them
//! can be checked; they run once the SSRF-guarded HTTP client exists (the engine issue).

mod http;
mod slack;

use aion_node_sdk::Manifest;

pub(crate) fn manifests() -> Vec<Manifest> {
    vec![http::manifest(), slack::manifest()]
}

//! Built-in nodes: the `core.*` control and data nodes of the flow document, plus the first
//! integrations. Each node is a config type (its JSON Schema is generated from it) and a manifest;
//! nodes that act on data implement `Execute`.
//!
//! This crate depends only on `aion-node-sdk`, `aion-types` and the shared outbound client
//! `aion-http`: nodes never see the store, the engine or the server.

mod core;
mod integrations;

use std::sync::Arc;

use aion_http::{HttpClient, Policy};
use aion_node_sdk::Catalog;

/// The process-wide services the built-in nodes use, built once by whoever assembles the
/// catalog (the server, from the operator's configuration).
#[derive(Clone, Debug)]
pub struct NodeServices {
    /// The one outbound HTTP client, with the operator's address policy.
    pub http: Arc<HttpClient>,
}

impl NodeServices {
    /// Services with the default (safe) HTTP policy: only public addresses.
    pub fn with_default_policy() -> Result<Self, aion_http::Error> {
        Ok(NodeServices {
            http: Arc::new(HttpClient::new(Policy::default())?),
        })
    }
}

/// The catalog of every built-in node, with `http.request` running through `services.http`.
pub fn catalog_with(services: NodeServices) -> Catalog {
    build(Some(services.http))
}

/// The catalog of every built-in node, for checking documents and for tools. `http.request`
/// gets a client with the default policy ([`Policy::default`]: public addresses only, 30 s,
/// 10 MiB); if that client cannot be built, the node is listed as unavailable. Servers should
/// call [`catalog_with`] with the operator's policy instead.
pub fn catalog() -> Catalog {
    build(HttpClient::new(Policy::default()).ok().map(Arc::new))
}

fn build(http: Option<Arc<HttpClient>>) -> Catalog {
    let mut catalog = Catalog::new();
    for manifest in core::manifests()
        .into_iter()
        .chain(integrations::manifests(http))
    {
        // Built-in names are fixed literals checked by the tests below, so a failure here is a
        // programming error caught before release; skipping keeps the process alive regardless.
        if let Err(error) = catalog.register(manifest) {
            debug_assert!(false, "{error}");
        }
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_holds_every_core_node_of_the_dsl() {
        let catalog = catalog();
        for name in [
            "core.if",
            "core.switch",
            "core.merge",
            "core.foreach",
            "core.set",
            "core.transform",
            "core.wait",
            "core.signal",
            "core.subflow",
            "core.code",
            "core.fail",
            "core.log",
            "core.noop",
            "http.request",
            "slack.post_message",
        ] {
            let manifest = catalog
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(manifest.config_schema["type"], "object", "{name}");
            assert!(!manifest.description.is_empty(), "{name}");
        }
        assert_eq!(catalog.len(), 15);
    }

    #[test]
    fn config_schemas_refuse_unknown_fields() {
        for manifest in catalog().iter() {
            assert_eq!(
                manifest.config_schema["additionalProperties"],
                serde_json::Value::Bool(false),
                "{}",
                manifest.node_type
            );
        }
    }
}

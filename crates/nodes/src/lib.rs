//! Built-in nodes: the `core.*` control and data nodes of the flow document, plus the first
//! integrations. Each node is a config type (its JSON Schema is generated from it) and a manifest;
//! nodes that act on data implement `Execute`.
//!
//! This crate depends only on `aion-node-sdk` and `aion-types`: nodes never see the store, the
//! engine or the server.

mod core;
mod integrations;

use aion_node_sdk::Catalog;

/// The catalog of every built-in node.
pub fn catalog() -> Catalog {
    let mut catalog = Catalog::new();
    for manifest in core::manifests()
        .into_iter()
        .chain(integrations::manifests())
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

//! The node catalog: every node type the compiler and engine know, by type name.

use std::collections::BTreeMap;

use crate::Manifest;

/// Why a manifest could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Two manifests claim the same type name.
    #[error("node type `{0}` is registered twice")]
    Duplicate(String),
    /// A type name outside `namespace.action`.
    #[error("node type `{0}` is not of the form `namespace.action`")]
    InvalidType(String),
}

/// Manifests by type name, in sorted order so listings are stable.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    manifests: BTreeMap<String, Manifest>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a manifest, refusing duplicates and malformed type names.
    pub fn register(&mut self, manifest: Manifest) -> Result<(), CatalogError> {
        if !aion_types::id::is_node_type(&manifest.node_type) {
            return Err(CatalogError::InvalidType(manifest.node_type));
        }
        if self.manifests.contains_key(&manifest.node_type) {
            return Err(CatalogError::Duplicate(manifest.node_type));
        }
        self.manifests.insert(manifest.node_type.clone(), manifest);
        Ok(())
    }

    /// Looks a node type up.
    pub fn get(&self, node_type: &str) -> Option<&Manifest> {
        self.manifests.get(node_type)
    }

    /// Every manifest, sorted by type name.
    pub fn iter(&self) -> impl Iterator<Item = &Manifest> {
        self.manifests.values()
    }

    /// The number of node types.
    pub fn len(&self) -> usize {
        self.manifests.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty()
    }

    /// Type names close to `wanted`, for "did you mean" hints: same namespace or a small edit
    /// distance, best first.
    pub fn suggest(&self, wanted: &str) -> Option<&str> {
        self.manifests
            .keys()
            .map(|name| (aion_types::text::edit_distance(name, wanted), name))
            .filter(|(distance, name)| *distance <= 3.max(name.len() / 3))
            .min()
            .map(|(_, name)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, Execution, PortRule};

    fn manifest(node_type: &str) -> Manifest {
        Manifest {
            node_type: node_type.to_owned(),
            version: 1,
            title: "t".into(),
            description: "d".into(),
            category: Category::Utility,
            config_schema: serde_json::json!({"type": "object"}),
            ports: PortRule::out(),
            credential: None,
            side_effects: false,
            has_body: false,
            execution: Execution::Engine,
        }
    }

    #[test]
    fn registers_and_refuses_duplicates() {
        let mut catalog = Catalog::new();
        catalog.register(manifest("core.noop")).unwrap();
        assert_eq!(
            catalog.register(manifest("core.noop")),
            Err(CatalogError::Duplicate("core.noop".into()))
        );
        assert_eq!(
            catalog.register(manifest("noop")),
            Err(CatalogError::InvalidType("noop".into()))
        );
        assert_eq!(catalog.len(), 1);
    }

    #[test]
    fn suggests_close_names() {
        let mut catalog = Catalog::new();
        catalog.register(manifest("core.foreach")).unwrap();
        catalog.register(manifest("http.request")).unwrap();
        assert_eq!(catalog.suggest("core.for_each"), Some("core.foreach"));
        assert_eq!(catalog.suggest("http.requests"), Some("http.request"));
        assert_eq!(catalog.suggest("zzz.qqqqqqqq"), None);
    }
}

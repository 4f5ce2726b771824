//! The `core.*` nodes that DSL.md lists. Control-flow nodes are interpreted by the engine;
//! data nodes implement `Execute` here.

mod control;
mod data;

use aion_node_sdk::{Category, Execution, Manifest, PortRule, schema_of};

pub(crate) fn manifests() -> Vec<Manifest> {
    let mut all = control::manifests();
    all.extend(data::manifests());
    all
}

/// The common shape of a built-in manifest; fields that differ are set by the caller.
pub(crate) fn manifest<T: schemars::JsonSchema>(
    node_type: &str,
    title: &str,
    description: &str,
    category: Category,
    execution: Execution,
) -> Manifest {
    Manifest {
        node_type: node_type.to_owned(),
        version: 1,
        title: title.to_owned(),
        description: description.to_owned(),
        category,
        config_schema: schema_of::<T>(),
        ports: PortRule::out(),
        credential: None,
        side_effects: false,
        has_body: false,
        execution,
    }
}

/// The pattern every duration field of a config uses; the compiler gives a precise message.
pub(crate) const DURATION_PATTERN: &str = aion_types::duration::PATTERN;

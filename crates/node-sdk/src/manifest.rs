//! Node manifests: everything the compiler, the Studio and the catalog listing know about a node
//! type without running it.

use std::sync::Arc;

use serde::Serialize;

use crate::{DEFAULT_PORT, Execute};

/// Groups nodes in the Studio's palette and in `aion nodes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Branching, looping, waiting and other control flow.
    Flow,
    /// Building and reshaping data.
    Data,
    /// Talking to other systems.
    Integration,
    /// Running user code in a sandbox.
    Code,
    /// Observability helpers.
    Utility,
}

/// How a node's output ports are determined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PortRule {
    /// A fixed list.
    Fixed {
        /// The port names.
        ports: Vec<String>,
    },
    /// One port per element of a config array, named by a field of each element, plus fixed
    /// extra ports (`core.switch`: a port per case plus `default`).
    FromConfig {
        /// The config field holding the array (`cases`).
        array: String,
        /// The field of each element that names its port (`port`).
        name_field: String,
        /// Ports that always exist (`default`).
        extra: Vec<String>,
    },
}

impl PortRule {
    /// The single `out` port.
    pub fn out() -> Self {
        PortRule::Fixed {
            ports: vec![DEFAULT_PORT.to_owned()],
        }
    }

    /// The output ports for a given (unresolved) config. Names that are not literal strings are
    /// ignored: the compiler reports them through the config schema.
    pub fn ports(&self, config: &serde_json::Value) -> Vec<String> {
        match self {
            PortRule::Fixed { ports } => ports.clone(),
            PortRule::FromConfig {
                array,
                name_field,
                extra,
            } => {
                let mut ports: Vec<String> = config
                    .get(array)
                    .and_then(serde_json::Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|item| item.get(name_field)?.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                ports.extend(extra.iter().cloned());
                ports
            }
        }
    }
}

/// Who carries a node out.
#[derive(Clone)]
pub enum Execution {
    /// The engine interprets the node itself, because it changes the run's control flow
    /// (branching, loops, waits, signals, sub-flows, merges).
    Engine,
    /// The engine calls this implementation with the node's resolved config.
    Action(Arc<dyn Execute>),
    /// A pure function of the resolved config (see [`crate::Compute`]): run inline by the
    /// worker, in the run's own task.
    Pure(Arc<dyn crate::Compute>),
    /// The manifest is published so documents using the node can be checked, but this build
    /// cannot run it yet; the reason says what is missing. Running such a node fails the step
    /// with that reason instead of pretending.
    Unavailable(&'static str),
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Execution::Engine => f.write_str("Engine"),
            Execution::Action(_) => f.write_str("Action(..)"),
            Execution::Pure(_) => f.write_str("Pure(..)"),
            Execution::Unavailable(reason) => write!(f, "Unavailable({reason})"),
        }
    }
}

/// The description of one node type.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// `namespace.action`, e.g. `core.foreach`.
    #[serde(rename = "type")]
    pub node_type: String,
    /// Bumped when the config schema or behaviour changes incompatibly; cache keys include it.
    pub version: u32,
    /// A short human name for the palette.
    pub title: String,
    /// What the node does, in a sentence or two.
    pub description: String,
    /// The palette group.
    pub category: Category,
    /// The JSON Schema of the node's `config`, generated from a Rust type.
    pub config_schema: serde_json::Value,
    /// How output ports are determined.
    pub ports: PortRule,
    /// The kind of credential the node needs (`slack`, `http`, …), if any.
    pub credential: Option<CredentialRequirement>,
    /// Whether running the node changes the outside world. Such nodes get an idempotency key
    /// and are never served from the cache unless the flow asks for it.
    pub side_effects: bool,
    /// Whether the node may hold a nested `body` (only `core.foreach`).
    pub has_body: bool,
    /// Who carries the node out.
    #[serde(skip)]
    pub execution: Execution,
}

impl Manifest {
    /// A short word for listings: `engine`, `action`, `pure` or `unavailable`.
    pub fn execution_kind(&self) -> &'static str {
        match self.execution {
            Execution::Engine => "engine",
            Execution::Action(_) => "action",
            Execution::Pure(_) => "pure",
            Execution::Unavailable(_) => "unavailable",
        }
    }

    /// The manifest as the catalog publishes it (`aion nodes --format json`, `GET
    /// /api/v1/nodes`): every field, the ports a default config has, the execution kind, and
    /// the config schema when asked.
    pub fn describe(&self, with_schema: bool) -> serde_json::Value {
        let mut value = serde_json::json!({
            "type": self.node_type,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "ports": self.ports,
            "default_ports": self.ports.ports(&serde_json::Value::Null),
            "credential": self.credential,
            "side_effects": self.side_effects,
            "has_body": self.has_body,
            "execution": self.execution_kind(),
        });
        if with_schema {
            value["config_schema"] = self.config_schema.clone();
        }
        value
    }
}

/// A node's need for a credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialRequirement {
    /// The credential kind, matched against the vault entry's kind at run time.
    pub kind: String,
    /// Whether the node refuses to run without one.
    pub required: bool,
}

/// Generates the JSON Schema of a config type, as the manifest stores it.
pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    aion_types::schema::strip_optional_nulls(&mut schema);
    schema
}

//! What a node is: its manifest (type, version, config schema, ports, credential kind, side
//! effects) and the async [`Execute`] trait the engine calls.
//!
//! Like `axum-core`, this crate is small and changes rarely: every connector depends on it and
//! on nothing else of Aion. It holds no node implementations (those live in `aion-nodes`) and no
//! engine logic; it only fixes the contract between them.

mod catalog;
mod execute;
mod manifest;

pub use catalog::{Catalog, CatalogError};
pub use execute::{BoxFuture, Compute, Context, Execute, LogLevel, LogSink, NodeError, Output};
pub use manifest::{Category, CredentialRequirement, Execution, Manifest, PortRule, schema_of};

/// The port every node has unless its manifest says otherwise.
pub const DEFAULT_PORT: &str = "out";
/// The port a failed node sends its error on, when an edge leaves from it.
pub const ERROR_PORT: &str = "error";

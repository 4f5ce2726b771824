//! Flow documents: reading YAML or JSON with the source position of every value (`source`), and
//! the typed document model from which the published JSON Schema is generated (`model`).
//!
//! This crate does not judge whether a flow makes sense (unknown node types, cycles, bad
//! expressions): that is the compiler's job. It only reads text faithfully and says precisely
//! where the text is malformed.

pub mod model;
pub mod source;

//! Shared vocabulary of Aion: identifiers, durations and the registry of user-facing error codes.
//!
//! This crate does no I/O and knows nothing about documents, plans or storage; every other crate
//! may depend on it, so it stays small and dependency-light.

pub mod codes;
pub mod duration;
pub mod id;
pub mod schema;
pub mod text;
pub mod usage;

pub use codes::{Code, Severity};
pub use duration::Duration;
pub use usage::Usage;

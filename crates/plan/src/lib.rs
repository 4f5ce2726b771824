//! The execution plan: the compiled, versioned, serializable contract between the compiler and
//! the engine.
//!
//! A plan holds everything the engine needs and nothing it does not: steps in topological order
//! with resolved policies and ports, config templates whose expressions are referenced by id,
//! and a content hash. It holds no source positions, no Studio layout and no secrets, so the same
//! flow written in YAML or JSON, in any key order, gives the same plan and the same hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The plan format version; bumped when the engine could misread an older plan.
pub const FORMAT_VERSION: u32 = 1;

/// A compiled flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// `sha256:<hex>` of the canonical JSON of the plan with this field empty.
    pub hash: String,
    /// The flow's identity and labels.
    pub flow: FlowInfo,
    /// The JSON Schema of the run input, if the flow declares one.
    pub inputs: Option<serde_json::Value>,
    /// Defaults of the input's top-level properties, applied before validation.
    pub input_defaults: BTreeMap<String, serde_json::Value>,
    /// Triggers with their defaults filled in.
    pub triggers: Vec<Trigger>,
    /// Every expression of the flow; templates refer to them by index.
    pub expressions: Vec<Expression>,
    /// The top-level graph.
    pub graph: Graph,
    /// What a run returns.
    pub output: Option<Template>,
    /// The flow started when a run fails.
    pub on_error: Option<String>,
}

/// A flow's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    /// The flow id.
    pub id: String,
    /// The human name, the id when the document has none.
    pub name: String,
    /// The description, empty when absent.
    pub description: String,
    /// Tags, as written.
    pub tags: Vec<String>,
}

/// A trigger, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// A cron schedule in a time zone.
    Cron {
        /// The schedule as written.
        schedule: String,
        /// An IANA zone, `UTC` by default.
        timezone: String,
    },
    /// A webhook.
    Webhook {
        /// The path under `/hooks/{workspace}/`.
        path: String,
        /// `on_finish` or `immediately`.
        respond: String,
        /// The credential holding the signing secret.
        secret: Option<String>,
    },
}

/// An expression site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expression {
    /// The field's text, `{{ }}` included; the engine compiles it once per plan.
    pub source: String,
    /// The variable paths it reads (`steps.price.output`), for dependency tracking.
    pub reads: Vec<String>,
}

/// Index into [`Plan::expressions`].
pub type ExpressionId = u32;

/// A JSON value in which some strings are expressions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// The value with every expression string left as written.
    pub value: serde_json::Value,
    /// Where expressions sit, as JSON Pointers relative to `value`, sorted.
    pub bindings: Vec<Binding>,
}

impl Template {
    /// A template with no expressions.
    pub fn literal(value: serde_json::Value) -> Self {
        Template {
            value,
            bindings: Vec::new(),
        }
    }

    /// Whether the value needs no evaluation.
    pub fn is_literal(&self) -> bool {
        self.bindings.is_empty()
    }
}

/// One expression inside a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The JSON Pointer of the string within the template's value.
    pub pointer: String,
    /// The expression.
    pub expression: ExpressionId,
}

/// A graph: the top level of a flow, or the body of a loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// The steps, in document order.
    pub steps: Vec<Step>,
    /// Indexes into `steps`, in a topological order (ties broken by document order).
    pub order: Vec<u32>,
}

/// Index into [`Graph::steps`].
pub type StepIndex = u32;

/// One node, compiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The node id.
    pub id: String,
    /// The node type.
    pub node_type: String,
    /// The node type's manifest version.
    pub node_version: u32,
    /// The config, with manifest defaults filled in.
    pub config: Template,
    /// The credential name.
    pub credential: Option<String>,
    /// Whether the node changes the outside world.
    pub side_effects: bool,
    /// The node's output ports.
    pub ports: Vec<String>,
    /// Incoming edges.
    pub inputs: Vec<Link>,
    /// Outgoing edges.
    pub outputs: Vec<Link>,
    /// The retry policy, defaults resolved.
    pub retry: Retry,
    /// Per-attempt timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// The cache policy.
    pub cache: Option<Cache>,
    /// The loop body of a `core.foreach`.
    pub body: Option<Body>,
}

/// One end of an edge, seen from a step: the other step and the source port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The step at the other end.
    pub step: StepIndex,
    /// The source port of the edge.
    pub port: String,
}

/// A resolved retry policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Attempts in all; 1 means no retry.
    pub max_attempts: u32,
    /// `fixed` or `exponential`.
    pub backoff: Backoff,
    /// First delay in milliseconds.
    pub initial_ms: u64,
    /// Longest delay in milliseconds.
    pub max_ms: u64,
    /// Whether delays are randomised.
    pub jitter: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_attempts: 1,
            backoff: Backoff::Exponential,
            initial_ms: 1_000,
            max_ms: 300_000,
            jitter: true,
        }
    }
}

/// How retry delays grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Constant.
    Fixed,
    /// Doubling.
    Exponential,
}

/// A resolved cache policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// Entry lifetime in milliseconds.
    pub ttl_ms: u64,
    /// The key expression; the default key when absent.
    pub key: Option<ExpressionId>,
}

/// A compiled loop body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// The body's graph.
    pub graph: Graph,
    /// The value of one iteration.
    pub output: Option<Template>,
}

impl Plan {
    /// The paths of the plan's webhook triggers, in document order.
    pub fn webhook_paths(&self) -> Vec<String> {
        self.triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::Webhook { path, .. } => Some(path.clone()),
                Trigger::Cron { .. } => None,
            })
            .collect()
    }

    /// The webhook trigger serving `path`.
    pub fn webhook(&self, path: &str) -> Option<&Trigger> {
        self.triggers
            .iter()
            .find(|t| matches!(t, Trigger::Webhook { path: p, .. } if p == path))
    }

    /// Computes the content hash: SHA-256 over the canonical JSON of the plan with an empty
    /// `hash`. serde_json's default map is sorted, so object key order cannot change it.
    pub fn compute_hash(&self) -> String {
        let unhashed = Unhashed {
            format: self.format,
            hash: "",
            flow: &self.flow,
            inputs: &self.inputs,
            input_defaults: &self.input_defaults,
            triggers: &self.triggers,
            expressions: &self.expressions,
            graph: &self.graph,
            output: &self.output,
            on_error: &self.on_error,
        };
        content_hash(&[], &unhashed)
    }

    /// Sets [`Plan::hash`] from the content.
    pub fn seal(mut self) -> Self {
        self.hash = self.compute_hash();
        self
    }

    /// Whether the stored hash matches the content (a plan read back from storage).
    pub fn verify(&self) -> bool {
        self.hash == self.compute_hash()
    }
}

/// The plan with an empty `hash`, by reference: same field order and names as [`Plan`], so the
/// bytes are those of the plan itself with `"hash":""`, without cloning it.
#[derive(Serialize)]
struct Unhashed<'a> {
    format: u32,
    hash: &'a str,
    flow: &'a FlowInfo,
    inputs: &'a Option<serde_json::Value>,
    input_defaults: &'a BTreeMap<String, serde_json::Value>,
    triggers: &'a [Trigger],
    expressions: &'a [Expression],
    graph: &'a Graph,
    output: &'a Option<Template>,
    on_error: &'a Option<String>,
}

/// `sha256:<hex>` over `prefix` (raw byte strings, each followed by a zero byte) and the
/// canonical JSON of `value`. serde_json's map is sorted (the workspace does not enable
/// `preserve_order`), so key order cannot change it. Used for plan hashes and cache keys.
pub fn content_hash<T: Serialize + ?Sized>(prefix: &[&[u8]], value: &T) -> String {
    let mut hasher = HashWriter(Sha256::new());
    for part in prefix {
        hasher.0.update(part);
        hasher.0.update([0]);
    }
    // Writing into a digest cannot fail (and every map key is a string); an error would only
    // leave a prefix hashed, never panic.
    let _ = serde_json::to_writer(&mut hasher, value);
    let digest = hasher.0.finalize();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// Feeds serialized bytes straight into the digest.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            format: FORMAT_VERSION,
            hash: String::new(),
            flow: FlowInfo {
                id: "f".into(),
                name: "f".into(),
                description: String::new(),
                tags: vec![],
            },
            inputs: None,
            input_defaults: BTreeMap::new(),
            triggers: vec![],
            expressions: vec![],
            graph: Graph {
                steps: vec![],
                order: vec![],
            },
            output: None,
            on_error: None,
        }
    }

    #[test]
    fn hash_is_stable_and_verifiable() {
        let a = plan().seal();
        let b = plan().seal();
        assert_eq!(a.hash, b.hash);
        assert!(a.hash.starts_with("sha256:") && a.hash.len() == 71);
        assert!(a.verify());
        let mut changed = a.clone();
        changed.flow.name = "other".into();
        assert!(!changed.verify());
    }

    #[test]
    fn hash_covers_the_serialized_plan_with_an_empty_hash() {
        let plan = plan().seal();
        let mut cleared = plan.clone();
        cleared.hash = String::new();
        let digest = Sha256::digest(serde_json::to_vec(&cleared).unwrap());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(plan.hash, format!("sha256:{hex}"));
    }

    #[test]
    fn round_trips_through_json() {
        let a = plan().seal();
        let text = serde_json::to_string(&a).unwrap();
        let back: Plan = serde_json::from_str(&text).unwrap();
        assert_eq!(a, back);
        assert!(back.verify());
    }
}

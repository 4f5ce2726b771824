//! The typed model of a flow document (DSL version 1), from which the published JSON Schema is
//! generated.
//!
//! The model mirrors the document exactly and keeps every text as written (durations, cron
//! schedules, expressions stay strings): interpreting them is the compiler's job, so that a bad
//! value becomes a precise diagnostic instead of a deserialization failure.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The document versions this release reads.
pub const SUPPORTED_VERSIONS: &[u64] = &[1];

const FLOW_ID: &str = r"^[a-z0-9][a-z0-9-]{0,62}$";
const NODE_ID: &str = r"^[a-z_][a-z0-9_]{0,63}$";
const NODE_TYPE: &str = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$";
const PORT: &str = r"^[a-z0-9_-]{1,64}$";
const DURATION: &str = aion_types::duration::PATTERN;
const CREDENTIAL: &str = r"^[a-z0-9][a-z0-9_-]{0,62}$";

/// A flow: a graph of nodes with triggers, inputs and an output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Aion flow document", extend("$id" = "https://aion.dev/schema/flow/v1.json"))]
pub struct Flow {
    /// The document format version; this release reads version 1.
    #[schemars(extend("const" = 1))]
    pub aion: u64,
    /// A slug, unique in its workspace.
    #[schemars(regex(pattern = FLOW_ID))]
    pub id: String,
    /// A human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the flow does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels for search and grouping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub tags: Vec<String>,
    /// The JSON Schema of a run's input (an object); defaults apply before the run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
    /// What starts the flow besides a manual run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// The steps.
    #[schemars(length(min = 1))]
    pub nodes: Vec<Node>,
    /// Connections from a node's output port to another node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<Edge>,
    /// What a run returns; expressions may read any step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// A flow started with the failed run's summary when a run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
}

/// A trigger that starts runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A schedule.
    Cron {
        /// A cron expression with 5 fields (minute precision) or 6 (seconds first).
        schedule: String,
        /// An IANA time zone; `UTC` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// An HTTP endpoint at `POST /hooks/{workspace}/{path}`.
    Webhook {
        /// The path under the workspace's hook prefix.
        #[schemars(regex(pattern = r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$"), length(max = 128))]
        path: String,
        /// When the caller gets an answer.
        #[serde(default)]
        respond: Respond,
        /// The credential holding a Standard Webhooks signing secret; unsigned when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = CREDENTIAL))]
        secret: Option<String>,
    },
}

/// When a webhook caller gets its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Respond {
    /// With the flow's output once the run finishes.
    #[default]
    OnFinish,
    /// At once, 202 with the run id.
    Immediately,
}

/// One step of the flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique in the flow, including loop bodies.
    #[schemars(regex(pattern = NODE_ID))]
    pub id: String,
    /// The node type, `namespace.action`, from the node catalog.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = NODE_TYPE))]
    pub node_type: String,
    /// A label for the Studio; the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node's settings, checked against its config schema.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The name of a credential in the workspace vault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CREDENTIAL))]
    pub credential: Option<String>,
    /// How failed attempts are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// The longest one attempt may take, e.g. `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION))]
    pub timeout: Option<String>,
    /// Cross-run caching of the node's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// The nested graph of a `core.foreach`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Where the Studio draws the node; ignored by the compiler and the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// A canvas position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

/// The retry policy of a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Attempts in all, including the first; 1 means no retry.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: u32,
    /// How the delay between attempts grows.
    #[serde(default)]
    pub backoff: Backoff,
    /// The first delay, e.g. `500ms`; `1s` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION))]
    pub initial: Option<String>,
    /// The longest delay, e.g. `30s`; `5m` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION))]
    pub max: Option<String>,
    /// Whether delays are randomised (full jitter) to spread retries out.
    #[serde(default = "yes")]
    pub jitter: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// How retry delays grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// The same delay each time.
    Fixed,
    /// Doubling each time, up to `max`.
    #[default]
    Exponential,
}

/// The cache policy of a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// How long an entry stays valid, e.g. `5m`.
    #[schemars(regex(pattern = DURATION))]
    pub ttl: String,
    /// An expression for the cache key; by default a hash of the node's type, version and
    /// resolved config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The nested graph a `core.foreach` runs per item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The body's steps; their ids are unique in the whole flow.
    #[schemars(length(min = 1))]
    pub nodes: Vec<Node>,
    /// Connections between body nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<Edge>,
    /// The value of one iteration; `null` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

/// A connection from a node's output port to another node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The source node id.
    #[schemars(regex(pattern = NODE_ID))]
    pub from: String,
    /// The source port; `out` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = PORT))]
    pub port: Option<String>,
    /// The target node id.
    #[schemars(regex(pattern = NODE_ID))]
    pub to: String,
}

impl Edge {
    /// The source port, `out` when the edge does not name one.
    pub fn port(&self) -> &str {
        self.port.as_deref().unwrap_or("out")
    }
}

/// The flow to start when a run fails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnError {
    /// The id of a flow in the same workspace; it receives the failed run's summary as input.
    #[schemars(regex(pattern = FLOW_ID))]
    pub flow: String,
}

/// The JSON Schema of the flow document, generated from this model.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<Flow>().to_value();
    aion_types::schema::strip_optional_nulls(&mut schema);
    schema
}

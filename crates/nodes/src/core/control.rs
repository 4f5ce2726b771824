//! Control-flow nodes: branching, merging, loops, waits, signals and sub-flows. The engine
//! interprets these itself because they change which steps run and when; this module holds
//! their config types and manifests only.

use aion_node_sdk::{Category, Execution, Manifest, PortRule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DURATION_PATTERN, manifest};

/// Config of `core.if`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IfConfig {
    /// The condition; usually an expression. Truthy values take port `true`, others `false`.
    pub condition: serde_json::Value,
}

/// One case of `core.switch`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchCase {
    /// The output port this case activates.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$"))]
    pub port: String,
    /// The case matches when this is truthy; usually an expression.
    pub when: serde_json::Value,
}

/// Config of `core.switch`: the first matching case wins, otherwise port `default`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// The cases, tried in order.
    #[schemars(length(min = 1, max = 64))]
    pub cases: Vec<SwitchCase>,
}

/// How `core.merge` combines its predecessors' outputs.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// An object keyed by predecessor id; skipped predecessors are left out.
    #[default]
    Object,
    /// A list of the outputs of predecessors that ran, in edge order.
    Array,
    /// The output of the first predecessor (in edge order) that ran.
    First,
}

/// Config of `core.merge`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// How outputs are combined.
    #[serde(default)]
    pub mode: MergeMode,
}

fn default_concurrency() -> u32 {
    1
}

/// Config of `core.foreach`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForeachConfig {
    /// The list to iterate over; usually an expression.
    pub items: Vec<serde_json::Value>,
    /// How many items run at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,
}

/// Config of `core.wait`: exactly one of `duration` and `until`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["duration"]}, {"required": ["until"]}]))]
pub struct WaitConfig {
    /// How long to wait, e.g. `1h`.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub duration: Option<String>,
    /// An RFC 3339 instant to wait for; usually an expression.
    #[schemars(extend("format" = "date-time"))]
    pub until: Option<String>,
}

/// Config of `core.signal`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// The signal's name, as sent to `POST /runs/{id}/signals/{name}`.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,64}$"))]
    pub name: String,
    /// How long to wait before the step fails with kind `timeout`; forever when absent.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// A JSON Schema the signal's payload must match.
    pub schema: Option<serde_json::Map<String, serde_json::Value>>,
}

fn default_true() -> bool {
    true
}

/// Config of `core.subflow`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubflowConfig {
    /// The id of the flow to run, in the same workspace.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub flow: String,
    /// A fixed version; the latest when absent.
    #[schemars(range(min = 1))]
    pub version: Option<u64>,
    /// The child run's input.
    pub input: Option<serde_json::Value>,
    /// Whether the parent waits for the child's output.
    #[serde(default = "default_true")]
    pub wait: bool,
}

pub(crate) fn manifests() -> Vec<Manifest> {
    let mut if_node = manifest::<IfConfig>(
        "core.if",
        "If",
        "Sends the flow down port `true` or `false` depending on a condition.",
        Category::Flow,
        Execution::Engine,
    );
    if_node.ports = PortRule::Fixed {
        ports: vec!["true".into(), "false".into()],
    };
    let mut switch = manifest::<SwitchConfig>(
        "core.switch",
        "Switch",
        "Sends the flow down the port of the first case whose `when` holds, or `default`.",
        Category::Flow,
        Execution::Engine,
    );
    switch.ports = PortRule::FromConfig {
        array: "cases".into(),
        name_field: "port".into(),
        extra: vec!["default".into()],
    };
    let mut foreach = manifest::<ForeachConfig>(
        "core.foreach",
        "For each",
        "Runs its body once per item, with bounded concurrency, and outputs the body outputs \
         in item order.",
        Category::Flow,
        Execution::Engine,
    );
    foreach.has_body = true;
    vec![
        if_node,
        switch,
        manifest::<MergeConfig>(
            "core.merge",
            "Merge",
            "Waits for every incoming branch (ran or skipped) and combines their outputs.",
            Category::Flow,
            Execution::Engine,
        ),
        foreach,
        manifest::<WaitConfig>(
            "core.wait",
            "Wait",
            "Pauses the run durably for a duration or until an instant; survives restarts.",
            Category::Flow,
            Execution::Engine,
        ),
        manifest::<SignalConfig>(
            "core.signal",
            "Wait for signal",
            "Pauses the run until a named signal (an approval, a callback) arrives, or times out.",
            Category::Flow,
            Execution::Engine,
        ),
        manifest::<SubflowConfig>(
            "core.subflow",
            "Sub-flow",
            "Runs another flow of the workspace as a child run and outputs its result.",
            Category::Flow,
            Execution::Engine,
        ),
    ]
}

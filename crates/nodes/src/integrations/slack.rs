//! `slack.post_message`: posts a message with Slack's `chat.postMessage` Web API method.

use aion_node_sdk::{Category, CredentialRequirement, Execution, Manifest};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::core::manifest as base;

/// Config of `slack.post_message`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageConfig {
    /// A channel id (`C0123…`) or name (`#alerts`).
    #[schemars(length(min = 1, max = 256))]
    pub channel: String,
    /// The message text (Slack mrkdwn).
    #[schemars(length(min = 1, max = 40000))]
    pub text: String,
    /// Block Kit blocks.
    pub blocks: Option<Vec<serde_json::Value>>,
    /// Reply in this thread.
    pub thread_ts: Option<String>,
}

pub(crate) fn manifest() -> Manifest {
    let mut manifest = base::<PostMessageConfig>(
        "slack.post_message",
        "Slack: post message",
        "Posts a message to a Slack channel or thread with a bot token.",
        Category::Integration,
        Execution::Unavailable("Slack connector execution arrives with the connectors issue"),
    );
    manifest.side_effects = true;
    manifest.credential = Some(CredentialRequirement {
        kind: "slack".into(),
        required: true,
    });
    manifest
}

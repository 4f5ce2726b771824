//! Data and utility nodes: `core.set`, `core.transform`, `core.code`, `core.fail`, `core.log`
//! and `core.noop`. The ones that only need their resolved config are pure ([`Compute`]) and run
//! here; `core.transform` runs jq, which the engine owns, so the engine runs it.

use std::sync::Arc;

use aion_node_sdk::{Category, Compute, Context, Execution, LogLevel, Manifest, NodeError, Output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::manifest;

/// Config of `core.set`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// The value to output; any JSON, with expressions anywhere inside.
    pub value: serde_json::Value,
}

/// Config of `core.transform`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// The JSON the program reads; the whole scope (`inputs`, `steps`, …) when absent.
    pub input: Option<serde_json::Value>,
    /// A jq program.
    #[schemars(length(min = 1, max = 65536))]
    pub program: String,
}

/// The languages `core.code` can run.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeLanguage {
    /// JavaScript (ES2023) in a sandbox without modules, network or file access.
    Javascript,
}

/// Config of `core.code`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeConfig {
    /// The language of `code`.
    pub language: CodeLanguage,
    /// The source; its default export (or last expression) is the output.
    #[schemars(length(min = 1, max = 262144))]
    pub code: String,
    /// The value the code sees as `input`.
    pub input: Option<serde_json::Value>,
}

/// Config of `core.fail`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailConfig {
    /// The error message.
    #[schemars(length(min = 1))]
    pub message: String,
    /// A machine-readable kind for the error; `flow_failed` when absent.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]{0,63}$"))]
    pub kind: Option<String>,
    /// Structured details attached to the error.
    pub details: Option<serde_json::Value>,
}

/// Config of `core.log`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The line to record in the run history.
    pub message: String,
    /// Its severity.
    #[serde(default = "default_level")]
    pub level: LogLevel,
    /// Structured fields recorded with the line.
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

fn default_level() -> LogLevel {
    LogLevel::Info
}

/// Config of `core.noop`: nothing.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopConfig {}

/// Reads a resolved config into its type, as a permanent error when it does not fit (the
/// compiler checks literals, but expressions are only known at run time).
fn read_config<T: serde::de::DeserializeOwned>(ctx: &Context<'_>) -> Result<T, NodeError> {
    serde_json::from_value(ctx.config.clone()).map_err(|error| {
        NodeError::permanent(
            "invalid_config",
            format!("the resolved config does not fit the node: {error}"),
        )
    })
}

#[derive(Debug)]
struct Set;

impl Compute for Set {
    fn compute(&self, ctx: Context<'_>) -> Result<Output, NodeError> {
        let config: SetConfig = read_config(&ctx)?;
        Ok(Output::new(config.value))
    }
}

#[derive(Debug)]
struct Fail;

impl Compute for Fail {
    fn compute(&self, ctx: Context<'_>) -> Result<Output, NodeError> {
        let config: FailConfig = read_config(&ctx)?;
        let error = NodeError::permanent(
            config.kind.unwrap_or_else(|| "flow_failed".to_owned()),
            config.message,
        );
        Err(match config.details {
            Some(details) => error.with_details(details),
            None => error,
        })
    }
}

#[derive(Debug)]
struct Log;

impl Compute for Log {
    fn compute(&self, ctx: Context<'_>) -> Result<Output, NodeError> {
        let config: LogConfig = read_config(&ctx)?;
        let fields = config.fields.map(serde_json::Value::Object);
        ctx.log.log(config.level, &config.message, fields.as_ref());
        Ok(Output::new(serde_json::json!({
            "level": config.level,
            "message": config.message,
        })))
    }
}

#[derive(Debug)]
struct Noop;

impl Compute for Noop {
    fn compute(&self, _ctx: Context<'_>) -> Result<Output, NodeError> {
        Ok(Output::new(serde_json::Value::Null))
    }
}

pub(crate) fn manifests() -> Vec<Manifest> {
    vec![
        manifest::<SetConfig>(
            "core.set",
            "Set",
            "Builds a value from literals and expressions and outputs it.",
            Category::Data,
            Execution::Pure(Arc::new(Set)),
        ),
        manifest::<TransformConfig>(
            "core.transform",
            "Transform (jq)",
            "Reshapes JSON with a jq program, over `input` or over the whole run scope.",
            Category::Data,
            Execution::Engine,
        ),
        manifest::<CodeConfig>(
            "core.code",
            "Code",
            "Runs a short JavaScript function in a sandbox bounded in time and memory.",
            Category::Code,
            Execution::Unavailable("the JavaScript sandbox is not part of this build yet"),
        ),
        manifest::<FailConfig>(
            "core.fail",
            "Fail",
            "Fails the step with a message and kind; routed to an error edge or failing the run.",
            Category::Utility,
            Execution::Pure(Arc::new(Fail)),
        ),
        manifest::<LogConfig>(
            "core.log",
            "Log",
            "Writes a line, with optional fields, into the run history.",
            Category::Utility,
            Execution::Pure(Arc::new(Log)),
        ),
        manifest::<NoopConfig>(
            "core.noop",
            "No-op",
            "Does nothing and outputs null; useful as a join point or placeholder branch.",
            Category::Utility,
            Execution::Pure(Arc::new(Noop)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogLevel, String)>>);

    impl aion_node_sdk::LogSink for Lines {
        fn log(&self, level: LogLevel, message: &str, _fields: Option<&serde_json::Value>) {
            self.0.lock().unwrap().push((level, message.to_owned()));
        }
    }

    fn run(
        node: &dyn Compute,
        config: serde_json::Value,
        sink: &Lines,
    ) -> Result<Output, NodeError> {
        let ctx = Context {
            run_id: "r",
            step_id: "s",
            attempt: 1,
            idempotency_key: "r/s",
            config: &config,
            credential: None,
            log: sink,
            traceparent: None,
        };
        node.compute(ctx)
    }

    #[test]
    fn set_outputs_its_value() {
        let out = run(
            &Set,
            serde_json::json!({"value": {"a": [1, 2]}}),
            &Lines::default(),
        );
        assert_eq!(out.unwrap().value, serde_json::json!({"a": [1, 2]}));
    }

    #[test]
    fn fail_returns_a_permanent_error_with_kind() {
        let error = run(
            &Fail,
            serde_json::json!({"message": "bad", "kind": "invalid_order"}),
            &Lines::default(),
        )
        .unwrap_err();
        assert_eq!(error.kind, "invalid_order");
        assert!(!error.retryable);
        let error = run(
            &Fail,
            serde_json::json!({"message": "x"}),
            &Lines::default(),
        )
        .unwrap_err();
        assert_eq!(error.kind, "flow_failed");
    }

    #[test]
    fn log_writes_to_the_sink() {
        let sink = Lines::default();
        run(
            &Log,
            serde_json::json!({"message": "hi", "level": "warn"}),
            &sink,
        )
        .unwrap();
        assert_eq!(
            sink.0.lock().unwrap().as_slice(),
            &[(LogLevel::Warn, "hi".to_owned())]
        );
    }

    #[test]
    fn resolved_config_that_does_not_fit_is_a_permanent_error() {
        let error = run(&Set, serde_json::json!({"nope": 1}), &Lines::default()).unwrap_err();
        assert_eq!(error.kind, "invalid_config");
        let error = run(&Noop, serde_json::json!({}), &Lines::default());
        assert_eq!(error.unwrap().value, serde_json::Value::Null);
    }
}

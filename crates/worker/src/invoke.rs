//! One step attempt: the cache, the node's implementation (or the engine's jq for
//! `core.transform`) under the step's timeout, panics caught, the output size bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aion_engine::{CacheRequest, StepError};
use aion_node_sdk::{Context, Execution, LogLevel, LogSink};
use aion_store::Usage;
use aion_store::{CachePut, LogLine};
use serde_json::Value;

use crate::{Clock, Runtime};

/// Collects a step's log lines for its history row.
#[derive(Debug)]
pub(crate) struct Logs {
    clock: Arc<dyn Clock>,
    lines: Mutex<Vec<LogLine>>,
    usage: Mutex<Usage>,
}

impl Logs {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Logs {
            clock,
            lines: Mutex::new(Vec::new()),
            usage: Mutex::new(Usage::ZERO),
        })
    }

    pub(crate) fn take(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// What the attempt reported consuming, and forgets it.
    pub(crate) fn take_usage(&self) -> Usage {
        self.usage
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }
}

impl LogSink for Logs {
    fn log(&self, level: LogLevel, message: &str, fields: Option<&Value>) {
        let level = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(LogLine {
                at_ms: self.clock.now_ms(),
                level: level.to_owned(),
                message: message.to_owned(),
                fields: fields.cloned().unwrap_or(Value::Null),
            });
        }
    }

    fn usage(&self, usage: Usage) {
        if let Ok(mut total) = self.usage.lock() {
            *total = total.plus(usage);
        }
    }
}

/// What the worker needs to run one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub workspace: String,
    pub run_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub node_type: String,
    pub config: Value,
    pub idempotency_key: String,
    pub timeout_ms: Option<u64>,
    pub cache: Option<CacheRequest>,
    /// The W3C `traceparent` for this attempt's span, when the run has a trace id.
    pub traceparent: Option<String>,
}

/// The result of one attempt.
#[derive(Debug)]
pub(crate) struct Done {
    pub result: Result<(Value, Option<String>), StepError>,
    pub cache_hit: bool,
    pub cache_put: Option<CachePut>,
    /// What the attempt consumed from metered services.
    pub usage: Usage,
}

/// Runs one attempt to its end; never panics, whatever the node does.
pub(crate) async fn run(rt: Arc<Runtime>, attempt: Attempt, logs: Arc<Logs>) -> Done {
    if let Some(cache) = &attempt.cache
        && let Ok(Some(entry)) = rt
            .store
            .cache_get(&attempt.workspace, &cache.key, rt.now_ms())
            .await
        && let Ok(value) = serde_json::from_slice::<Value>(&entry.value)
    {
        return Done {
            result: Ok((value, None)),
            cache_hit: true,
            cache_put: None,
            usage: Usage::ZERO,
        };
    }
    let timeout = attempt.timeout_ms.map(Duration::from_millis);
    let result = execute(&rt, &attempt, Arc::clone(&logs), timeout).await;
    let result = result.and_then(|out| bounded(&rt, out));
    let cache_put = match (&attempt.cache, &result) {
        (Some(cache), Ok((value, _))) => serde_json::to_vec(value).ok().map(|bytes| CachePut {
            key: cache.key.clone(),
            value: bytes,
            expires_ms: rt
                .now_ms()
                .saturating_add(i64::try_from(cache.ttl_ms).unwrap_or(i64::MAX)),
        }),
        _ => None,
    };
    Done {
        result,
        cache_hit: false,
        cache_put,
        usage: logs.take_usage(),
    }
}

/// Fails an output bigger than the configured limit.
fn bounded(
    rt: &Runtime,
    (value, port): (Value, Option<String>),
) -> Result<(Value, Option<String>), StepError> {
    let size = json_size(&value);
    if size > rt.config.max_output_bytes {
        Err(StepError::permanent(
            "output_too_large",
            format!(
                "the output is {size} bytes, more than the limit of {} bytes",
                rt.config.max_output_bytes
            ),
        ))
    } else {
        Ok((value, port))
    }
}

/// The length of `value` serialized as JSON, without building the text.
fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// Runs one attempt of a pure node in the caller's task: no cache lookup (the caller runs
/// only uncached steps this way), panics caught, the output size bounded.
pub(crate) fn compute(
    rt: &Runtime,
    node: &dyn aion_node_sdk::Compute,
    attempt: &Attempt,
    logs: &Logs,
) -> Done {
    Done {
        result: compute_unbounded(node, attempt, logs).and_then(|out| bounded(rt, out)),
        cache_hit: false,
        cache_put: None,
        usage: logs.take_usage(),
    }
}

/// A pure node's result with panics caught; the caller bounds its size.
fn compute_unbounded(
    node: &dyn aion_node_sdk::Compute,
    attempt: &Attempt,
    logs: &Logs,
) -> Result<(Value, Option<String>), StepError> {
    let ctx = Context {
        run_id: &attempt.run_id,
        step_id: &attempt.step_id,
        attempt: attempt.attempt,
        idempotency_key: &attempt.idempotency_key,
        config: &attempt.config,
        credential: None,
        log: logs,
        traceparent: attempt.traceparent.as_deref(),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.compute(ctx))) {
        Ok(result) => result.map(|out| (out.value, out.port)).map_err(step_error),
        Err(payload) => Err(StepError::permanent("panic", panic_message(&*payload))),
    }
}

/// A node's error as the engine records it.
fn step_error(e: aion_node_sdk::NodeError) -> StepError {
    StepError {
        kind: e.kind,
        message: e.message,
        retryable: e.retryable,
        details: e.details,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the node panicked".to_owned())
}

async fn execute(
    rt: &Arc<Runtime>,
    attempt: &Attempt,
    logs: Arc<Logs>,
    timeout: Option<Duration>,
) -> Result<(Value, Option<String>), StepError> {
    let Some(manifest) = rt.catalog.get(&attempt.node_type) else {
        return Err(StepError::permanent(
            "unknown_node",
            format!("node type `{}` is not in this build", attempt.node_type),
        ));
    };
    let handle = match &manifest.execution {
        Execution::Unavailable(reason) => {
            return Err(StepError::permanent("unavailable", *reason));
        }
        Execution::Engine if attempt.node_type == "core.transform" => {
            let engine = Arc::clone(&rt.engine);
            let config = attempt.config.clone();
            tokio::task::spawn_blocking(move || transform(&engine, &config))
        }
        Execution::Engine => {
            return Err(StepError::permanent(
                "unavailable",
                format!("`{}` is interpreted by the engine", attempt.node_type),
            ));
        }
        Execution::Pure(node) => {
            // A cached pure step: its cache lookup already happened; compute it here.
            let node = Arc::clone(node);
            let attempt = attempt.clone();
            tokio::spawn(async move { compute_unbounded(&*node, &attempt, &logs) })
        }
        Execution::Action(node) => {
            let node = Arc::clone(node);
            let attempt = attempt.clone();
            tokio::spawn(async move {
                let log: &dyn LogSink = &*logs;
                let ctx = Context {
                    run_id: &attempt.run_id,
                    step_id: &attempt.step_id,
                    attempt: attempt.attempt,
                    idempotency_key: &attempt.idempotency_key,
                    config: &attempt.config,
                    credential: None,
                    log,
                    traceparent: attempt.traceparent.as_deref(),
                };
                let result = node.execute(ctx).await;
                if crate::failpoints::hit(crate::failpoints::MID_NODE).is_err() {
                    return Err(StepError::retryable(
                        "injected_fault",
                        format!("injected fault at `{}`", crate::failpoints::MID_NODE),
                    ));
                }
                result.map(|out| (out.value, out.port)).map_err(step_error)
            })
        }
    };
    let abort = handle.abort_handle();
    let joined = match timeout {
        Some(limit) => match tokio::time::timeout(limit, handle).await {
            Ok(joined) => joined,
            Err(_) => {
                abort.abort();
                return Err(StepError::retryable(
                    "timeout",
                    format!("the attempt took longer than {} ms", limit.as_millis()),
                ));
            }
        },
        None => handle.await,
    };
    match joined {
        Ok(result) => result,
        Err(error) if error.is_panic() => {
            let payload = error.into_panic();
            Err(StepError::permanent("panic", panic_message(&*payload)))
        }
        Err(_) => Err(StepError::retryable(
            "cancelled",
            "the attempt was cancelled",
        )),
    }
}

fn transform(
    engine: &aion_expr::Engine,
    config: &Value,
) -> Result<(Value, Option<String>), StepError> {
    let program = config.get("program").and_then(Value::as_str).unwrap_or(".");
    let input = config.get("input").cloned().unwrap_or(Value::Null);
    let program = engine
        .compile_jq(program)
        .map_err(|e| StepError::permanent("jq", e.to_string()))?;
    engine
        .run_jq(&program, input)
        .map(|value| (value, None))
        .map_err(|e| StepError::permanent("jq", e.to_string()))
}

//! Trace context of runs and steps (W3C Trace Context): a run's spans belong to the trace id
//! recorded on its row; span ids are derived from the run id and the step's display key, so
//! every process (and every replay) names a step's span the same way without storing it. The
//! `traceparent` a node sends on and the span exported when the step ends share the span id.
//!
//! Spans are handed to a [`SpanSink`] after the commit that made their end durable; the server
//! exports them over OTLP. Without a sink nothing is built.

use std::collections::BTreeMap;

use aion_engine::{StepRecord, StepStatus};
use aion_store::{Run, RunStatus, Usage};

/// One finished span: a run or a step instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// Non-zero.
    pub span_id: u64,
    /// The run's span, for a step; none for a run.
    pub parent_span_id: Option<u64>,
    /// `run <flow>` or `step <display key>`.
    pub name: String,
    /// Unix ms.
    pub start_ms: i64,
    /// Unix ms.
    pub end_ms: i64,
    /// `None` when it succeeded (or was skipped); the error text when it failed.
    pub error: Option<String>,
    /// Attributes (`aion.run_id`, `aion.flow_id`, `aion.step`, ...).
    pub attributes: BTreeMap<&'static str, Attribute>,
}

/// A span attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// Text.
    Str(String),
    /// An integer.
    Int(i64),
    /// A flag.
    Bool(bool),
}

/// Receives finished spans; it must not block (exporters queue and send in the background).
pub trait SpanSink: Send + Sync + std::fmt::Debug {
    /// One span.
    fn export(&self, span: SpanRecord);
}

/// FNV-1a over the parts, with a separator byte between them; never zero.
fn span_id(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    if hash == 0 { 1 } else { hash }
}

/// The span id of a run.
pub fn run_span_id(run_id: &str) -> u64 {
    span_id(&["run", run_id])
}

/// The span id of a step instance of a run (all its attempts).
pub fn step_span_id(run_id: &str, step: &str) -> u64 {
    span_id(&["step", run_id, step])
}

/// Whether `trace_id` is a valid W3C trace id: 32 lowercase hex digits, not all zero.
pub fn is_trace_id(trace_id: &str) -> bool {
    trace_id.len() == 32
        && trace_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && trace_id.bytes().any(|b| b != b'0')
}

/// The `traceparent` header of a span (sampled), or `None` for an invalid trace id.
pub fn traceparent(trace_id: &str, span_id: u64) -> Option<String> {
    is_trace_id(trace_id).then(|| format!("00-{trace_id}-{span_id:016x}-01"))
}

/// Adds the usage attributes of a span when something was consumed.
pub(crate) fn usage_attributes(attributes: &mut BTreeMap<&'static str, Attribute>, usage: Usage) {
    if usage.is_zero() {
        return;
    }
    let int = |n: u64| Attribute::Int(i64::try_from(n).unwrap_or(i64::MAX));
    attributes.insert("gen_ai.usage.input_tokens", int(usage.input_tokens));
    attributes.insert("gen_ai.usage.output_tokens", int(usage.output_tokens));
    attributes.insert("aion.cost_micro_usd", int(usage.cost_micro_usd));
}

/// The span of a finished step instance of `run`, when the run has a valid trace id.
pub(crate) fn step_span(run: &Run, record: &StepRecord) -> Option<SpanRecord> {
    let trace_id = run.trace_id.as_deref().filter(|t| is_trace_id(t))?;
    let end_ms = record.finished_at_ms?;
    let start_ms = record.started_at_ms.unwrap_or(end_ms);
    let mut attributes = BTreeMap::new();
    attributes.insert("aion.run_id", Attribute::Str(run.id.clone()));
    attributes.insert("aion.step", Attribute::Str(record.display.clone()));
    attributes.insert("aion.node_id", Attribute::Str(record.id.clone()));
    attributes.insert("aion.attempts", Attribute::Int(i64::from(record.attempts)));
    attributes.insert("aion.cache_hit", Attribute::Bool(record.cache_hit));
    let status = match record.status {
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
        _ => "cancelled",
    };
    attributes.insert("aion.status", Attribute::Str(status.to_owned()));
    usage_attributes(&mut attributes, record.usage);
    let error = (record.status == StepStatus::Failed).then(|| {
        record.error.as_ref().map_or_else(
            || "failed".to_owned(),
            |e| format!("{}: {}", e.kind, e.message),
        )
    });
    Some(SpanRecord {
        trace_id: trace_id.to_owned(),
        span_id: step_span_id(&run.id, &record.display),
        parent_span_id: Some(run_span_id(&run.id)),
        name: format!("step {}", record.display),
        start_ms,
        end_ms: end_ms.max(start_ms),
        error,
        attributes,
    })
}

/// The span of a finished run, when it has a valid trace id.
pub(crate) fn run_span(run: &Run) -> Option<SpanRecord> {
    let trace_id = run.trace_id.as_deref().filter(|t| is_trace_id(t))?;
    let end_ms = run.finished_ms?;
    let start_ms = run.started_ms.unwrap_or(run.created_ms).min(end_ms);
    let mut attributes = BTreeMap::new();
    attributes.insert("aion.run_id", Attribute::Str(run.id.clone()));
    attributes.insert("aion.workspace", Attribute::Str(run.workspace.clone()));
    attributes.insert("aion.flow_id", Attribute::Str(run.flow_id.clone()));
    attributes.insert(
        "aion.flow_version",
        Attribute::Int(i64::from(run.flow_version)),
    );
    attributes.insert(
        "aion.status",
        Attribute::Str(run.status.as_str().to_owned()),
    );
    attributes.insert(
        "aion.queued_ms",
        Attribute::Int(start_ms.saturating_sub(run.created_ms)),
    );
    usage_attributes(&mut attributes, run.usage);
    let error = match run.status {
        RunStatus::Succeeded => None,
        status => Some(
            run.error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(|m| m.as_str())
                .map_or_else(|| format!("run {status}"), str::to_owned),
        ),
    };
    Some(SpanRecord {
        trace_id: trace_id.to_owned(),
        span_id: run_span_id(&run.id),
        parent_span_id: None,
        name: format!("run {}", run.flow_id),
        start_ms,
        end_ms,
        error,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_are_stable_distinct_and_non_zero() {
        assert_eq!(run_span_id("r1"), run_span_id("r1"));
        assert_ne!(run_span_id("r1"), run_span_id("r2"));
        assert_ne!(step_span_id("r1", "a"), step_span_id("r1", "b"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(step_span_id("ab", "c"), step_span_id("a", "bc"));
        assert_ne!(run_span_id(""), 0);
    }

    #[test]
    fn traceparent_needs_a_valid_trace_id() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            traceparent(id, 0x00f0_67aa_0ba9_02b7).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(traceparent(&"0".repeat(32), 1), None);
        assert_eq!(traceparent("4BF92F3577B34DA6A3CE929D0E0E4736", 1), None);
        assert_eq!(traceparent("abc", 1), None);
    }
}

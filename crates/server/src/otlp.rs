//! OTLP trace export: the worker hands over run and step spans as they finish; a task batches
//! them and posts them to the collector's `/v1/traces` as OTLP/HTTP JSON (the protobuf
//! schema's JSON mapping: hex ids, integer enums, 64-bit integers as strings), which every
//! OTLP/HTTP receiver accepts.
//!
//! The spans are built from what the run journaled (see `aion_worker::trace`), not by an SDK
//! that times live code: a run may outlive the process that started it, so its spans must be
//! reconstructible by whichever process finishes it. The queue is bounded: when the collector
//! is slow or down, spans are dropped and counted (`aion_spans_dropped_total`), never the
//! run's progress.

use std::sync::Arc;
use std::time::Duration;

use aion_worker::trace::{Attribute, SpanRecord, SpanSink};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Spans waiting for export at most; past it new spans are dropped.
const QUEUE: usize = 8192;
/// Spans per request at most.
const BATCH: usize = 512;
/// How long a span may wait for companions before its batch is sent.
const LINGER: Duration = Duration::from_millis(500);

/// The sink the worker writes to.
#[derive(Debug)]
pub(crate) struct OtlpSink {
    tx: mpsc::Sender<SpanRecord>,
}

impl SpanSink for OtlpSink {
    fn export(&self, span: SpanRecord) {
        if self.tx.try_send(span).is_err() {
            metrics::counter!("aion_spans_dropped_total").increment(1);
        }
    }
}

/// The running exporter task; [`Exporter::finish`] sends what is queued and ends it.
#[derive(Debug)]
pub(crate) struct Exporter {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Sends the queued spans (waiting at most `grace`) and stops.
    pub(crate) async fn finish(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

/// Starts the exporter: the sink for the runtime and the task that sends.
pub(crate) fn start(endpoint: &str) -> Result<(Arc<OtlpSink>, Exporter), String> {
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    // The collector is the operator's choice, often on loopback or a private network.
    let policy = aion_http::Policy {
        allow_loopback: true,
        allow_private: true,
        max_redirects: 0,
        timeout: Duration::from_secs(10),
        ..aion_http::Policy::default()
    };
    let client = aion_http::HttpClient::new(policy).map_err(|e| e.to_string())?;
    let url = format!("{endpoint}/v1/traces");
    let (tx, mut rx) = mpsc::channel::<SpanRecord>(QUEUE);
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let first = tokio::select! {
                span = rx.recv() => span,
                _ = stopping.wait_for(|s| *s) => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            let deadline = tokio::time::sleep(LINGER);
            tokio::pin!(deadline);
            while batch.len() < BATCH {
                tokio::select! {
                    span = rx.recv() => match span {
                        Some(span) => batch.push(span),
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
            send(&client, &url, &mut batch).await;
        }
        // Shutting down: what is queued goes out in a last round.
        while let Ok(span) = rx.try_recv() {
            batch.push(span);
            if batch.len() == BATCH {
                send(&client, &url, &mut batch).await;
            }
        }
        send(&client, &url, &mut batch).await;
    });
    Ok((Arc::new(OtlpSink { tx }), Exporter { stop, task }))
}

/// Posts a batch (and empties it); a failure is logged and counted, the spans are dropped.
async fn send(client: &aion_http::HttpClient, url: &str, batch: &mut Vec<SpanRecord>) {
    if batch.is_empty() {
        return;
    }
    let body = request_body(batch);
    let count = batch.len() as u64;
    batch.clear();
    let request = match client.request(aion_http::Method::POST, url) {
        Ok(request) => request
            .header("content-type", "application/json")
            .body(body.to_string()),
        Err(error) => {
            tracing::warn!(%error, "cannot export spans");
            return;
        }
    };
    match client.send_with_limit(request, 64 * 1024).await {
        Ok(response) if response.status.is_success() => {
            metrics::counter!("aion_spans_exported_total").increment(count);
        }
        Ok(response) => {
            metrics::counter!("aion_spans_dropped_total").increment(count);
            tracing::warn!(
                status = response.status.as_u16(),
                "the OTLP collector refused spans"
            );
        }
        Err(error) => {
            metrics::counter!("aion_spans_dropped_total").increment(count);
            tracing::warn!(%error, "cannot export spans to the OTLP collector");
        }
    }
}

/// An `ExportTraceServiceRequest` in OTLP's JSON encoding.
fn request_body(spans: &[SpanRecord]) -> Value {
    let spans: Vec<Value> = spans.iter().map(span_json).collect();
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                attribute("service.name", &Attribute::Str("aion".to_owned())),
                attribute("service.version", &Attribute::Str(env!("CARGO_PKG_VERSION").to_owned())),
            ]},
            "scopeSpans": [{
                "scope": { "name": "aion", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }]
    })
}

/// Unix ms as OTLP's nanosecond string.
fn nanos(ms: i64) -> String {
    (i128::from(ms.max(0)) * 1_000_000).to_string()
}

fn span_json(span: &SpanRecord) -> Value {
    // SPAN_KIND_SERVER for a run (it serves a trigger), SPAN_KIND_INTERNAL for a step.
    let kind = if span.parent_span_id.is_some() { 1 } else { 2 };
    // STATUS_CODE_OK = 1, STATUS_CODE_ERROR = 2.
    let status = match &span.error {
        None => json!({ "code": 1 }),
        Some(message) => json!({ "code": 2, "message": message }),
    };
    let mut out = json!({
        "traceId": span.trace_id,
        "spanId": format!("{:016x}", span.span_id),
        "name": span.name,
        "kind": kind,
        "startTimeUnixNano": nanos(span.start_ms),
        "endTimeUnixNano": nanos(span.end_ms),
        "attributes": span.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        "status": status,
    });
    if let Some(parent) = span.parent_span_id {
        out["parentSpanId"] = json!(format!("{parent:016x}"));
    }
    out
}

fn attribute(key: &str, value: &Attribute) -> Value {
    let value = match value {
        Attribute::Str(s) => json!({ "stringValue": s }),
        Attribute::Int(n) => json!({ "intValue": n.to_string() }),
        Attribute::Bool(b) => json!({ "boolValue": b }),
    };
    json!({ "key": key, "value": value })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn spans_follow_the_otlp_json_mapping() {
        let mut attributes = BTreeMap::new();
        attributes.insert("aion.attempts", Attribute::Int(2));
        attributes.insert("aion.cache_hit", Attribute::Bool(false));
        let span = SpanRecord {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            span_id: 0xab,
            parent_span_id: Some(0x01),
            name: "step a".to_owned(),
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_000_005,
            error: Some("http_status: 500".to_owned()),
            attributes,
        };
        let body = request_body(&[span]);
        let out = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(out["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(out["spanId"], "00000000000000ab");
        assert_eq!(out["parentSpanId"], "0000000000000001");
        assert_eq!(out["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(out["endTimeUnixNano"], "1700000000005000000");
        assert_eq!(out["kind"], 1);
        assert_eq!(
            out["status"],
            json!({ "code": 2, "message": "http_status: 500" })
        );
        assert_eq!(
            out["attributes"][0],
            json!({ "key": "aion.attempts", "value": { "intValue": "2" } })
        );
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0],
            json!({ "key": "service.name", "value": { "stringValue": "aion" } })
        );
    }
}

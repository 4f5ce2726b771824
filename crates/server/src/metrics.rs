//! `/metrics` in the Prometheus text format: runs started and finished by status, run and step
//! durations, store commit latency (recorded by the worker through the `metrics` facade), and
//! the runs in flight in this process. One recorder per process, installed by the first server.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Histogram buckets, in seconds: from 250 µs (a pure step) to a minute.
const BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (`None` if another recorder was installed
/// first, e.g. by an embedding program).
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            metrics::describe_counter!("aion_runs_started_total", "Runs started");
            metrics::describe_counter!("aion_runs_finished_total", "Runs ended, by status");
            metrics::describe_histogram!(
                "aion_run_duration_seconds",
                metrics::Unit::Seconds,
                "From a run's creation to its end"
            );
            metrics::describe_counter!("aion_steps_finished_total", "Steps ended, by status");
            metrics::describe_histogram!(
                "aion_step_duration_seconds",
                metrics::Unit::Seconds,
                "From a step's start to its end"
            );
            metrics::describe_histogram!(
                "aion_store_commit_seconds",
                metrics::Unit::Seconds,
                "How long a run waited for a commit to be durable (group commit included)"
            );
            metrics::describe_gauge!(
                "aion_runs_in_flight",
                "Runs started by this process's API and webhooks that have not ended"
            );
            metrics::describe_gauge!(
                "aion_queue_depth",
                "Runs any worker could claim now and none holds: queued, abandoned, or woken by \
                 a due timer, a signal or a cancellation"
            );
            Some(handle)
        })
        .as_ref()
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let in_flight = state
        .config()
        .max_inflight_runs
        .saturating_sub(state.run_slots().available_permits());
    metrics::gauge!("aion_runs_in_flight").set(in_flight as f64);
    // Read at scrape time, so the figure is never older than the scrape.
    match state.store().queue_depth(state.now_ms()).await {
        Ok(depth) => metrics::gauge!("aion_queue_depth").set(depth as f64),
        Err(error) => tracing::warn!(%error, "cannot read the queue depth"),
    }
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Keeps the recorder's histograms drained; call every few seconds.
pub(crate) fn upkeep() {
    if let Some(handle) = handle() {
        handle.run_upkeep();
    }
}

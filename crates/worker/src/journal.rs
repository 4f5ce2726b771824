//! How engine events are stored in the journal and engine step records in the run history.
//!
//! A journal record's `kind` is the event's `type` tag and its payload the event's JSON, so a
//! journal can be read back with [`decode`] and replayed.

use aion_engine::{Event, StepRecord as EngineRecord, StepStatus as EngineStatus};
use aion_store::{JournalRecord, LogLine, StepRecord, StepStatus};

use crate::Error;

/// The `type` tag of an event, used as the journal record's kind.
pub fn kind(event: &Event) -> &'static str {
    match event {
        Event::RunStarted { .. } => "run_started",
        Event::StepStarted { .. } => "step_started",
        Event::StepSucceeded { .. } => "step_succeeded",
        Event::StepFailed { .. } => "step_failed",
        Event::TimerFired { .. } => "timer_fired",
        Event::SignalReceived { .. } => "signal_received",
        Event::ChildRunFinished { .. } => "child_run_finished",
        Event::CancelRequested { .. } => "cancel_requested",
    }
}

/// Encodes an event as the journal record with this seq.
pub fn encode(seq: u64, event: &Event) -> Result<JournalRecord, Error> {
    Ok(JournalRecord {
        seq,
        kind: kind(event).to_owned(),
        payload: serde_json::to_vec(event).map_err(|e| Error::Journal(e.to_string()))?,
        at_ms: event.at_ms(),
    })
}

/// Decodes a run's journal.
pub fn decode(records: &[JournalRecord]) -> Result<Vec<Event>, Error> {
    records
        .iter()
        .map(|r| {
            serde_json::from_slice(&r.payload)
                .map_err(|e| Error::Journal(format!("record {}: {e}", r.seq)))
        })
        .collect()
}

/// The store's status for an engine step status.
pub fn step_status(status: EngineStatus) -> StepStatus {
    match status {
        EngineStatus::Running => StepStatus::Running,
        EngineStatus::RetryWaiting
        | EngineStatus::Sleeping
        | EngineStatus::AwaitingSignal
        | EngineStatus::AwaitingChild
        | EngineStatus::Looping => StepStatus::Waiting,
        EngineStatus::Succeeded => StepStatus::Succeeded,
        EngineStatus::Failed => StepStatus::Failed,
        EngineStatus::Skipped => StepStatus::Skipped,
        EngineStatus::Cancelled => StepStatus::Cancelled,
    }
}

/// The history row of an engine step record.
pub fn history(record: &EngineRecord, logs: Vec<LogLine>) -> StepRecord {
    let duration_ms = match (record.started_at_ms, record.finished_at_ms) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start).max(0)),
        _ => None,
    };
    StepRecord {
        step_key: record.display.clone(),
        status: step_status(record.status),
        attempts: record.attempts,
        input: record.input.clone(),
        output: record.output.as_deref().cloned(),
        error: record
            .error
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok()),
        logs,
        started_ms: record.started_at_ms,
        finished_ms: record.finished_at_ms,
        duration_ms,
        cache_hit: record.cache_hit,
        idempotency_key: Some(record.idempotency_key.clone()),
        usage: record.usage,
    }
}

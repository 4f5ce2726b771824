//! Small pure helpers of the transition function: expression errors, invoke actions, error
//! objects, retry delays, truthiness and durations.

use super::*;

/// The step error for a failed evaluation: kind `expression`, not retryable, naming the
/// expression, where it sits (`config/value/0`) and what went wrong (for an undefined value,
/// the path). The pieces are also in `details` for programs.
pub(super) fn expression_error(
    template: &aion_expr::Template,
    place: &str,
    error: &aion_expr::EvalError,
) -> StepError {
    StepError {
        kind: "expression".into(),
        message: format!(
            "expression `{}` in {place} failed: {error}",
            template.source()
        ),
        retryable: false,
        details: Some(serde_json::json!({
            "expression": template.source(),
            "place": place,
            "reason": error.kind().as_str(),
        })),
    }
}

/// The `InvokeStep` for a step's current attempt.
pub(super) fn invoke_action(key: &StepKey, record: &StepRecord, step: &Step) -> Action {
    Action::InvokeStep {
        key: key.clone(),
        attempt: record.attempts,
        node_type: step.node_type.clone(),
        node_version: step.node_version,
        config: record.input.clone().unwrap_or(Value::Null),
        credential: step.credential.clone(),
        idempotency_key: record.idempotency_key.clone(),
        timeout_ms: step.timeout_ms,
        cache: record.cache.clone(),
        side_effects: step.side_effects,
    }
}

/// `steps.<id>.error`: `{kind, message, attempts}`, plus `details` when the node gave some.
pub(super) fn error_object(error: &StepError, attempts: u32) -> Value {
    let mut map = Map::new();
    map.insert("kind".into(), Value::String(error.kind.clone()));
    map.insert("message".into(), Value::String(error.message.clone()));
    map.insert("attempts".into(), Value::from(attempts));
    if let Some(details) = &error.details {
        map.insert("details".into(), details.clone());
    }
    Value::Object(map)
}

/// The delay before retrying after failed attempt `attempt` (from 1): `initial` (fixed) or
/// `initial * 2^(attempt-1)` (exponential), never more than `max`; with jitter, a uniform draw
/// in `0..=delay` ("full jitter", which spreads retries of many runs best).
pub(super) fn retry_delay(retry: &aion_plan::Retry, attempt: u32, rng: &mut Rng) -> u64 {
    let base = match retry.backoff {
        Backoff::Fixed => retry.initial_ms,
        Backoff::Exponential => {
            let shift = attempt.saturating_sub(1).min(63);
            retry.initial_ms.saturating_mul(1u64 << shift)
        }
    };
    let delay = base.min(retry.max_ms);
    if retry.jitter {
        rng.up_to(delay)
    } else {
        delay
    }
}

/// Jinja truthiness: `null`, `false`, `0`, `""`, `[]` and `{}` are false.
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub(super) fn duration_ms(value: &Value, field: &str) -> Result<u64, StepError> {
    let text = value.as_str().unwrap_or_default();
    aion_types::Duration::parse(text)
        .map(aion_types::Duration::as_millis)
        .map_err(|error| StepError::permanent("invalid_config", format!("`{field}`: {error}")))
}

/// When a `core.wait` is due.
pub(super) fn wait_due(config: &Value, now: i64) -> Result<i64, StepError> {
    if let Some(duration) = config.get("duration").filter(|v| !v.is_null()) {
        let ms = duration_ms(duration, "duration")?;
        return Ok(now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)));
    }
    match config.get("until") {
        Some(Value::String(text)) => parse_rfc3339(text).ok_or_else(|| {
            StepError::permanent(
                "invalid_config",
                format!("`until`: `{text}` is not an RFC 3339 instant"),
            )
        }),
        _ => Err(StepError::permanent(
            "invalid_config",
            "core.wait needs `duration` or `until`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays() {
        let mut rng = Rng::new(1);
        let mut retry = aion_plan::Retry {
            max_attempts: 10,
            backoff: Backoff::Exponential,
            initial_ms: 100,
            max_ms: 1_000,
            jitter: false,
        };
        let delays: Vec<u64> = (1..=6).map(|a| retry_delay(&retry, a, &mut rng)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(retry_delay(&retry, u32::MAX, &mut rng), 1_000);
        retry.backoff = Backoff::Fixed;
        assert_eq!(retry_delay(&retry, 5, &mut rng), 100);
        retry.jitter = true;
        retry.backoff = Backoff::Exponential;
        for attempt in 1..20 {
            assert!(retry_delay(&retry, attempt, &mut rng) <= 1_000);
        }
    }

    #[test]
    fn truthiness_follows_jinja() {
        for value in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&value), "{value}");
        }
        for value in [
            json!(true),
            json!(1),
            json!(-0.5),
            json!("x"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(truthy(&value), "{value}");
        }
    }

    use serde_json::json;
}

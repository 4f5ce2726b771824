//! Checks of values with a meaning of their own: the flow id, triggers (cron schedules, time
//! zones, webhook paths), `on_error`, and node policies (durations, retry, timeout, cache).

use std::collections::HashMap;
use std::str::FromStr;

use aion_types::{Duration, codes, id};
use serde_json::{Map, Value};

use crate::Diagnostic;

/// The `@` shorthands a schedule may use.
const CRON_ALIASES: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// The longest per-attempt timeout: one day. Longer work belongs in `core.wait` or a signal.
const MAX_TIMEOUT_MS: u64 = 86_400_000;

pub(crate) fn check_flow(root: &Map<String, Value>, out: &mut Vec<Diagnostic>) {
    if let Some(Value::String(flow_id)) = root.get("id") {
        check_flow_id(flow_id, "/id", out);
    }
    if let Some(Value::String(flow_id)) = root.get("on_error").and_then(|o| o.get("flow")) {
        check_flow_id(flow_id, "/on_error/flow", out);
        if root.get("id").and_then(Value::as_str) == Some(flow_id) {
            out.push(
                Diagnostic::new(
                    codes::INVALID_VALUE,
                    "/on_error/flow",
                    "a flow cannot be its own `on_error` handler",
                )
                .hint("a failing handler would start itself again; name another flow"),
            );
        }
    }
    if let Some(Value::Array(triggers)) = root.get("triggers") {
        check_triggers(triggers, out);
    }
}

fn check_flow_id(flow_id: &str, pointer: &str, out: &mut Vec<Diagnostic>) {
    if !id::is_flow_id(flow_id) {
        let slug: String = flow_id
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .chars()
            .take(id::MAX_FLOW_ID_LEN)
            .collect();
        let example = if slug.is_empty() {
            "my-flow".to_owned()
        } else {
            slug
        };
        out.push(
            Diagnostic::new(
                codes::INVALID_FLOW_ID,
                pointer,
                format!("`{flow_id}` is not a valid flow id"),
            )
            .hint(format!(
                "flow ids are 1 to 63 lowercase letters, digits and `-`, starting with a letter \
                 or digit (e.g. `{example}`)"
            )),
        );
    }
}

fn check_triggers(triggers: &[Value], out: &mut Vec<Diagnostic>) {
    let mut paths: HashMap<&str, usize> = HashMap::new();
    let mut schedules: HashMap<(String, &str), usize> = HashMap::new();
    for (index, trigger) in triggers.iter().enumerate() {
        let pointer = format!("/triggers/{index}");
        let Some(trigger) = trigger.as_object() else {
            continue;
        };
        match trigger.get("type").and_then(Value::as_str) {
            Some("cron") => {
                let timezone = trigger.get("timezone").and_then(Value::as_str);
                if let Some(zone) = timezone
                    && chrono_tz::Tz::from_str(zone).is_err()
                {
                    out.push(
                        Diagnostic::new(
                            codes::INVALID_TIMEZONE,
                            format!("{pointer}/timezone"),
                            format!("`{zone}` is not an IANA time zone"),
                        )
                        .hint("use a name such as `UTC`, `Europe/Paris` or `America/New_York`"),
                    );
                }
                let Some(schedule) = trigger.get("schedule").and_then(Value::as_str) else {
                    continue;
                };
                let fields = schedule.split_whitespace().count();
                let alias = schedule.trim_start().starts_with('@');
                let parsed = if !alias && !(5..=6).contains(&fields) {
                    Err(format!(
                        "it has {fields} field{}, but a schedule has 5 (minute precision) or 6 (seconds first)",
                        if fields == 1 { "" } else { "s" }
                    ))
                } else if alias && !CRON_ALIASES.contains(&schedule.trim()) {
                    Err(format!(
                        "`{}` is not a schedule alias; use one of {}",
                        schedule.trim(),
                        CRON_ALIASES.join(", ")
                    ))
                } else {
                    croner::Cron::from_str(schedule).map_err(|e| e.to_string())
                };
                match parsed {
                    Err(error) => out.push(
                        Diagnostic::new(
                            codes::INVALID_CRON,
                            format!("{pointer}/schedule"),
                            format!("`{schedule}` is not a valid cron schedule: {error}"),
                        )
                        .hint(
                            "use 5 fields (minute hour day-of-month month day-of-week) or 6 with \
                             seconds first, e.g. `*/5 * * * *`",
                        ),
                    ),
                    Ok(_) => {
                        let key = (
                            schedule.split_whitespace().collect::<Vec<_>>().join(" "),
                            timezone.unwrap_or("UTC"),
                        );
                        let first = *schedules.entry(key).or_insert(index);
                        if first != index {
                            out.push(
                                Diagnostic::new(
                                    codes::DUPLICATE_TRIGGER,
                                    pointer.clone(),
                                    format!("this schedule repeats trigger {first}, so each slot would start two runs"),
                                )
                                .hint("remove one of the two triggers"),
                            );
                        }
                    }
                }
            }
            Some("webhook") => {
                let Some(path) = trigger.get("path").and_then(Value::as_str) else {
                    continue;
                };
                if !id::is_webhook_path(path) {
                    out.push(
                        Diagnostic::new(
                            codes::INVALID_WEBHOOK_PATH,
                            format!("{pointer}/path"),
                            format!("`{path}` is not a valid webhook path"),
                        )
                        .hint(
                            "use lowercase letters, digits, `-` and `_`, in segments separated by \
                             `/`, without a leading or trailing `/` (e.g. `github/push`)",
                        ),
                    );
                } else if let Some(first) =
                    Some(*paths.entry(path).or_insert(index)).filter(|first| *first != index)
                {
                    out.push(
                        Diagnostic::new(
                            codes::DUPLICATE_WEBHOOK_PATH,
                            format!("{pointer}/path"),
                            format!("trigger {first} already serves the webhook path `{path}`"),
                        )
                        .hint("each webhook trigger needs its own path"),
                    );
                }
                if let Some(Value::String(secret)) = trigger.get("secret")
                    && !id::is_credential_name(secret)
                {
                    out.push(Diagnostic::new(
                        codes::INVALID_VALUE,
                        format!("{pointer}/secret"),
                        format!("`{secret}` is not a valid credential name"),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Reads a duration field, reporting it when it does not parse.
pub(crate) fn duration(
    value: &Value,
    pointer: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<Duration> {
    let text = value.as_str()?;
    match Duration::parse(text) {
        Ok(duration) => Some(duration),
        Err(error) => {
            out.push(
                Diagnostic::new(codes::INVALID_DURATION, pointer, error.to_string())
                    .hint("durations are an integer and a unit: `250ms`, `10s`, `5m`, `2h`, `1d`"),
            );
            None
        }
    }
}

pub(crate) fn check_node(node: &Map<String, Value>, pointer: &str, out: &mut Vec<Diagnostic>) {
    if let Some(value) = node.get("timeout") {
        let field = format!("{pointer}/timeout");
        if let Some(timeout) = duration(value, &field, out) {
            if timeout.as_millis() == 0 {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_TIMEOUT,
                        field,
                        "a timeout of zero fails every attempt",
                    )
                    .hint("remove `timeout` for no limit, or give a positive duration"),
                );
            } else if timeout.as_millis() > MAX_TIMEOUT_MS {
                out.push(
                    Diagnostic::new(
                        codes::INVALID_TIMEOUT,
                        field,
                        format!("a timeout of {timeout} is longer than the one-day maximum"),
                    )
                    .hint(
                        "long waits belong in `core.wait` or `core.signal`, which survive restarts",
                    ),
                );
            }
        }
    }
    if let Some(Value::Object(retry)) = node.get("retry") {
        let initial = retry
            .get("initial")
            .and_then(|v| duration(v, &format!("{pointer}/retry/initial"), out));
        let max = retry
            .get("max")
            .and_then(|v| duration(v, &format!("{pointer}/retry/max"), out));
        let initial_ms = initial.map_or(1_000, Duration::as_millis);
        let max_ms = max.map_or(300_000, Duration::as_millis);
        if initial_ms > max_ms {
            out.push(
                Diagnostic::new(
                    codes::INVALID_RETRY,
                    format!("{pointer}/retry"),
                    format!(
                        "the first retry delay ({}) is longer than the maximum delay ({})",
                        Duration::from_millis(initial_ms),
                        Duration::from_millis(max_ms)
                    ),
                )
                .hint("make `initial` at most `max`"),
            );
        }
        if initial.is_some_and(|d| d.as_millis() == 0)
            && retry.get("backoff").and_then(Value::as_str) != Some("fixed")
        {
            out.push(
                Diagnostic::new(
                    codes::INVALID_RETRY,
                    format!("{pointer}/retry/initial"),
                    "an exponential backoff starting at zero never grows",
                )
                .hint("start at a positive delay such as `500ms`, or use `backoff: fixed`"),
            );
        }
    }
    if let Some(Value::Object(cache)) = node.get("cache") {
        if let Some(ttl) = cache
            .get("ttl")
            .and_then(|v| duration(v, &format!("{pointer}/cache/ttl"), out))
            && ttl.as_millis() == 0
        {
            out.push(
                Diagnostic::new(
                    codes::INVALID_CACHE,
                    format!("{pointer}/cache/ttl"),
                    "a cache entry that lives zero time is never used",
                )
                .hint("give a positive `ttl`, or remove `cache`"),
            );
        }
        if let Some(Value::String(key)) = cache.get("key")
            && !key.contains("{{")
        {
            out.push(
                Diagnostic::new(
                    codes::INVALID_CACHE,
                    format!("{pointer}/cache/key"),
                    "a constant cache key makes every run share one entry",
                )
                .hint("use an expression, e.g. `\"{{ inputs.symbol }}\"`"),
            );
        }
    }
}

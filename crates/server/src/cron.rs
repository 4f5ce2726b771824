//! Cron triggers: a loop, started by [`crate::Server::start`] and stopped by
//! [`crate::Server::stop`], that about once a second (just past each whole second of the
//! runtime's clock) looks at the latest version of every flow of every workspace and, for each
//! of its `cron` triggers, starts a run for the slot that is due.
//!
//! **Exactly once.** A slot is an instant (Unix ms) where the schedule matches in the trigger's
//! IANA zone (`croner` over `chrono-tz`). Before starting a run for a slot the loop claims it
//! with [`aion_store::Store::claim_cron_slot`], a compare-and-set on the trigger's last
//! recorded slot: only the claim that moves it forward starts the run, so a slot fires once
//! across restarts and across processes sharing the store. A crash between the claim and the
//! run's creation loses that slot (at most once, never twice).
//!
//! **Misfire policy.** A trigger seen for the first time starts from now: the current instant
//! is recorded and no past slot fires. After downtime the missed slots are not replayed one by
//! one: only the most recent missed slot fires, once, if it is at most `cron_misfire_grace_ms`
//! old (one hour by default); an older one is recorded without a run, so it never fires later.
//! Then the schedule goes on normally. A trigger removed and added again within the grace may
//! fire the most recent slot it missed meanwhile.
//!
//! **Daylight saving time** (`croner`'s semantics, see the tests): a fixed-time slot in a
//! spring-forward gap (`30 2 * * *` in Europe/Paris on 2026-03-29) fires at the first instant
//! after the gap (03:00 CEST); a fixed-time slot in a fall-back overlap fires once, at the
//! earlier of its two instants; interval schedules (`*/30 * * * *`) fire at the times that
//! exist, both halves of an overlap included. Slots are instants and claims only move forward,
//! so none fires twice.
//!
//! **Triggers.** A trigger's key is `"{zone} {schedule}"` (the schedule whitespace-normalised
//! by the compiler), so reordering triggers or editing other parts of the flow keeps its
//! progress; a repeated trigger (warned about by the compiler) gets `#2`, `#3`, ... and fires
//! once more per slot. Editing a trigger's schedule or zone makes a new trigger, which starts
//! from now. A run gets the input `{}` and the trigger
//! `{"type": "cron", "schedule", "timezone", "slot" (RFC 3339), "slot_ms"}`; a flow whose
//! inputs schema refuses `{}` gets a warning per slot and no run.
//!
//! **Cost.** Each tick lists workspaces and flows (1 + workspaces reads); a flow version is read
//! and parsed once, when first seen; a trigger's last slot is read only when its next slot is
//! due (the loop remembers when that is), and a slot costs one write. An error in one flow is
//! logged and never stops the loop.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;

use aion_plan::Trigger;
use aion_store::{CronClaim, FlowSummary, FlowVersion};
use aion_worker::StartStored;

use crate::AppState;

/// How long to wait before looking again at a trigger whose next slot cannot be computed.
const RETRY_MS: i64 = 60_000;

/// What to do about a trigger at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// No slot is due.
    Wait,
    /// The trigger is seen for the first time: record this instant (now), fire nothing.
    Start(i64),
    /// Fire this slot (the most recent due one).
    Fire(i64),
    /// Record this slot without firing: a misfire older than the grace.
    Skip(i64),
}

/// The [`Action`] for a trigger and when to look at it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// What to do now.
    pub action: Action,
    /// The first slot after the one the action records (or after the last recorded one when
    /// it records nothing); `None` when the schedule has no further slot.
    pub next_due_ms: Option<i64>,
}

/// Decides what a trigger does at `now_ms`, given the last slot recorded for it (`None`: never
/// seen). Pure: the misfire policy of the module documentation, over `croner`'s slots in
/// `zone`. Slots are whole seconds; a recorded instant need not be one.
pub(crate) fn decide(
    cron: &Cron,
    zone: Tz,
    last_ms: Option<i64>,
    now_ms: i64,
    grace_ms: i64,
) -> Result<Decision, CronError> {
    let Some(last) = last_ms else {
        return Ok(Decision {
            action: Action::Start(now_ms),
            next_due_ms: slot_after(cron, zone, now_ms)?,
        });
    };
    let next = match slot_after(cron, zone, last)? {
        Some(next) if next > last => next,
        _ => {
            return Ok(Decision {
                action: Action::Wait,
                next_due_ms: None,
            });
        }
    };
    if next > now_ms {
        return Ok(Decision {
            action: Action::Wait,
            next_due_ms: Some(next),
        });
    }
    // At least one slot is due: the most recent one at or before now stands for all of them.
    let latest = match slot_at_or_before(cron, zone, now_ms)? {
        Some(slot) if slot > last && slot <= now_ms => slot.max(next),
        _ => next,
    };
    let action = if now_ms.saturating_sub(latest) > grace_ms {
        Action::Skip(latest)
    } else {
        Action::Fire(latest)
    };
    Ok(Decision {
        action,
        next_due_ms: slot_after(cron, zone, latest)?,
    })
}

/// The instant `ms` (floored to the second) in `zone`.
fn at(zone: Tz, ms: i64) -> Result<DateTime<Tz>, CronError> {
    Utc.timestamp_millis_opt(ms.div_euclid(1000).saturating_mul(1000))
        .single()
        .map(|utc| utc.with_timezone(&zone))
        .ok_or(CronError::InvalidTime)
}

/// The first slot strictly after `ms`; `None` past the years croner handles.
fn slot_after(cron: &Cron, zone: Tz, ms: i64) -> Result<Option<i64>, CronError> {
    match cron.find_next_occurrence(&at(zone, ms)?, false) {
        Ok(next) => Ok(Some(next.timestamp_millis())),
        Err(CronError::TimeSearchLimitExceeded) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The last slot at or before `ms`.
fn slot_at_or_before(cron: &Cron, zone: Tz, ms: i64) -> Result<Option<i64>, CronError> {
    match cron.find_previous_occurrence(&at(zone, ms)?, true) {
        Ok(previous) => Ok(Some(previous.timestamp_millis())),
        Err(CronError::TimeSearchLimitExceeded) => Ok(None),
        Err(error) => Err(error),
    }
}

/// A cron trigger of a flow version, parsed.
#[derive(Debug)]
struct CronTrigger {
    /// The stable key the store records its slots under.
    key: String,
    /// The schedule as compiled.
    schedule: String,
    /// The IANA zone's name.
    timezone: String,
    /// The parsed schedule.
    cron: Cron,
    /// The zone.
    zone: Tz,
}

/// What the loop knows of a flow's latest version.
#[derive(Debug)]
struct Known {
    /// The version this is about.
    version: u32,
    /// The stored version, kept only when it has cron triggers.
    flow: Option<Arc<FlowVersion>>,
    /// Its cron triggers.
    triggers: Vec<CronTrigger>,
    /// Why `{}` is not an acceptable input, if it is not.
    input_problem: Option<String>,
}

/// The key of the `occurrence`-th (from 0) trigger with this schedule and zone: readable when
/// short enough for the store, else a digest.
fn trigger_key(schedule: &str, timezone: &str, occurrence: usize) -> String {
    let mut key = format!("{timezone} {schedule}");
    if occurrence > 0 {
        key.push_str(&format!(" #{}", occurrence + 1));
    }
    if key.len() > 200 || key.chars().any(char::is_control) {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        key = format!("sha256:{hex}");
    }
    key
}

/// Parses the cron triggers of a stored version.
fn known(flow: FlowVersion) -> Result<Known, String> {
    let triggers: Vec<Trigger> = match flow.plan.get("triggers") {
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| format!("its plan's triggers cannot be read: {e}"))?,
        None => Vec::new(),
    };
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut parsed = Vec::new();
    for trigger in triggers {
        let Trigger::Cron { schedule, timezone } = trigger else {
            continue;
        };
        let cron = Cron::from_str(&schedule)
            .map_err(|e| format!("`{schedule}` is not a cron schedule: {e}"))?;
        let zone = Tz::from_str(&timezone)
            .map_err(|e| format!("`{timezone}` is not an IANA time zone: {e}"))?;
        let occurrence = seen
            .entry((schedule.clone(), timezone.clone()))
            .or_insert(0);
        let key = trigger_key(&schedule, &timezone, *occurrence);
        *occurrence += 1;
        parsed.push(CronTrigger {
            key,
            schedule,
            timezone,
            cron,
            zone,
        });
    }
    if parsed.is_empty() {
        return Ok(Known {
            version: flow.version,
            flow: None,
            triggers: parsed,
            input_problem: None,
        });
    }
    let plan: aion_plan::Plan = serde_json::from_value(flow.plan.clone())
        .map_err(|e| format!("its plan cannot be read: {e}"))?;
    let input_problem = aion_worker::check_input(&plan, &Value::Object(Map::new()))
        .first()
        .map(ToString::to_string);
    Ok(Known {
        version: flow.version,
        flow: Some(Arc::new(flow)),
        triggers: parsed,
        input_problem,
    })
}

/// Starts the loop; it ends once `stop` turns true (or its sender is gone), after the runs it
/// started have been driven as far as they go here.
pub(crate) fn spawn(state: AppState, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let grace_ms = i64::try_from(state.config().cron_misfire_grace_ms).unwrap_or(i64::MAX);
    let scheduler = Scheduler {
        state,
        grace_ms,
        flows: BTreeMap::new(),
        next_due: BTreeMap::new(),
        drivers: JoinSet::new(),
    };
    tokio::spawn(scheduler.run(stop))
}

/// The loop's state.
struct Scheduler {
    state: AppState,
    grace_ms: i64,
    /// The latest version of each flow seen, by (workspace, flow id).
    flows: BTreeMap<(String, String), Arc<Known>>,
    /// When to look at each trigger again, by (workspace, flow id, trigger key).
    next_due: BTreeMap<(String, String, String), i64>,
    /// The runs started and still being driven.
    drivers: JoinSet<()>,
}

impl Scheduler {
    /// Ticks until stopped, then waits for the runs in hand.
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            self.tick(&stop).await;
            while self.drivers.try_join_next().is_some() {}
            let now = self.state.now_ms();
            let wait = u64::try_from(1_000 - now.rem_euclid(1_000) + 5).unwrap_or(1_000);
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
        while self.drivers.join_next().await.is_some() {}
    }

    /// One pass over every flow.
    async fn tick(&mut self, stop: &watch::Receiver<bool>) {
        let store = Arc::clone(self.state.store());
        let workspaces = match store.list_workspaces().await {
            Ok(workspaces) => workspaces,
            Err(error) => {
                tracing::warn!(%error, "cron: cannot list workspaces");
                return;
            }
        };
        let mut flows_seen = BTreeSet::new();
        let mut triggers_seen = BTreeSet::new();
        for workspace in workspaces {
            let summaries = match store.list_flows(&workspace.id).await {
                Ok(summaries) => summaries,
                Err(error) => {
                    tracing::warn!(workspace = %workspace.id, %error, "cron: cannot list flows");
                    continue;
                }
            };
            for summary in summaries {
                if *stop.borrow() {
                    return;
                }
                let flow_key = (workspace.id.clone(), summary.flow_id.clone());
                flows_seen.insert(flow_key.clone());
                let Some(known) = self.known(&workspace.id, &summary).await else {
                    continue;
                };
                for trigger in &known.triggers {
                    let key = (
                        workspace.id.clone(),
                        summary.flow_id.clone(),
                        trigger.key.clone(),
                    );
                    triggers_seen.insert(key.clone());
                    let now = self.state.now_ms();
                    if self.next_due.get(&key).is_some_and(|due| *due > now) {
                        continue;
                    }
                    match self.handle(&known, trigger, &key, now, stop).await {
                        Ok(next_due) => {
                            self.next_due.insert(key, next_due);
                        }
                        Err(error) => tracing::warn!(
                            workspace = %key.0, flow_id = %key.1, trigger = %key.2,
                            "cron: {error}"
                        ),
                    }
                }
            }
        }
        self.flows.retain(|key, _| flows_seen.contains(key));
        self.next_due.retain(|key, _| triggers_seen.contains(key));
    }

    /// What is known of a flow's latest version, read and parsed once per version.
    async fn known(&mut self, workspace: &str, summary: &FlowSummary) -> Option<Arc<Known>> {
        let flow_key = (workspace.to_owned(), summary.flow_id.clone());
        if let Some(known) = self.flows.get(&flow_key)
            && known.version == summary.latest_version
        {
            return Some(Arc::clone(known));
        }
        let parsed = match self
            .state
            .store()
            .get_flow(workspace, &summary.flow_id, Some(summary.latest_version))
            .await
        {
            Ok(Some(flow)) => known(flow),
            Ok(None) => return None,
            Err(error) => Err(format!("cannot read the flow: {error}")),
        };
        let known = Arc::new(parsed.unwrap_or_else(|problem| {
            tracing::warn!(
                workspace, flow_id = %summary.flow_id, version = summary.latest_version,
                "cron: the flow's triggers are ignored: {problem}"
            );
            Known {
                version: summary.latest_version,
                flow: None,
                triggers: Vec::new(),
                input_problem: None,
            }
        }));
        self.flows.insert(flow_key, Arc::clone(&known));
        Some(known)
    }

    /// Applies the decision for one trigger; returns when to look at it again.
    async fn handle(
        &mut self,
        known: &Known,
        trigger: &CronTrigger,
        (workspace, flow_id, key): &(String, String, String),
        now: i64,
        stop: &watch::Receiver<bool>,
    ) -> Result<i64, String> {
        let store = Arc::clone(self.state.store());
        let last = store
            .last_cron_slot(workspace, flow_id, key)
            .await
            .map_err(|e| format!("cannot read the last slot: {e}"))?;
        let decision = match decide(&trigger.cron, trigger.zone, last, now, self.grace_ms) {
            Ok(decision) => decision,
            Err(error) => {
                tracing::warn!(
                    workspace = %workspace, flow_id = %flow_id, trigger = %key,
                    "cron: cannot compute the schedule's slots: {error}"
                );
                return Ok(now.saturating_add(RETRY_MS));
            }
        };
        let next_due = decision.next_due_ms.unwrap_or(i64::MAX);
        let (slot, fire) = match decision.action {
            Action::Wait => return Ok(next_due),
            Action::Start(at) => (at, false),
            Action::Skip(slot) => (slot, false),
            Action::Fire(slot) => (slot, true),
        };
        if fire && *stop.borrow() {
            // Left for the next start (it will be a misfire then).
            return Ok(now);
        }
        let won = store
            .claim_cron_slot(CronClaim {
                workspace: workspace.clone(),
                flow_id: flow_id.clone(),
                trigger: key.clone(),
                slot_ms: slot,
                now_ms: now,
            })
            .await
            .map_err(|e| format!("cannot claim slot {slot}: {e}"))?;
        if !won {
            return Ok(next_due);
        }
        let rfc3339 = at(trigger.zone, slot)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        match decision.action {
            Action::Skip(_) => tracing::info!(
                workspace = %workspace, flow_id = %flow_id, trigger = %key, slot = %rfc3339,
                "cron: a missed slot older than cron_misfire_grace_ms is skipped"
            ),
            Action::Fire(_) => {
                self.start_run(known, trigger, workspace, slot, &rfc3339)
                    .await?
            }
            Action::Wait | Action::Start(_) => {}
        }
        Ok(next_due)
    }

    /// Starts and drives the run of a claimed slot.
    async fn start_run(
        &mut self,
        known: &Known,
        trigger: &CronTrigger,
        workspace: &str,
        slot: i64,
        rfc3339: &str,
    ) -> Result<(), String> {
        let Some(flow) = &known.flow else {
            return Ok(());
        };
        if let Some(problem) = &known.input_problem {
            tracing::warn!(
                workspace, flow_id = %flow.flow_id, slot = %rfc3339,
                "cron: no run for this slot: the flow's inputs schema refuses `{{}}` ({problem}); \
                 give its inputs defaults or read what it needs from `trigger`"
            );
            return Ok(());
        }
        let runtime = Arc::clone(self.state.runtime());
        let (run, lease) = runtime
            .create_leased_stored_run(StartStored {
                flow: FlowVersion::clone(flow),
                input: Value::Object(Map::new()),
                trigger: json!({
                    "type": "cron",
                    "schedule": trigger.schedule,
                    "timezone": trigger.timezone,
                    "slot": rfc3339,
                    "slot_ms": slot,
                }),
                trace_id: Some(crate::auth::new_trace_id()),
            })
            .await
            .map_err(|e| format!("slot {rfc3339} claimed but its run cannot be created: {e}"))?;
        tracing::info!(
            workspace, flow_id = %flow.flow_id, run_id = %run.id, slot = %rfc3339,
            "cron: run started"
        );
        self.drivers.spawn(async move {
            let run_id = run.id.clone();
            if let Err(error) = runtime.drive_run(run, lease).await {
                tracing::warn!(run_id = %run_id, %error, "cron: driving the run failed");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        zone.with_ymd_and_hms(y, mo, d, h, mi, s)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        ms(Tz::UTC, y, mo, d, h, mi, s)
    }

    /// Simulates the loop (ticks every `step_ms` from `from` to `to`) over a store holding one
    /// trigger whose last slot is `last`; returns the slots fired.
    fn simulate(schedule: &str, zone: Tz, last: i64, from: i64, to: i64, step_ms: i64) -> Vec<i64> {
        let cron = Cron::from_str(schedule).unwrap();
        let mut recorded = last;
        let mut next_due = i64::MIN;
        let mut fired = Vec::new();
        let mut now = from;
        while now <= to {
            if next_due <= now {
                let decision = decide(&cron, zone, Some(recorded), now, 3_600_000).unwrap();
                match decision.action {
                    Action::Fire(slot) | Action::Skip(slot) | Action::Start(slot) => {
                        assert!(slot > recorded, "slot {slot} is not after {recorded}");
                        assert!(slot <= now, "slot {slot} is in the future of {now}");
                        recorded = slot;
                        if matches!(decision.action, Action::Fire(_)) {
                            fired.push(slot);
                        }
                    }
                    Action::Wait => {}
                }
                next_due = decision.next_due_ms.unwrap_or(i64::MAX);
            }
            now += step_ms;
        }
        for pair in fired.windows(2) {
            assert!(
                pair[0] < pair[1],
                "slots fired out of order or twice: {fired:?}"
            );
        }
        fired
    }

    #[test]
    fn a_trigger_seen_first_starts_from_now() {
        let cron = Cron::from_str("0 * * * *").unwrap();
        let now = utc(2026, 5, 1, 12, 30, 0) + 250;
        let decision = decide(&cron, Tz::UTC, None, now, 3_600_000).unwrap();
        assert_eq!(decision.action, Action::Start(now));
        assert_eq!(decision.next_due_ms, Some(utc(2026, 5, 1, 13, 0, 0)));
    }

    #[test]
    fn nothing_is_due_before_the_next_slot() {
        let cron = Cron::from_str("*/5 * * * *").unwrap();
        let last = utc(2026, 5, 1, 12, 5, 0);
        let decision = decide(
            &cron,
            Tz::UTC,
            Some(last),
            utc(2026, 5, 1, 12, 9, 59),
            3_600_000,
        )
        .unwrap();
        assert_eq!(decision.action, Action::Wait);
        assert_eq!(decision.next_due_ms, Some(utc(2026, 5, 1, 12, 10, 0)));
        let due = decide(
            &cron,
            Tz::UTC,
            Some(last),
            utc(2026, 5, 1, 12, 10, 0),
            3_600_000,
        );
        assert_eq!(
            due.unwrap().action,
            Action::Fire(utc(2026, 5, 1, 12, 10, 0))
        );
    }

    #[test]
    fn after_downtime_only_the_most_recent_missed_slot_fires() {
        let cron = Cron::from_str("* * * * *").unwrap();
        let last = utc(2026, 5, 1, 10, 0, 0);
        let now = utc(2026, 5, 1, 10, 47, 30);
        let decision = decide(&cron, Tz::UTC, Some(last), now, 3_600_000).unwrap();
        assert_eq!(decision.action, Action::Fire(utc(2026, 5, 1, 10, 47, 0)));
        assert_eq!(decision.next_due_ms, Some(utc(2026, 5, 1, 10, 48, 0)));
    }

    #[test]
    fn misfires_older_than_the_grace_are_skipped_for_good() {
        let cron = Cron::from_str("0 * * * *").unwrap();
        let last = utc(2026, 5, 1, 8, 0, 0);
        let now = utc(2026, 5, 1, 12, 30, 0);
        let within = decide(&cron, Tz::UTC, Some(last), now, 3_600_000).unwrap();
        assert_eq!(within.action, Action::Fire(utc(2026, 5, 1, 12, 0, 0)));
        let skipped = decide(&cron, Tz::UTC, Some(last), now, 600_000).unwrap();
        assert_eq!(skipped.action, Action::Skip(utc(2026, 5, 1, 12, 0, 0)));
        assert_eq!(skipped.next_due_ms, Some(utc(2026, 5, 1, 13, 0, 0)));
        // Once recorded, the skipped slot is behind: nothing fires until the next one.
        let later = decide(
            &cron,
            Tz::UTC,
            Some(utc(2026, 5, 1, 12, 0, 0)),
            now + 60_000,
            600_000,
        )
        .unwrap();
        assert_eq!(later.action, Action::Wait);
    }

    #[test]
    fn seconds_schedules_fire_every_second() {
        let from = utc(2026, 5, 1, 12, 0, 0) + 5;
        let fired = simulate("* * * * * *", Tz::UTC, from, from, from + 4_000, 250);
        let expected: Vec<i64> = (1..=4).map(|s| utc(2026, 5, 1, 12, 0, s)).collect();
        assert_eq!(fired, expected);
    }

    #[test]
    fn spring_forward_fixed_time_fires_once_after_the_gap() {
        // 2026-03-29 in Paris: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
        // croner fires the slot at the first instant after the gap, 03:00 CEST (01:00 UTC).
        let paris = chrono_tz::Europe::Paris;
        let from = ms(paris, 2026, 3, 27, 12, 0, 0);
        let to = ms(paris, 2026, 3, 31, 12, 0, 0);
        let fired = simulate("30 2 * * *", paris, from, from, to, 1_000);
        assert_eq!(
            fired,
            vec![
                utc(2026, 3, 28, 1, 30, 0), // 02:30 CET
                utc(2026, 3, 29, 1, 0, 0),  // 03:00 CEST, right after the gap
                utc(2026, 3, 30, 0, 30, 0), // 02:30 CEST
                utc(2026, 3, 31, 0, 30, 0),
            ]
        );
    }

    #[test]
    fn fall_back_fixed_time_fires_once_at_the_earlier_instant() {
        // 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice.
        // croner fires a fixed-time slot once, at the earlier instant (02:30 CEST).
        let paris = chrono_tz::Europe::Paris;
        let from = ms(paris, 2026, 10, 23, 12, 0, 0);
        let to = ms(paris, 2026, 10, 27, 12, 0, 0);
        let fired = simulate("30 2 * * *", paris, from, from, to, 1_000);
        assert_eq!(
            fired,
            vec![
                utc(2026, 10, 24, 0, 30, 0), // 02:30 CEST
                utc(2026, 10, 25, 0, 30, 0), // 02:30 CEST, not again at 02:30 CET
                utc(2026, 10, 26, 1, 30, 0), // 02:30 CET
                utc(2026, 10, 27, 1, 30, 0),
            ]
        );
    }

    #[test]
    fn interval_schedules_follow_the_instants_that_exist() {
        let paris = chrono_tz::Europe::Paris;
        // Spring forward: 02:00 and 02:30 do not exist; the run after 01:30 CET is 03:00 CEST,
        // half an hour later: the slots stay 30 minutes apart in real time.
        let from = ms(paris, 2026, 3, 29, 1, 0, 0);
        let fired = simulate(
            "*/30 * * * *",
            paris,
            from,
            from,
            from + 3 * 3_600_000,
            1_000,
        );
        assert_eq!(fired[0], utc(2026, 3, 29, 0, 30, 0)); // 01:30 CET
        assert_eq!(fired[1], utc(2026, 3, 29, 1, 0, 0)); // 03:00 CEST
        let expected: Vec<i64> = (1..=6)
            .map(|half_hours| from + half_hours * 1_800_000)
            .collect();
        assert_eq!(fired, expected);
        // Fall back: both 02:00 and 02:30 happen twice, each a slot of its own.
        let from = ms(paris, 2026, 10, 25, 1, 0, 0);
        let fired = simulate(
            "*/30 * * * *",
            paris,
            from,
            from,
            from + 4 * 3_600_000,
            1_000,
        );
        let expected: Vec<i64> = (1..=8)
            .map(|half_hours| from + half_hours * 1_800_000)
            .collect();
        assert_eq!(fired, expected);
    }

    #[test]
    fn trigger_keys_are_stable_and_bounded() {
        assert_eq!(trigger_key("*/5 * * * *", "UTC", 0), "UTC */5 * * * *");
        assert_eq!(trigger_key("*/5 * * * *", "UTC", 1), "UTC */5 * * * * #2");
        let long = "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,\
                    29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,\
                    54,55,56,57,58,59 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 * * *";
        let key = trigger_key(long, "America/Argentina/ComodRivadavia", 0);
        assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    }
}

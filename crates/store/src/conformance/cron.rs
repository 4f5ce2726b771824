//! Conformance cases for cron slots: a slot is claimed once (a compare-and-set on the last
//! recorded slot), older slots are refused, and triggers and workspaces are independent.

use super::{Backend, Outcome, WS, ensure, ensure_eq, expect_kind, join_all};
use crate::{BoxFuture, CronClaim, ErrorKind, Result};

/// A claim of `slot_ms` for `trigger` of `flow_id` in `workspace`.
fn claim(workspace: &str, flow_id: &str, trigger: &str, slot_ms: i64) -> CronClaim {
    CronClaim {
        workspace: workspace.to_owned(),
        flow_id: flow_id.to_owned(),
        trigger: trigger.to_owned(),
        slot_ms,
        now_ms: slot_ms + 5,
    }
}

/// Of concurrent claims of one slot exactly one wins, and the slot is then recorded.
pub async fn cron_slot_is_claimed_once(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    ensure_eq!(
        store.last_cron_slot(WS, "nightly", "UTC 0 2 * * *").await?,
        None,
        "a trigger never claimed has no slot"
    );
    for slot in [60_000_i64, 120_000, 180_000] {
        let claims: Vec<BoxFuture<'_, Result<bool>>> = (0..8)
            .map(|_| store.claim_cron_slot(claim(WS, "nightly", "UTC 0 2 * * *", slot)))
            .collect();
        let mut winners = 0;
        for outcome in join_all(claims).await {
            if outcome? {
                winners += 1;
            }
        }
        ensure_eq!(winners, 1, "concurrent claims of slot {slot} that won");
        ensure_eq!(
            store.last_cron_slot(WS, "nightly", "UTC 0 2 * * *").await?,
            Some(slot),
            "the recorded slot after claiming {slot}"
        );
    }
    ensure!(
        !store
            .claim_cron_slot(claim(WS, "nightly", "UTC 0 2 * * *", 180_000))
            .await?,
        "claiming the recorded slot again is refused"
    );
    Ok(())
}

/// A slot older than the recorded one is refused and changes nothing; a newer one wins.
pub async fn cron_slot_older_than_recorded_is_refused(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "t", 5_000)).await?,
        "the first claim wins"
    );
    ensure!(
        !store.claim_cron_slot(claim(WS, "f", "t", 4_000)).await?,
        "an older slot is refused"
    );
    ensure!(
        !store.claim_cron_slot(claim(WS, "f", "t", 5_000)).await?,
        "the same slot is refused"
    );
    ensure_eq!(
        store.last_cron_slot(WS, "f", "t").await?,
        Some(5_000),
        "refused claims change nothing"
    );
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "t", 5_001)).await?,
        "a newer slot wins"
    );
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "t", -1)).await.is_ok(),
        "a negative slot is a valid instant"
    );
    ensure_eq!(
        store.last_cron_slot(WS, "f", "t").await?,
        Some(5_001),
        "the newest slot stays recorded"
    );
    Ok(())
}

/// Triggers of one flow, and the same trigger key in two flows, have their own slots.
pub async fn cron_triggers_are_independent(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "a", 9_000)).await?,
        "trigger a"
    );
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "b", 1_000)).await?,
        "trigger b is not behind trigger a"
    );
    ensure!(
        store.claim_cron_slot(claim(WS, "g", "a", 1_000)).await?,
        "the same key in another flow is another trigger"
    );
    ensure_eq!(
        store.last_cron_slot(WS, "f", "a").await?,
        Some(9_000),
        "f/a"
    );
    ensure_eq!(
        store.last_cron_slot(WS, "f", "b").await?,
        Some(1_000),
        "f/b"
    );
    ensure_eq!(
        store.last_cron_slot(WS, "g", "a").await?,
        Some(1_000),
        "g/a"
    );
    expect_kind(
        store.claim_cron_slot(claim(WS, "f", "", 1)).await,
        ErrorKind::InvalidArgument,
        "an empty trigger key",
    )?;
    expect_kind(
        store.claim_cron_slot(claim(WS, "", "a", 1)).await,
        ErrorKind::InvalidArgument,
        "an empty flow id",
    )?;
    Ok(())
}

/// A workspace's slots are invisible to another's, and an unknown workspace is not found.
pub async fn cron_slots_are_isolated_by_workspace(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    ensure!(
        store.claim_cron_slot(claim(WS, "f", "t", 7_000)).await?,
        "claim in the default workspace"
    );
    ensure_eq!(
        store.last_cron_slot("other", "f", "t").await?,
        None,
        "another workspace sees no slot"
    );
    ensure!(
        store
            .claim_cron_slot(claim("other", "f", "t", 7_000))
            .await?,
        "the same slot in another workspace wins too"
    );
    ensure!(
        !store
            .claim_cron_slot(claim("other", "f", "t", 7_000))
            .await?,
        "but only once there"
    );
    expect_kind(
        store.claim_cron_slot(claim("missing", "f", "t", 1)).await,
        ErrorKind::NotFound,
        "a claim in an unknown workspace",
    )?;
    ensure_eq!(
        store.last_cron_slot("missing", "f", "t").await?,
        None,
        "an unknown workspace has no slot"
    );
    Ok(())
}

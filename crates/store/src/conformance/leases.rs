//! Conformance cases for leases (claims, expiry, renewal, release and fencing), timers and
//! signals: what decides which worker may advance which run, and when a waiting run wakes.

use serde_json::json;

use super::{
    Backend, Failure, Outcome, WS, claimed_run, commit, ensure, ensure_eq, expect_kind, new_run,
    record,
};
use crate::{ClaimRequest, CommitRequest, ErrorKind, RenewRequest, RunStatus, RunUpdate, TimerOp};

pub(super) fn claim(worker: &str, limit: u32, lease_ms: i64, now_ms: i64) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        limit,
        lease_ms,
        now_ms,
    }
}

/// Claims take the oldest runnable runs; an expired lease goes to another worker with a
/// higher epoch, and the old holder is fenced off.
pub async fn lease_expiry_lets_another_worker_claim(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    // Ids sort against creation order, so only the creation instant can order the claims.
    let with_id = |id: &str, created_ms| crate::NewRun {
        id: Some(id.to_owned()),
        ..new_run(WS, "f", created_ms)
    };
    let r1 = store.create_run(with_id("run-c", 1)).await?;
    let r2 = store.create_run(with_id("run-b", 2)).await?;
    let r3 = store.create_run(with_id("run-a", 3)).await?;
    let done = store.create_run(new_run(WS, "f", 0)).await?;
    store
        .update_run(
            WS,
            &done.id,
            RunUpdate {
                status: Some(RunStatus::Succeeded),
                ..RunUpdate::default()
            },
        )
        .await?;

    ensure_eq!(
        store.queue_depth(10).await?,
        3,
        "three queued runs wait for a worker; a finished one does not"
    );
    let a = store.claim(claim("a", 2, 1_000, 10)).await?;
    ensure_eq!(store.queue_depth(10).await?, 1, "held runs are not waiting");
    ensure_eq!(
        store.queue_depth(1_010).await?,
        3,
        "runs whose lease expired wait again"
    );
    let got: Vec<(&str, u64, i64)> = a
        .iter()
        .map(|l| (l.run_id.as_str(), l.epoch, l.expires_ms))
        .collect();
    ensure_eq!(
        got,
        vec![(r1.id.as_str(), 1, 1_010), (r2.id.as_str(), 1, 1_010)],
        "oldest runs first, epoch 1"
    );
    ensure!(
        a.iter().all(|l| l.workspace == WS),
        "leases name their workspace"
    );
    let rest = store.claim(claim("b", 10, 1_000, 500)).await?;
    ensure_eq!(
        rest.iter().map(|l| l.run_id.clone()).collect::<Vec<_>>(),
        vec![r3.id.clone()],
        "held runs and finished runs are not claimable"
    );
    ensure!(
        store.claim(claim("b", 10, 1_000, 900)).await?.is_empty(),
        "nothing left before expiry"
    );
    let claimed = store.get_run(WS, &r1.id).await?;
    ensure_eq!(
        claimed.map(|r| (r.status, r.lease_owner, r.epoch)),
        Some((RunStatus::Running, Some("a".to_owned()), 1)),
        "a claimed queued run is running and owned"
    );

    // Worker a renews r2 but not r1; at 1010 r1's lease has expired.
    let renewed = store
        .renew(RenewRequest {
            workspace: WS.to_owned(),
            run_id: r2.id.clone(),
            worker_id: "a".to_owned(),
            epoch: 1,
            lease_ms: 5_000,
            now_ms: 1_000,
        })
        .await?;
    ensure_eq!(renewed.expires_ms, 6_000, "renewed expiry");
    let b = store.claim(claim("b", 10, 1_000, 1_010)).await?;
    ensure_eq!(
        b.iter()
            .map(|l| (l.run_id.clone(), l.epoch))
            .collect::<Vec<_>>(),
        vec![(r1.id.clone(), 2)],
        "the expired run goes to b with a higher epoch"
    );
    expect_kind(
        store.commit(commit(&r1, 1, vec![record(1, b"late")])).await,
        ErrorKind::StaleEpoch,
        "the old holder's commit",
    )?;
    expect_kind(
        store
            .renew(RenewRequest {
                workspace: WS.to_owned(),
                run_id: r1.id.clone(),
                worker_id: "a".to_owned(),
                epoch: 1,
                lease_ms: 1_000,
                now_ms: 1_011,
            })
            .await,
        ErrorKind::StaleEpoch,
        "the old holder's renewal",
    )?;
    expect_kind(
        store
            .renew(RenewRequest {
                workspace: WS.to_owned(),
                run_id: r1.id.clone(),
                worker_id: "a".to_owned(),
                epoch: 2,
                lease_ms: 1_000,
                now_ms: 1_011,
            })
            .await,
        ErrorKind::StaleEpoch,
        "renewing another worker's lease",
    )?;
    store.commit(commit(&r1, 2, vec![record(1, b"b")])).await?;
    store.release(WS, &r1.id, "b", 2).await?;
    let again = store.claim(claim("c", 10, 1_000, 1_020)).await?;
    ensure_eq!(
        again
            .iter()
            .map(|l| (l.run_id.clone(), l.epoch))
            .collect::<Vec<_>>(),
        vec![(r1.id.clone(), 3)],
        "a released run is claimable at once"
    );
    expect_kind(
        store.release(WS, "nope", "c", 1).await,
        ErrorKind::NotFound,
        "releasing an unknown run",
    )?;
    expect_kind(
        store.claim(claim("", 10, 1_000, 0)).await,
        ErrorKind::InvalidArgument,
        "an empty worker id",
    )?;
    Ok(())
}

/// Waiting runs are claimable only once a timer is due; timers are set and cleared by commits.
pub async fn waiting_runs_wake_on_due_timers(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    ensure_eq!(store.next_timer_due().await?, None, "no timers yet");
    let (run, lease) = claimed_run(&*store, 100).await?;
    store
        .commit(CommitRequest {
            run_update: Some(RunUpdate {
                status: Some(RunStatus::Waiting),
                ..RunUpdate::default()
            }),
            timers: vec![
                TimerOp::Set {
                    timer_id: "retry".to_owned(),
                    due_ms: 5_000,
                },
                TimerOp::Set {
                    timer_id: "deadline".to_owned(),
                    due_ms: 9_000,
                },
            ],
            ..commit(&run, lease.epoch, vec![record(1, b"wait")])
        })
        .await?;
    store.release(WS, &run.id, "worker-a", lease.epoch).await?;
    let timers = store.list_timers(WS, &run.id).await?;
    ensure_eq!(
        timers
            .iter()
            .map(|t| (t.timer_id.as_str(), t.due_ms))
            .collect::<Vec<_>>(),
        vec![("retry", 5_000), ("deadline", 9_000)],
        "timers by due instant"
    );
    ensure_eq!(
        store.next_timer_due().await?,
        Some(5_000),
        "the next due timer"
    );
    ensure_eq!(
        store.queue_depth(4_999).await?,
        0,
        "a waiting run without a due timer is not in the queue"
    );
    ensure_eq!(
        store.queue_depth(5_000).await?,
        1,
        "its due timer puts it there"
    );
    ensure!(
        store.claim(claim("w", 10, 1_000, 4_999)).await?.is_empty(),
        "a waiting run without a due timer is not claimable"
    );
    let woke = store.claim(claim("w", 10, 1_000, 5_000)).await?;
    ensure_eq!(woke.len(), 1, "the due timer wakes the run");
    let lease = woke
        .into_iter()
        .next()
        .ok_or_else(|| Failure("no lease".to_owned()))?;
    store
        .commit(CommitRequest {
            timers: vec![
                TimerOp::Clear {
                    timer_id: "retry".to_owned(),
                },
                TimerOp::Clear {
                    timer_id: "never-set".to_owned(),
                },
                TimerOp::Set {
                    timer_id: "deadline".to_owned(),
                    due_ms: 20_000,
                },
            ],
            ..commit(&run, lease.epoch, vec![record(2, b"fired")])
        })
        .await?;
    let timers = store.list_timers(WS, &run.id).await?;
    ensure_eq!(
        timers
            .iter()
            .map(|t| (t.timer_id.as_str(), t.due_ms))
            .collect::<Vec<_>>(),
        vec![("deadline", 20_000)],
        "cleared and re-armed timers"
    );
    Ok(())
}

/// Signals are stored in order until a commit consumes them, and wake waiting runs.
pub async fn signals_are_kept_until_consumed(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    store
        .commit(CommitRequest {
            run_update: Some(RunUpdate {
                status: Some(RunStatus::Waiting),
                ..RunUpdate::default()
            }),
            ..commit(&run, lease.epoch, Vec::new())
        })
        .await?;
    store.release(WS, &run.id, "worker-a", lease.epoch).await?;
    ensure!(
        store.claim(claim("w", 10, 1_000, 200)).await?.is_empty(),
        "a waiting run without a signal is not claimable"
    );
    let s1 = store
        .send_signal(WS, &run.id, "approve", json!({ "by": "ann" }), 300)
        .await?;
    let s2 = store
        .send_signal(WS, &run.id, "note", json!(null), 301)
        .await?;
    ensure!(s2.id > s1.id, "signal ids increase");
    ensure_eq!(
        store.list_signals(WS, &run.id).await?,
        vec![s1.clone(), s2.clone()],
        "signals in delivery order"
    );
    let woke = store.claim(claim("w", 10, 1_000, 400)).await?;
    ensure_eq!(woke.len(), 1, "a signal wakes the waiting run");
    let epoch = woke.first().map_or(0, |l| l.epoch);
    store
        .commit(CommitRequest {
            consume_signals: vec![s1.id],
            ..commit(&run, epoch, vec![record(1, b"approved")])
        })
        .await?;
    ensure_eq!(
        store.list_signals(WS, &run.id).await?,
        vec![s2],
        "consumed signal gone"
    );
    expect_kind(
        store.send_signal(WS, "nope", "x", json!(1), 1).await,
        ErrorKind::NotFound,
        "a signal to an unknown run",
    )?;
    expect_kind(
        store.send_signal(WS, &run.id, "", json!(1), 1).await,
        ErrorKind::InvalidArgument,
        "an empty signal name",
    )?;
    Ok(())
}

/// A cancellation of a run that never started ends it at once; one of a started run is
/// recorded (first reason kept) for its worker, and makes a waiting run claimable; an ended
/// run is returned unchanged; another workspace's run is not found.
pub async fn cancel_requests(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let queued = store.create_run(new_run(WS, "flow", 10)).await?;
    let cancelled = store
        .request_cancel(WS, &queued.id, "not needed", 20)
        .await?;
    ensure_eq!(
        (
            cancelled.status,
            cancelled.finished_ms,
            cancelled.cancel_requested_ms
        ),
        (RunStatus::Cancelled, Some(20), Some(20)),
        "a run that never started is cancelled at once"
    );
    ensure_eq!(
        cancelled
            .error
            .as_ref()
            .and_then(|e| e.get("kind"))
            .cloned(),
        Some(json!("cancelled")),
        "with an error of kind cancelled"
    );
    let again = store.request_cancel(WS, &queued.id, "twice", 30).await?;
    ensure_eq!(again, cancelled, "an ended run is returned unchanged");

    // A run a worker holds: the request waits for the worker.
    let (running, lease) = claimed_run(&*store, 100).await?;
    store
        .commit(commit(&running, lease.epoch, vec![record(1, b"{}")]))
        .await?;
    let asked = store.request_cancel(WS, &running.id, "first", 110).await?;
    let asked_again = store.request_cancel(WS, &running.id, "second", 120).await?;
    ensure_eq!(
        (
            asked.status,
            asked_again.cancel_requested_ms,
            asked_again.cancel_reason.as_deref()
        ),
        (RunStatus::Running, Some(110), Some("first")),
        "a started run keeps running with the first request recorded"
    );
    // Waiting and released, with nothing due: claimable only because of the request.
    store
        .commit(CommitRequest {
            run_update: Some(RunUpdate {
                status: Some(RunStatus::Waiting),
                ..RunUpdate::default()
            }),
            ..commit(&running, lease.epoch, vec![record(2, b"{}")])
        })
        .await?;
    store
        .release(WS, &running.id, "worker-a", lease.epoch)
        .await?;
    let claimed = store.claim(claim("worker-b", 10, 1_000, 130)).await?;
    ensure_eq!(
        claimed.iter().map(|l| l.run_id.clone()).collect::<Vec<_>>(),
        vec![running.id.clone()],
        "a waiting run with a cancellation request is claimable"
    );
    expect_kind(
        store
            .request_cancel("other", &running.id, "not yours", 140)
            .await,
        ErrorKind::NotFound,
        "another workspace's run",
    )?;
    Ok(())
}

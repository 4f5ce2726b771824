//! Conformance cases for what workers write: fenced atomic commits, the journal, step records,
//! the cache, workspace isolation and concurrent group commits.

use serde_json::json;

use super::leases::claim;
use super::{
    Backend, Failure, Outcome, WS, claimed_run, commit, ensure, ensure_eq, expect_kind, join_all,
    new_run, record,
};
use crate::{
    BoxFuture, CachePut, CommitReceipt, CommitRequest, ErrorKind, LogLine, RunFilter, RunStatus,
    RunUpdate, StepRecord, StepStatus, TimerOp, Usage,
};

fn step(key: &str, status: StepStatus, output: Option<serde_json::Value>) -> StepRecord {
    StepRecord {
        step_key: key.to_owned(),
        status,
        attempts: 1,
        input: Some(json!({ "url": "https://example.invalid" })),
        output,
        error: None,
        logs: vec![LogLine {
            at_ms: 7,
            level: "info".to_owned(),
            message: "hello".to_owned(),
            fields: json!({ "k": 1 }),
        }],
        started_ms: Some(5),
        finished_ms: Some(8),
        duration_ms: Some(3),
        cache_hit: false,
        idempotency_key: Some(format!("idem-{key}")),
        usage: Usage::ZERO,
    }
}

/// Appends across commits read back in order, with the receipt's last seq.
pub async fn commit_appends_and_reads_journal(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    ensure_eq!(lease.epoch, 1, "first claim has epoch 1");
    let receipt = store
        .commit(commit(
            &run,
            1,
            vec![record(1, b"a"), record(2, b""), record(3, b"c")],
        ))
        .await?;
    ensure_eq!(receipt, CommitReceipt { last_seq: 3 }, "receipt");
    let receipt = store
        .commit(commit(
            &run,
            1,
            vec![record(4, b"d"), record(5, &[0, 255, 1])],
        ))
        .await?;
    ensure_eq!(receipt.last_seq, 5, "receipt after the second commit");
    // A commit with no journal records is allowed (e.g. only step updates).
    let receipt = store.commit(commit(&run, 1, Vec::new())).await?;
    ensure_eq!(
        receipt.last_seq,
        5,
        "an empty journal append keeps the last seq"
    );
    let journal = store.read_journal(WS, &run.id).await?;
    let expected = vec![
        record(1, b"a"),
        record(2, b""),
        record(3, b"c"),
        record(4, b"d"),
        record(5, &[0, 255, 1]),
    ];
    ensure_eq!(journal, expected, "journal read back in order");
    ensure_eq!(
        store.get_run(WS, &run.id).await?.map(|r| r.last_seq),
        Some(5),
        "the run knows its last seq"
    );
    ensure!(
        store.read_journal(WS, "nope").await?.is_empty(),
        "an unknown run has an empty journal"
    );
    expect_kind(
        store
            .commit(CommitRequest {
                run_id: "nope".to_owned(),
                ..commit(&run, 1, vec![record(1, b"x")])
            })
            .await,
        ErrorKind::NotFound,
        "committing to an unknown run",
    )?;
    Ok(())
}

/// Commits with an epoch other than the held one, or after release, are refused.
pub async fn commit_refuses_stale_epoch(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    for epoch in [0, 2, u64::MAX] {
        expect_kind(
            store
                .commit(commit(&run, epoch, vec![record(1, b"x")]))
                .await,
            ErrorKind::StaleEpoch,
            &format!("commit with epoch {epoch} while {} is current", lease.epoch),
        )?;
    }
    store.release(WS, &run.id, "worker-a", lease.epoch).await?;
    expect_kind(
        store
            .commit(commit(&run, lease.epoch, vec![record(1, b"x")]))
            .await,
        ErrorKind::StaleEpoch,
        "commit after release",
    )?;
    expect_kind(
        store.release(WS, &run.id, "worker-a", lease.epoch).await,
        ErrorKind::StaleEpoch,
        "releasing twice",
    )?;
    ensure!(
        store.read_journal(WS, &run.id).await?.is_empty(),
        "refused commits wrote nothing"
    );
    Ok(())
}

/// Duplicates, gaps and seq 0 are refused, inside one request and against the stored journal.
pub async fn commit_refuses_seq_gaps_and_duplicates(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    let e = lease.epoch;
    expect_kind(
        store.commit(commit(&run, e, vec![record(0, b"x")])).await,
        ErrorKind::SeqConflict,
        "seq 0",
    )?;
    expect_kind(
        store.commit(commit(&run, e, vec![record(2, b"x")])).await,
        ErrorKind::SeqConflict,
        "a gap before the first record",
    )?;
    expect_kind(
        store
            .commit(commit(&run, e, vec![record(1, b"x"), record(3, b"x")]))
            .await,
        ErrorKind::SeqConflict,
        "a gap inside the request",
    )?;
    expect_kind(
        store
            .commit(commit(&run, e, vec![record(1, b"x"), record(1, b"x")]))
            .await,
        ErrorKind::SeqConflict,
        "a duplicate inside the request",
    )?;
    store
        .commit(commit(&run, e, vec![record(1, b"ok")]))
        .await?;
    expect_kind(
        store
            .commit(commit(&run, e, vec![record(1, b"again")]))
            .await,
        ErrorKind::SeqConflict,
        "a duplicate of a stored record",
    )?;
    expect_kind(
        store.commit(commit(&run, e, vec![record(3, b"x")])).await,
        ErrorKind::SeqConflict,
        "a gap after the stored records",
    )?;
    ensure_eq!(
        store.read_journal(WS, &run.id).await?,
        vec![record(1, b"ok")],
        "only the accepted record is stored"
    );
    Ok(())
}

/// A refused commit leaves no trace of any of its parts.
pub async fn commit_is_all_or_nothing(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    store
        .commit(commit(&run, lease.epoch, vec![record(1, b"a")]))
        .await?;
    let bad = CommitRequest {
        run_update: Some(RunUpdate {
            status: Some(RunStatus::Succeeded),
            output: Some(json!(1)),
            ..RunUpdate::default()
        }),
        steps: vec![step("s1", StepStatus::Succeeded, Some(json!(1)))],
        timers: vec![TimerOp::Set {
            timer_id: "t".to_owned(),
            due_ms: 5,
        }],
        cache: vec![CachePut {
            key: "k".to_owned(),
            value: b"v".to_vec(),
            expires_ms: i64::MAX,
        }],
        // Record 3 leaves a gap after record 2: the whole request must be refused.
        ..commit(&run, lease.epoch, vec![record(3, b"x")])
    };
    expect_kind(
        store.commit(bad).await,
        ErrorKind::SeqConflict,
        "the bad commit",
    )?;
    let after = store.get_run(WS, &run.id).await?;
    ensure_eq!(
        after
            .as_ref()
            .map(|r| (r.status, r.output.clone(), r.last_seq)),
        Some((RunStatus::Running, None, 1)),
        "run row untouched (claimed runs are running)"
    );
    ensure!(
        store.list_steps(WS, &run.id).await?.is_empty(),
        "no step written"
    );
    ensure!(
        store.list_timers(WS, &run.id).await?.is_empty(),
        "no timer written"
    );
    ensure_eq!(
        store.cache_get(WS, "k", 0).await?,
        None,
        "no cache entry written"
    );
    Ok(())
}

/// Step records insert, replace, list by key and round-trip every field.
pub async fn step_records_upsert(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    let mut b = step("b", StepStatus::Running, None);
    b.error = Some(json!({ "code": "x" }));
    b.cache_hit = true;
    let a = step("a", StepStatus::Succeeded, Some(json!({ "rows": [1, 2] })));
    store
        .commit(CommitRequest {
            steps: vec![b.clone(), a.clone()],
            ..commit(&run, lease.epoch, Vec::new())
        })
        .await?;
    ensure_eq!(
        store.list_steps(WS, &run.id).await?,
        vec![a.clone(), b.clone()],
        "steps by key"
    );
    let mut b2 = step("b", StepStatus::Failed, None);
    b2.attempts = 3;
    b2.logs = Vec::new();
    b2.input = None;
    b2.idempotency_key = None;
    store
        .commit(CommitRequest {
            steps: vec![b2.clone()],
            ..commit(&run, lease.epoch, vec![record(1, b"e")])
        })
        .await?;
    ensure_eq!(
        store.get_step(WS, &run.id, "b").await?,
        Some(b2),
        "replaced"
    );
    ensure_eq!(store.get_step(WS, &run.id, "a").await?, Some(a), "kept");
    ensure_eq!(
        store.get_step(WS, &run.id, "zz").await?,
        None,
        "missing step"
    );
    Ok(())
}

/// Usage (tokens, cost) is kept per step and per run as written, totals replacing totals;
/// a commit without a usage keeps the run's, and values beyond `i64` do not fail a commit.
pub async fn usage_is_kept_on_steps_and_runs(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    ensure_eq!(run.usage, Usage::ZERO, "a new run has consumed nothing");
    let mut a = step("a", StepStatus::Succeeded, Some(json!(1)));
    a.usage = Usage {
        input_tokens: 120,
        output_tokens: 30,
        cost_micro_usd: 2_250,
    };
    store
        .commit(CommitRequest {
            steps: vec![a.clone()],
            run_update: Some(RunUpdate {
                usage: Some(a.usage),
                ..RunUpdate::default()
            }),
            ..commit(&run, lease.epoch, vec![record(1, b"a")])
        })
        .await?;
    ensure_eq!(
        store.get_step(WS, &run.id, "a").await?,
        Some(a.clone()),
        "step usage"
    );
    let total = a.usage.plus(a.usage);
    store
        .commit(CommitRequest {
            run_update: Some(RunUpdate {
                usage: Some(total),
                ..RunUpdate::default()
            }),
            ..commit(&run, lease.epoch, vec![record(2, b"b")])
        })
        .await?;
    store
        .commit(CommitRequest {
            run_update: Some(RunUpdate {
                status: Some(RunStatus::Waiting),
                ..RunUpdate::default()
            }),
            ..commit(&run, lease.epoch, vec![record(3, b"c")])
        })
        .await?;
    ensure_eq!(
        store.get_run(WS, &run.id).await?.map(|r| r.usage),
        Some(total),
        "the latest total, kept by a commit without one"
    );
    let mut huge = step("huge", StepStatus::Succeeded, None);
    huge.usage.output_tokens = u64::MAX;
    store
        .commit(CommitRequest {
            steps: vec![huge],
            ..commit(&run, lease.epoch, vec![record(4, b"d")])
        })
        .await?;
    let read = store.get_step(WS, &run.id, "huge").await?;
    ensure!(
        read.is_some_and(|s| s.usage.output_tokens >= i64::MAX as u64),
        "an out-of-range count is stored saturated"
    );
    Ok(())
}

/// Payloads above the compression threshold round-trip exactly, compressible or not.
pub async fn compressed_payloads_round_trip(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    let compressible = "the same words again and again; "
        .repeat(10_000)
        .into_bytes();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noisy: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect();
    let big_json = json!({ "text": "z".repeat(100_000), "list": (0..2_000).collect::<Vec<_>>() });
    let mut big_step = step("big", StepStatus::Succeeded, Some(big_json.clone()));
    big_step.input = Some(big_json.clone());
    big_step.logs = (0..500)
        .map(|i| LogLine {
            at_ms: i,
            level: "debug".to_owned(),
            message: format!("line {i} of a long log"),
            fields: json!({ "i": i }),
        })
        .collect();
    store
        .commit(CommitRequest {
            steps: vec![big_step.clone()],
            cache: vec![CachePut {
                key: "big".to_owned(),
                value: compressible.clone(),
                expires_ms: i64::MAX,
            }],
            run_update: Some(RunUpdate {
                output: Some(big_json.clone()),
                ..RunUpdate::default()
            }),
            ..commit(
                &run,
                lease.epoch,
                vec![record(1, &compressible), record(2, &noisy)],
            )
        })
        .await?;
    let journal = store.read_journal(WS, &run.id).await?;
    ensure!(
        journal == vec![record(1, &compressible), record(2, &noisy)],
        "large journal payloads round-trip"
    );
    ensure!(
        store.get_step(WS, &run.id, "big").await? == Some(big_step),
        "a large step record round-trips"
    );
    ensure!(
        store.get_run(WS, &run.id).await?.and_then(|r| r.output) == Some(big_json),
        "a large run output round-trips"
    );
    ensure!(
        store.cache_get(WS, "big", 0).await?.map(|e| e.value) == Some(compressible),
        "a large cache value round-trips"
    );
    Ok(())
}

/// Cache entries expire, are replaced, and belong to one workspace.
pub async fn cache_get_put_expiry(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let put = |value: &[u8], expires_ms| CachePut {
        key: "k".to_owned(),
        value: value.to_vec(),
        expires_ms,
    };
    store.cache_put(WS, put(b"v1", 1_000)).await?;
    let got = store.cache_get(WS, "k", 999).await?;
    ensure_eq!(
        got.map(|e| (e.value, e.expires_ms)),
        Some((b"v1".to_vec(), 1_000)),
        "live entry"
    );
    ensure_eq!(
        store.cache_get(WS, "k", 1_000).await?,
        None,
        "expired at its instant"
    );
    ensure_eq!(
        store.cache_get("other", "k", 0).await?,
        None,
        "other workspace"
    );
    store.cache_put(WS, put(b"v2", 2_000)).await?;
    ensure_eq!(
        store.cache_get(WS, "k", 1_500).await?.map(|e| e.value),
        Some(b"v2".to_vec()),
        "replaced entry"
    );
    ensure_eq!(
        store.cache_get(WS, "missing", 0).await?,
        None,
        "missing key"
    );
    expect_kind(
        store.cache_put("missing-ws", put(b"v", 1)).await,
        ErrorKind::NotFound,
        "a cache entry in a missing workspace",
    )?;
    expect_kind(
        store
            .cache_put(
                WS,
                CachePut {
                    key: String::new(),
                    ..put(b"v", 1)
                },
            )
            .await,
        ErrorKind::InvalidArgument,
        "an empty cache key",
    )?;
    Ok(())
}

/// A run, its journal, steps, timers, signals and flows are invisible from another workspace,
/// and writes through another workspace are refused.
pub async fn cross_workspace_reads_return_nothing(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let (run, lease) = claimed_run(&*store, 100).await?;
    store
        .commit(CommitRequest {
            steps: vec![step("s", StepStatus::Succeeded, Some(json!(1)))],
            timers: vec![TimerOp::Set {
                timer_id: "t".to_owned(),
                due_ms: 1,
            }],
            ..commit(&run, lease.epoch, vec![record(1, b"a")])
        })
        .await?;
    store.send_signal(WS, &run.id, "s", json!(1), 1).await?;
    let o = "other";
    ensure_eq!(store.get_run(o, &run.id).await?, None, "get_run");
    ensure!(
        store.read_journal(o, &run.id).await?.is_empty(),
        "read_journal"
    );
    ensure!(store.list_steps(o, &run.id).await?.is_empty(), "list_steps");
    ensure_eq!(store.get_step(o, &run.id, "s").await?, None, "get_step");
    ensure!(
        store.list_timers(o, &run.id).await?.is_empty(),
        "list_timers"
    );
    ensure!(
        store.list_signals(o, &run.id).await?.is_empty(),
        "list_signals"
    );
    ensure!(
        store
            .list_runs(o, &RunFilter::default(), None, 10)
            .await?
            .runs
            .is_empty(),
        "list_runs"
    );
    expect_kind(
        store
            .commit(CommitRequest {
                workspace: o.to_owned(),
                ..commit(&run, lease.epoch, vec![record(2, b"x")])
            })
            .await,
        ErrorKind::NotFound,
        "commit through another workspace",
    )?;
    expect_kind(
        store.update_run(o, &run.id, RunUpdate::default()).await,
        ErrorKind::NotFound,
        "update_run through another workspace",
    )?;
    expect_kind(
        store.send_signal(o, &run.id, "s", json!(1), 1).await,
        ErrorKind::NotFound,
        "send_signal through another workspace",
    )?;
    expect_kind(
        store.release(o, &run.id, "worker-a", lease.epoch).await,
        ErrorKind::NotFound,
        "release through another workspace",
    )?;
    ensure_eq!(
        store.read_journal(WS, &run.id).await?.len(),
        1,
        "nothing leaked in"
    );
    Ok(())
}

/// 100 concurrent commits (one per run) are all acknowledged and all durable.
pub async fn concurrent_commits_all_acknowledged(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let mut runs = Vec::new();
    for i in 0..100 {
        runs.push(store.create_run(new_run(WS, "f", i)).await?);
    }
    let leases = store.claim(claim("w", 100, 60_000, 1_000)).await?;
    ensure_eq!(leases.len(), 100, "all runs claimed");
    let mut futures: Vec<BoxFuture<'_, Result<(), Failure>>> = Vec::new();
    for run in &runs {
        let store = &store;
        futures.push(Box::pin(async move {
            for round in 0..3_u64 {
                let payload = format!("{}-{round}", run.id);
                store
                    .commit(CommitRequest {
                        steps: vec![step(
                            &format!("s{round}"),
                            StepStatus::Succeeded,
                            Some(json!(round)),
                        )],
                        ..commit(run, 1, vec![record(round + 1, payload.as_bytes())])
                    })
                    .await?;
            }
            Ok(())
        }));
    }
    for result in join_all(futures).await {
        result?;
    }
    for run in &runs {
        let journal = store.read_journal(WS, &run.id).await?;
        ensure_eq!(
            journal.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "journal of {}",
            run.id
        );
        ensure_eq!(
            journal.last().map(|r| r.payload.clone()),
            Some(format!("{}-2", run.id).into_bytes()),
            "payload of {}",
            run.id
        );
        ensure_eq!(
            store.list_steps(WS, &run.id).await?.len(),
            3,
            "steps of {}",
            run.id
        );
    }
    Ok(())
}

/// In one burst of concurrent commits, refused ones (stale epoch, seq conflict) fail alone:
/// every valid commit next to them is acknowledged and stored, and none of the refused ones is.
pub async fn failing_commits_do_not_fail_others(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let mut runs = Vec::new();
    for i in 0..40 {
        runs.push(store.create_run(new_run(WS, "f", i)).await?);
    }
    let leases = store.claim(claim("w", 40, 60_000, 1_000)).await?;
    ensure_eq!(leases.len(), 40, "all runs claimed");
    let mut futures: Vec<BoxFuture<'_, (usize, Result<CommitReceipt, crate::Error>)>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let store = &store;
        // Every third commit carries a stale epoch, every third+1 a gap; the rest are valid.
        let (epoch, seq) = match i % 3 {
            0 => (7, 1),
            1 => (1, 2),
            _ => (1, 1),
        };
        futures.push(Box::pin(async move {
            let request = CommitRequest {
                steps: vec![step("s", StepStatus::Succeeded, Some(json!(i)))],
                ..commit(run, epoch, vec![record(seq, b"x")])
            };
            (i, store.commit(request).await)
        }));
    }
    for (i, result) in join_all(futures).await {
        let expected = match i % 3 {
            0 => Some(ErrorKind::StaleEpoch),
            1 => Some(ErrorKind::SeqConflict),
            _ => None,
        };
        ensure_eq!(
            result.as_ref().err().map(crate::Error::kind),
            expected,
            "outcome of commit {i}"
        );
    }
    for (i, run) in runs.iter().enumerate() {
        let stored = usize::from(i % 3 == 2);
        ensure_eq!(
            store.read_journal(WS, &run.id).await?.len(),
            stored,
            "journal of run {i}"
        );
        ensure_eq!(
            store.list_steps(WS, &run.id).await?.len(),
            stored,
            "steps of run {i}"
        );
    }
    Ok(())
}

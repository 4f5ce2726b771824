//! PostgreSQL-specific behaviour beyond the conformance suite: several processes (pools)
//! sharing one schema never get the same run from concurrent claims (`SKIP LOCKED`), a
//! commit fenced by a stale epoch is refused across connections, concurrent commits of one
//! run serialize, and connection and option errors are reported, not panicked on.

mod common;

use std::collections::BTreeMap;

use aion_store::conformance::new_run;
use aion_store::{
    ClaimRequest, CommitRequest, ErrorKind, JournalRecord, RunStatus, RunUpdate, Store,
};
use aion_store_postgres::{PgOptions, PgStore};
use common::Postgres;

fn claim(worker: &str, limit: u32, now_ms: i64) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        limit,
        lease_ms: 60_000,
        now_ms,
    }
}

fn record(seq: u64) -> JournalRecord {
    JournalRecord {
        seq,
        kind: "test.event".to_owned(),
        payload: vec![1, 2, 3],
        at_ms: 1_000,
    }
}

fn commit(run_id: &str, epoch: u64, journal: Vec<JournalRecord>) -> CommitRequest {
    CommitRequest {
        workspace: "default".to_owned(),
        run_id: run_id.to_owned(),
        epoch,
        journal,
        ..CommitRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_two_pools_never_share_a_run() {
    let backend = Postgres::default();
    let schema = backend.new_schema().await.unwrap();
    let a = backend.open(&schema).await.unwrap();
    let b = backend.open(&schema).await.unwrap();
    let total = 300;
    for i in 0..total {
        a.create_run(new_run("default", "flow", i)).await.unwrap();
    }
    let drain = |store: PgStore, worker: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let leases = store.claim(claim(worker, 7, 10_000)).await.unwrap();
                if leases.is_empty() {
                    return got;
                }
                got.extend(leases.into_iter().map(|lease| (lease.run_id, worker)));
            }
        })
    };
    let (from_a, from_b) = tokio::join!(drain(a.clone(), "worker-a"), drain(b, "worker-b"));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both claimers got work"
    );
    let mut owners: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (run, worker) in from_a.into_iter().chain(from_b) {
        owners.entry(run).or_default().push(worker);
    }
    assert_eq!(
        owners.len(),
        usize::try_from(total).unwrap(),
        "every run was claimed"
    );
    let shared: Vec<_> = owners.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(shared.is_empty(), "runs handed out twice: {shared:?}");
    // Every run is leased once, at epoch 1, by the worker that got it.
    for (run_id, workers) in &owners {
        let run = a.get_run("default", run_id).await.unwrap().unwrap();
        assert_eq!(run.epoch, 1);
        assert_eq!(run.lease_owner.as_deref(), Some(workers[0]));
        assert_eq!(run.status, RunStatus::Running);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_epoch_from_another_connection_is_refused() {
    let backend = Postgres::default();
    let schema = backend.new_schema().await.unwrap();
    let a = backend.open(&schema).await.unwrap();
    let b = backend.open(&schema).await.unwrap();
    let run = a.create_run(new_run("default", "flow", 1)).await.unwrap();
    let first = a.claim(claim("worker-a", 1, 1)).await.unwrap();
    assert_eq!(first[0].epoch, 1);
    a.commit(commit(&run.id, 1, vec![record(1)])).await.unwrap();
    // Worker a's lease expires; worker b (another pool) claims the run at epoch 2.
    let second = b.claim(claim("worker-b", 1, 100_000)).await.unwrap();
    assert_eq!((second.len(), second[0].epoch), (1, 2));
    let refused = a
        .commit(commit(&run.id, 1, vec![record(2)]))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::StaleEpoch, "{refused}");
    let receipt = b.commit(commit(&run.id, 2, vec![record(2)])).await.unwrap();
    assert_eq!(receipt.last_seq, 2);
    let journal = a.read_journal("default", &run.id).await.unwrap();
    assert_eq!(journal.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    // A terminal commit ends the lease: renewing it is refused, nobody can claim it.
    b.commit(CommitRequest {
        run_update: Some(RunUpdate {
            status: Some(RunStatus::Succeeded),
            ..RunUpdate::default()
        }),
        ..commit(&run.id, 2, Vec::new())
    })
    .await
    .unwrap();
    let ended = a.get_run("default", &run.id).await.unwrap().unwrap();
    assert_eq!(
        (ended.lease_owner, ended.status),
        (None, RunStatus::Succeeded)
    );
    assert!(
        a.claim(claim("worker-a", 5, 1_000_000))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_of_one_seq_from_two_pools_admit_one() {
    let backend = Postgres::default();
    let schema = backend.new_schema().await.unwrap();
    let a = backend.open(&schema).await.unwrap();
    let b = backend.open(&schema).await.unwrap();
    let run = a.create_run(new_run("default", "flow", 1)).await.unwrap();
    a.claim(claim("worker-a", 1, 1)).await.unwrap();
    for seq in 1..=20 {
        let (x, y) = tokio::join!(
            a.commit(commit(&run.id, 1, vec![record(seq)])),
            b.commit(commit(&run.id, 1, vec![record(seq)])),
        );
        let ok = usize::from(x.is_ok()) + usize::from(y.is_ok());
        assert_eq!(ok, 1, "seq {seq}: {x:?} / {y:?}");
        let failed = x.err().or(y.err()).unwrap();
        assert_eq!(failed.kind(), ErrorKind::SeqConflict, "{failed}");
    }
    let journal = b.read_journal("default", &run.id).await.unwrap();
    assert_eq!(journal.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_and_unreachable_servers_are_errors() {
    let url = common::database_url();
    let bad_schema = PgStore::connect(
        &url,
        PgOptions {
            schema: "x\"; DROP TABLE runs; --".to_owned(),
            ..PgOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_schema.kind(), ErrorKind::InvalidArgument);
    let bad_url = PgStore::connect("not a url", PgOptions::default())
        .await
        .unwrap_err();
    assert_eq!(bad_url.kind(), ErrorKind::InvalidArgument);
    let options = PgOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..PgOptions::default()
    };
    // Nothing listens on port 1.
    let down = PgStore::connect("postgres://root@127.0.0.1:1/test", options)
        .await
        .unwrap_err();
    assert_eq!(down.kind(), ErrorKind::Backend, "{down}");
    assert!(down.to_string().contains("unavailable"), "{down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_data_and_version() {
    let backend = Postgres::default();
    let schema = backend.new_schema().await.unwrap();
    let first = backend.open(&schema).await.unwrap();
    let run = first
        .create_run(new_run("default", "flow", 5))
        .await
        .unwrap();
    first.close().await;
    let (x, y) = tokio::join!(backend.open(&schema), backend.open(&schema));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(
        x.schema_version().await.unwrap(),
        aion_store_postgres::latest_version()
    );
    assert_eq!(y.get_run("default", &run.id).await.unwrap(), Some(run));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_database_rejects_fails_alone_in_its_batch() {
    let backend = Postgres::default();
    let store = backend.fresh_store().await.unwrap();
    let mut runs = Vec::new();
    for i in 0..12 {
        runs.push(
            store
                .create_run(new_run("default", "flow", i))
                .await
                .unwrap(),
        );
    }
    assert_eq!(store.claim(claim("w", 12, 100)).await.unwrap().len(), 12);
    let commits = runs.iter().enumerate().map(|(i, run)| {
        // PostgreSQL text cannot hold NUL: this cache key makes the batch statement fail.
        let key = if i == 5 { "bad\0key" } else { "good-key" };
        let request = CommitRequest {
            cache: vec![aion_store::CachePut {
                key: format!("{key}-{i}"),
                value: vec![1],
                expires_ms: 1_000_000,
            }],
            ..commit(&run.id, 1, vec![record(1)])
        };
        let store = store.clone();
        tokio::spawn(async move { store.commit(request).await })
    });
    let mut outcomes = Vec::new();
    for handle in commits.collect::<Vec<_>>() {
        outcomes.push(handle.await.unwrap());
    }
    for (i, (outcome, run)) in outcomes.iter().zip(&runs).enumerate() {
        let journal = store.read_journal("default", &run.id).await.unwrap();
        if i == 5 {
            let err = outcome.as_ref().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            assert!(journal.is_empty(), "the refused commit wrote nothing");
        } else {
            assert_eq!(outcome.as_ref().unwrap().last_seq, 1, "commit {i}");
            assert_eq!(journal.len(), 1);
        }
    }
}

//! The journal's packed chunks (one row per commit) and the migration from schema version 1
//! (text run ids, one journal row per record) to integer run keys and chunks.

use aion_store::conformance::new_run;
use aion_store::payload::encode;
use aion_store::{
    ClaimRequest, CommitRequest, DEFAULT_WORKSPACE, ErrorKind, JournalRecord, RunStatus,
    StepStatus, Store, TimerOp,
};
use aion_store_sqlite::{FILE_NAME, Options, SqliteStore, latest_version};

fn record(seq: u64, kind: &str, payload: Vec<u8>, at_ms: i64) -> JournalRecord {
    JournalRecord {
        seq,
        kind: kind.to_owned(),
        payload,
        at_ms,
    }
}

/// A store with one claimed run; returns the store, the run id and its epoch.
async fn claimed_run(dir: &std::path::Path) -> (SqliteStore, String, u64) {
    let store = SqliteStore::open(dir, Options::default()).await.unwrap();
    let run = store
        .create_run(new_run(DEFAULT_WORKSPACE, "f", 1))
        .await
        .unwrap();
    let lease = store
        .claim(ClaimRequest {
            worker_id: "w".to_owned(),
            limit: 1,
            lease_ms: 1_000_000,
            now_ms: 1,
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(lease.run_id, run.id);
    (store, run.id, lease.epoch)
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

#[tokio::test]
async fn packed_chunks_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id, epoch) = claimed_run(dir.path()).await;
    let large: Vec<u8> = (0..10_000_u32).map(|i| (i * 31 % 251) as u8).collect();
    let first = vec![
        record(1, "run.started", b"{\"x\":1}".to_vec(), 10),
        record(2, "empty", Vec::new(), -5),
        record(3, "large", large.clone(), i64::MAX),
        record(4, "ünïcode kind", vec![0, 255, 0], i64::MIN),
    ];
    let second = vec![record(5, "k", "repeat ".repeat(2_000).into_bytes(), 11)];
    let receipt = store
        .commit(commit(&run_id, epoch, first.clone()))
        .await
        .unwrap();
    assert_eq!(receipt.last_seq, 4);
    let receipt = store
        .commit(commit(&run_id, epoch, second.clone()))
        .await
        .unwrap();
    assert_eq!(receipt.last_seq, 5);
    // A commit without journal records writes no chunk and keeps the seq.
    let receipt = store
        .commit(commit(&run_id, epoch, Vec::new()))
        .await
        .unwrap();
    assert_eq!(receipt.last_seq, 5);

    let expected: Vec<JournalRecord> = first.into_iter().chain(second).collect();
    assert_eq!(
        store.read_journal("default", &run_id).await.unwrap(),
        expected
    );
    // One row per commit.
    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let chunks: Vec<(i64, i64)> = raw
        .prepare("SELECT first_seq, last_seq FROM journal ORDER BY first_seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chunks, vec![(1, 4), (5, 5)]);
    drop(raw);
    // And the same after reopening.
    drop(store);
    let store = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap();
    assert_eq!(
        store.read_journal("default", &run_id).await.unwrap(),
        expected
    );
}

#[tokio::test]
async fn corrupt_journal_chunks_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id, epoch) = claimed_run(dir.path()).await;
    store
        .commit(commit(
            &run_id,
            epoch,
            vec![
                record(1, "a", b"one".to_vec(), 1),
                record(2, "b", b"two".to_vec(), 2),
            ],
        ))
        .await
        .unwrap();
    let valid: Vec<u8> = {
        let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
        raw.query_row("SELECT records FROM journal", [], |row| row.get(0))
            .unwrap()
    };
    // `valid` is the stored form: a raw-blob tag, then the chunk (format byte first).
    let mut bad_format = valid.clone();
    bad_format[1] = 9;
    let mut bad_kind = valid.clone();
    bad_kind[6] = 0xff;
    let mut huge_length = valid.clone();
    huge_length[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, i64, i64)> = vec![
        ("garbage", b"\x00garbage".to_vec(), 1, 2),
        ("bad blob tag", b"\x07garbage".to_vec(), 1, 2),
        ("empty blob", Vec::new(), 1, 2),
        ("no records", vec![0, 1], 1, 2),
        ("bad format byte", bad_format, 1, 2),
        ("non-UTF-8 kind", bad_kind, 1, 2),
        ("length past the end", huge_length, 1, 2),
        ("truncated", valid[..valid.len() - 1].to_vec(), 1, 2),
        ("range longer than the records", valid.clone(), 1, 3),
        ("range shorter than the records", valid.clone(), 1, 1),
        ("reversed range", valid.clone(), 2, 1),
        ("negative range", valid.clone(), -2, -1),
    ];
    for (name, blob, first, last) in cases {
        let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
        raw.execute(
            "UPDATE journal SET records = ?1, first_seq = ?2, last_seq = ?3",
            rusqlite::params![blob, first, last],
        )
        .unwrap();
        drop(raw);
        let err = store.read_journal("default", &run_id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{name}: {err}");
    }
    // Overlapping chunks are corrupt too.
    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    raw.execute(
        "UPDATE journal SET records = ?1, first_seq = 1, last_seq = 2",
        rusqlite::params![valid],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO journal (run_key, first_seq, last_seq, records) \
         SELECT run_key, 2, 3, records FROM journal",
        [],
    )
    .unwrap();
    drop(raw);
    let err = store.read_journal("default", &run_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

/// Builds a version-1 database by hand: the 0001 schema and rows as version 1 wrote them.
fn version_1_database(path: &std::path::Path) -> Vec<u8> {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(include_str!("../src/migrations/0001_initial.sql"))
        .unwrap();
    raw.execute_batch("PRAGMA application_id = 0x41494F4E; PRAGMA user_version = 1;")
        .unwrap();
    let json = |text: &str| encode(text.as_bytes());
    let run =
        |id: &str, created_ms: i64, owner: Option<&str>, last_seq: i64| {
            raw.execute(
            "INSERT INTO runs (id, workspace, flow_id, flow_version, plan_hash, input, trigger, \
             status, created_ms, lease_owner, lease_epoch, lease_expires_ms, last_seq) \
             VALUES (?1, 'default', 'f', 1, 'h', ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
            rusqlite::params![
                id,
                json("{\"in\":1}"),
                json("{}"),
                if owner.is_some() { "running" } else { "waiting" },
                created_ms,
                owner,
                owner.map(|_| 1_000_000_i64),
                last_seq,
            ],
        )
        .unwrap();
        };
    // Created in the opposite order of their ids, so keys and ids sort differently.
    run("run-b", 5, Some("w"), 3);
    run("run-a", 9, None, 1);
    let large = "compressible ".repeat(1_000).into_bytes();
    let journal = |run_id: &str, seq: i64, kind: &str, payload: &[u8], at_ms: i64| {
        raw.execute(
            "INSERT INTO journal (run_id, seq, kind, payload, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![run_id, seq, kind, encode(payload), at_ms],
        )
        .unwrap();
    };
    journal("run-b", 1, "run.started", b"{}", 100);
    journal("run-b", 2, "empty", b"", 101);
    journal("run-b", 3, "large", &large, 102);
    journal("run-a", 1, "run.started", b"a", 200);
    raw.execute(
        "INSERT INTO steps (run_id, step_key, status, attempts, input, output, error, logs, \
         started_ms, finished_ms, duration_ms, cache_hit, idempotency_key) \
         VALUES ('run-b', 'fetch', 'succeeded', 2, ?1, ?2, NULL, ?3, 10, 20, 10, 1, 'idem')",
        rusqlite::params![json("{\"url\":\"u\"}"), json("{\"ok\":true}"), json("[]")],
    )
    .unwrap();
    raw.execute(
        "INSERT INTO timers (run_id, timer_id, due_ms) VALUES ('run-a', 'sleep', 500)",
        [],
    )
    .unwrap();
    for (id, name) in [
        (1, "first"),
        (2, "consumed"),
        (3, "kept"),
        (4, "consumed too"),
    ] {
        raw.execute(
            "INSERT INTO signals (id, run_id, name, payload, sent_ms) VALUES (?1, 'run-a', ?2, ?3, ?4)",
            rusqlite::params![id, name, json("{\"s\":1}"), 300 + id],
        )
        .unwrap();
    }
    // Consumed signals are deleted; their ids must not be handed out again.
    raw.execute("DELETE FROM signals WHERE id IN (2, 4)", [])
        .unwrap();
    large
}

#[tokio::test]
async fn version_1_databases_migrate_with_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let large = version_1_database(&dir.path().join(FILE_NAME));
    let store = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), latest_version());

    let b = store.get_run("default", "run-b").await.unwrap().unwrap();
    assert_eq!(
        (b.status, b.epoch, b.last_seq, b.created_ms),
        (RunStatus::Running, 1, 3, 5)
    );
    assert_eq!(b.input, serde_json::json!({"in": 1}));
    assert_eq!(b.lease_owner.as_deref(), Some("w"));
    let a = store.get_run("default", "run-a").await.unwrap().unwrap();
    assert_eq!((a.status, a.last_seq), (RunStatus::Waiting, 1));
    assert!(store.get_run("other", "run-a").await.unwrap().is_none());

    let journal = store.read_journal("default", "run-b").await.unwrap();
    assert_eq!(
        journal,
        vec![
            record(1, "run.started", b"{}".to_vec(), 100),
            record(2, "empty", Vec::new(), 101),
            record(3, "large", large, 102),
        ]
    );
    assert_eq!(
        store.read_journal("default", "run-a").await.unwrap(),
        vec![record(1, "run.started", b"a".to_vec(), 200)]
    );

    let steps = store.list_steps("default", "run-b").await.unwrap();
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    assert_eq!(step.step_key, "fetch");
    assert_eq!(step.status, StepStatus::Succeeded);
    assert_eq!(step.attempts, 2);
    assert_eq!(step.input, Some(serde_json::json!({"url": "u"})));
    assert_eq!(step.output, Some(serde_json::json!({"ok": true})));
    assert_eq!(step.error, None);
    assert!(step.logs.is_empty());
    assert_eq!(
        (step.started_ms, step.finished_ms, step.duration_ms),
        (Some(10), Some(20), Some(10))
    );
    assert!(step.cache_hit);
    assert_eq!(step.idempotency_key.as_deref(), Some("idem"));
    assert_eq!(
        store.get_step("default", "run-b", "fetch").await.unwrap(),
        Some(step.clone())
    );
    assert!(
        store
            .list_steps("default", "run-a")
            .await
            .unwrap()
            .is_empty()
    );

    let timers = store.list_timers("default", "run-a").await.unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(
        (
            timers[0].run_id.as_str(),
            timers[0].timer_id.as_str(),
            timers[0].due_ms
        ),
        ("run-a", "sleep", 500)
    );
    assert_eq!(store.next_timer_due().await.unwrap(), Some(500));

    let signals = store.list_signals("default", "run-a").await.unwrap();
    let summary: Vec<(u64, &str, &str, i64)> = signals
        .iter()
        .map(|s| (s.id, s.run_id.as_str(), s.name.as_str(), s.sent_ms))
        .collect();
    assert_eq!(
        summary,
        vec![(1, "run-a", "first", 301), (3, "run-a", "kept", 303)]
    );
    assert_eq!(signals[0].payload, serde_json::json!({"s": 1}));
    let sent = store
        .send_signal("default", "run-a", "new", serde_json::json!(2), 400)
        .await
        .unwrap();
    assert_eq!(sent.id, 5, "signal ids continue after the consumed ones");

    // The journal continues at the next seq, and the seq check still holds.
    let err = store
        .commit(commit("run-b", 1, vec![record(3, "again", Vec::new(), 1)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SeqConflict, "{err}");
    let receipt = store
        .commit(CommitRequest {
            steps: vec![aion_store::StepRecord {
                usage: Default::default(),
                step_key: "next".to_owned(),
                ..step.clone()
            }],
            timers: vec![TimerOp::Set {
                timer_id: "t".to_owned(),
                due_ms: 700,
            }],
            ..commit(
                "run-b",
                1,
                vec![
                    record(4, "step.succeeded", b"4".to_vec(), 103),
                    record(5, "step.succeeded", b"5".to_vec(), 104),
                ],
            )
        })
        .await
        .unwrap();
    assert_eq!(receipt.last_seq, 5);
    let journal = store.read_journal("default", "run-b").await.unwrap();
    let seqs: Vec<u64> = journal.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(journal[4], record(5, "step.succeeded", b"5".to_vec(), 104));
    assert_eq!(store.list_steps("default", "run-b").await.unwrap().len(), 2);
    assert_eq!(
        store.list_timers("default", "run-b").await.unwrap().len(),
        1
    );
    // run-a's data did not move to run-b.
    assert_eq!(
        store.list_signals("default", "run-a").await.unwrap().len(),
        3
    );
    assert_eq!(
        store.list_timers("default", "run-a").await.unwrap().len(),
        1
    );

    // Nothing dangles, the old tables are gone, and later migrations' tables exist.
    drop(store);
    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    let dangling: i64 = raw
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "api_keys",
            "cache",
            "credentials",
            "cron_slots",
            "flow_versions",
            "idempotency",
            "journal",
            "members",
            "runs",
            "sessions",
            "signals",
            "sqlite_sequence",
            "steps",
            "timers",
            "users",
            "vars",
            "webhook_deliveries",
            "webhooks",
            "workspaces"
        ]
    );
}

#[tokio::test]
async fn a_failed_migration_leaves_version_1_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    version_1_database(&path);
    // A damaged payload makes the journal conversion fail part-way.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE journal SET payload = x'07' WHERE run_id = 'run-b' AND seq = 2",
        [],
    )
    .unwrap();
    drop(raw);
    let err = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");

    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 1);
    let rows: i64 = raw
        .query_row(
            "SELECT count(*) FROM journal WHERE run_id = 'run-b'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 3);
    let runs: i64 = raw
        .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(runs, 2);
    let leftovers: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('runs_new', 'journal_v1')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0);
}

//! SQLite-specific behaviour: data survives reopening, large blobs are compressed on disk,
//! the file carries our markers, and other applications' markers are refused.

use aion_store::conformance::new_run;
use aion_store::{ClaimRequest, CommitRequest, DEFAULT_WORKSPACE, ErrorKind, JournalRecord, Store};
use aion_store_sqlite::{
    APPLICATION_ID, Durability, FILE_NAME, Options, SqliteStore, latest_version,
};

#[tokio::test]
async fn commits_survive_reopen_and_blobs_are_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        durability: Durability::Full,
        readers: 1,
    };
    let store = SqliteStore::open(dir.path(), options.clone())
        .await
        .unwrap();
    let run = store
        .create_run(new_run(DEFAULT_WORKSPACE, "f", 1))
        .await
        .unwrap();
    let lease = store
        .claim(ClaimRequest {
            worker_id: "w".to_owned(),
            limit: 1,
            lease_ms: 1_000,
            now_ms: 1,
        })
        .await
        .unwrap()
        .remove(0);
    let payload = "repeat me ".repeat(10_000).into_bytes();
    store
        .commit(CommitRequest {
            workspace: "default".to_owned(),
            run_id: run.id.clone(),
            epoch: lease.epoch,
            journal: vec![JournalRecord {
                seq: 1,
                kind: "k".to_owned(),
                payload: payload.clone(),
                at_ms: 2,
            }],
            ..CommitRequest::default()
        })
        .await
        .unwrap();
    drop(store);

    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    // The record is packed into its commit's chunk, and the chunk is stored compressed.
    let stored: i64 = raw
        .query_row("SELECT length(records) FROM journal", [], |row| row.get(0))
        .unwrap();
    assert!(
        stored < 2_000,
        "a 100 KB repetitive payload is stored in {stored} bytes"
    );
    let app_id: i32 = raw
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .unwrap();
    assert_eq!(app_id, APPLICATION_ID);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(raw);

    let store = SqliteStore::open(dir.path(), options).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), latest_version());
    let journal = store.read_journal("default", &run.id).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].payload, payload);
}

#[tokio::test]
async fn another_applications_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    raw.execute_batch("PRAGMA application_id = 1234").unwrap();
    drop(raw);
    let err = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAStore);
    assert!(err.to_string().contains("0x4d2"), "{err}");
}

#[tokio::test]
async fn an_empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), b"").unwrap();
    let store = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), latest_version());
}

#[tokio::test]
async fn corrupt_blobs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap();
    let run = store
        .create_run(new_run(DEFAULT_WORKSPACE, "f", 1))
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(dir.path().join(FILE_NAME)).unwrap();
    raw.execute("UPDATE runs SET input = x'01ffffff7f00'", [])
        .unwrap();
    drop(raw);
    let err = store.get_run("default", &run.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

#[tokio::test]
async fn damaged_files_are_refused_without_panicking() {
    let mut header_then_noise = b"SQLite format 3\0".to_vec();
    header_then_noise.extend((0..4096_u32).map(|i| (i * 7 % 256) as u8));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("short", b"not a db".to_vec()),
        ("text", "hello\n".repeat(2000).into_bytes()),
        ("sqlite header then noise", header_then_noise),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
        let err = SqliteStore::open(dir.path(), Options::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAStore, "{name}: {err}");
        // The refused file is left as it was.
        assert_eq!(
            std::fs::read(dir.path().join(FILE_NAME)).unwrap(),
            bytes,
            "{name}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
    let err = SqliteStore::open(dir.path(), Options::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
}

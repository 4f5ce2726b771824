//! SQLite-specific behaviour of accounts (migration 3): a version-2 database migrates keeping
//! its runs, accounts survive reopening, what is on disk (lowercased emails, compressed
//! variables, checked roles), and API keys refer to existing workspaces.

use aion_store::conformance::new_run;
use aion_store::payload::encode;
use aion_store::{
    Accounts, ApiKey, DEFAULT_WORKSPACE, ErrorKind, NewUser, Role, RunStatus, Session, Store,
};
use aion_store_sqlite::{FILE_NAME, Options, SqliteStore, latest_version};

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_ms: 1_700_000_000_000,
    }
}

fn api_key(id: &str, workspace: &str, user_id: &str) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        workspace: workspace.to_owned(),
        user_id: user_id.to_owned(),
        role: Role::Runner,
        name: "ci".to_owned(),
        secret_hash: "ab".repeat(32),
        created_ms: 5,
        last_used_ms: None,
        revoked_ms: None,
    }
}

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(dir, Options::default()).await.unwrap()
}

fn raw(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(FILE_NAME)).unwrap()
}

fn tables(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Builds a version-2 database as version 2 did: migrations 1 and 2 (whose data step, with
/// no version-1 journal, only drops `journal_v1`), then a run and a workspace written with
/// version 2's columns.
fn version_2_database(dir: &std::path::Path) {
    let conn = raw(dir);
    // As `schema::migrate` runs them: migration 2 rebuilds tables.
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(include_str!("../src/migrations/0001_initial.sql"))
        .unwrap();
    conn.execute_batch(include_str!("../src/migrations/0002_integer_run_keys.sql"))
        .unwrap();
    conn.execute_batch(
        "DROP TABLE journal_v1; PRAGMA application_id = 0x41494F4E; PRAGMA user_version = 2;",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO workspaces (id, created_ms) VALUES ('team', 3)",
        [],
    )
    .unwrap();
    // A flow whose first version served `old` and whose latest serves `incoming`.
    for (version, path) in [(1, "old"), (2, "incoming")] {
        let plan = serde_json::json!({
            "triggers": [
                { "type": "cron", "schedule": "* * * * *", "timezone": "UTC" },
                { "type": "webhook", "path": path, "respond": "on_finish", "secret": null }
            ]
        });
        conn.execute(
            "INSERT INTO flow_versions (workspace, flow_id, version, document, format, plan, \
             plan_hash, created_ms) VALUES ('team', 'hooked', ?1, ?2, 'yaml', ?3, 'h', 1)",
            rusqlite::params![
                version,
                encode(b"aion: 1\nid: hooked\n"),
                aion_store::payload::encode_json(&plan).unwrap()
            ],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO runs (id, workspace, flow_id, flow_version, plan_hash, input, trigger, \
         status, created_ms, last_seq) \
         VALUES ('run-old', 'team', 'f', 1, 'h', ?1, ?2, 'succeeded', 7, 0)",
        rusqlite::params![encode(b"{\"in\":1}"), encode(b"{}")],
    )
    .unwrap();
    assert!(!tables(&conn).contains(&"users".to_owned()));
}

#[tokio::test]
async fn version_2_databases_migrate_keeping_their_runs() {
    let dir = tempfile::tempdir().unwrap();
    version_2_database(dir.path());
    let store = open(dir.path()).await;
    assert_eq!(store.schema_version().await.unwrap(), latest_version());
    // Migration 4 registered the webhook paths of the flows stored before.
    assert_eq!(
        store.webhook_flow("team", "incoming").await.unwrap(),
        Some("hooked".to_owned())
    );
    assert_eq!(store.webhook_flow("team", "old").await.unwrap(), None);

    let run = store.get_run("team", "run-old").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.created_ms, run.input),
        (RunStatus::Succeeded, 7, serde_json::json!({"in": 1}))
    );
    // The migrated store takes new runs and accounts in the old workspace.
    store.create_run(new_run("team", "f", 8)).await.unwrap();
    let user = store
        .create_user(new_user("Old@Team.example"))
        .await
        .unwrap();
    store
        .set_member("team", &user.id, Role::Owner, 9)
        .await
        .unwrap();
    store
        .set_var("team", "region", serde_json::json!("eu"), 9)
        .await
        .unwrap();
    drop(store);

    let conn = raw(dir.path());
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    for table in ["api_keys", "members", "sessions", "users", "vars"] {
        assert!(tables(&conn).contains(&table.to_owned()), "{table}");
    }
    let strict: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_list WHERE strict = 1 \
             AND name IN ('api_keys', 'members', 'sessions', 'users', 'vars')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(strict, 5, "the accounts tables are STRICT");
}

#[tokio::test]
async fn accounts_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    store.create_workspace("team", 1).await.unwrap();
    let run = store
        .create_run(new_run(DEFAULT_WORKSPACE, "f", 2))
        .await
        .unwrap();
    let user = store
        .create_user(new_user("Amy@Example.com"))
        .await
        .unwrap();
    store.set_login_state(&user.id, 2, Some(99)).await.unwrap();
    let member = store
        .set_member("team", &user.id, Role::Editor, 3)
        .await
        .unwrap();
    let key = store
        .create_api_key(api_key("k1", "team", &user.id))
        .await
        .unwrap();
    store.touch_api_key("k1", 6).await.unwrap();
    let session = Session {
        id_hash: "cd".repeat(32),
        user_id: user.id.clone(),
        csrf_hash: "ef".repeat(32),
        created_ms: 4,
        expires_ms: 1_000,
    };
    store.create_session(session.clone()).await.unwrap();
    let big = serde_json::json!({ "rows": vec!["same row"; 2_000] });
    store.set_var("team", "big", big.clone(), 7).await.unwrap();
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(store.schema_version().await.unwrap(), latest_version());
    assert_eq!(
        store.get_run(DEFAULT_WORKSPACE, &run.id).await.unwrap(),
        Some(run)
    );
    let found = store
        .user_by_email("amy@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert_eq!((found.failed_logins, found.locked_until_ms), (2, Some(99)));
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(store.list_members("team").await.unwrap(), vec![member]);
    assert_eq!(
        store.api_key("k1").await.unwrap(),
        Some(ApiKey {
            last_used_ms: Some(6),
            ..key
        })
    );
    assert_eq!(
        store.session(&session.id_hash, 500).await.unwrap(),
        Some(session)
    );
    let vars = store.list_vars("team").await.unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].value, big);
    drop(store);

    // On disk: the email lowercased, the large variable compressed.
    let conn = raw(dir.path());
    let email: String = conn
        .query_row("SELECT email FROM users", [], |row| row.get(0))
        .unwrap();
    assert_eq!(email, "amy@example.com");
    let stored: i64 = conn
        .query_row("SELECT length(value) FROM vars", [], |row| row.get(0))
        .unwrap();
    assert!(
        stored < 1_000,
        "a {} byte variable is stored in {stored} bytes",
        big.to_string().len()
    );
}

#[tokio::test]
async fn an_api_key_for_a_missing_workspace_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let user = store
        .create_user(new_user("amy@example.com"))
        .await
        .unwrap();
    let err = store
        .create_api_key(api_key("k1", "missing", &user.id))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(store.api_key("k1").await.unwrap(), None);
    // The same key in an existing workspace is fine: nothing of the refused one remains.
    store
        .create_api_key(api_key("k1", DEFAULT_WORKSPACE, &user.id))
        .await
        .unwrap();
    drop(store);

    // The foreign key refuses it too, should a write ever skip the check.
    let conn = raw(dir.path());
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let err = conn
        .execute(
            "INSERT INTO api_keys (id, workspace, user_id, role, name, secret_hash, created_ms) \
             VALUES ('k2', 'missing', ?1, 'viewer', 'x', 'h', 1)",
            [&user.id],
        )
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );
}

#[tokio::test]
async fn the_schema_refuses_unknown_roles() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let user = store
        .create_user(new_user("amy@example.com"))
        .await
        .unwrap();
    drop(store);
    let conn = raw(dir.path());
    for sql in [
        "INSERT INTO members (workspace, user_id, role, added_ms) \
         VALUES ('default', ?1, 'admin', 1)",
        "INSERT INTO api_keys (id, workspace, user_id, role, name, secret_hash, created_ms) \
         VALUES ('k', 'default', ?1, 'Owner', 'x', 'h', 1)",
    ] {
        let err = conn.execute(sql, [&user.id]).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation),
            "{sql}"
        );
    }
}

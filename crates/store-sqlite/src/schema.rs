//! Opening the database file: recognising our files (the `application_id` marker), refusing
//! foreign or newer ones with a clear error, and applying the embedded migrations in one
//! transaction, tracked by `user_version`. Migrations run with foreign keys off (so tables can
//! be rebuilt without cascading deletes) and must leave no dangling reference.
//!
//! It deliberately never repairs or rewrites a file it does not recognise.

use std::path::Path;

use aion_store::payload::{decode, encode};
use aion_store::{Error, JournalRecord};
use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use crate::{Durability, db};
use aion_store::chunk;

/// Our marker in the SQLite header (`PRAGMA application_id`): "AION" in ASCII.
pub const APPLICATION_ID: i32 = 0x4149_4F4E;

/// A data conversion done in Rust after a migration's SQL.
type Convert = fn(&Connection) -> Result<(), Error>;

/// One schema migration: its SQL, then (optionally) a data conversion done in Rust, both
/// inside the migration transaction.
struct Migration {
    sql: &'static str,
    convert: Option<Convert>,
}

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: include_str!("migrations/0001_initial.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0002_integer_run_keys.sql"),
        convert: Some(pack_journal_v1),
    },
    Migration {
        sql: include_str!("migrations/0003_accounts.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0004_webhooks.sql"),
        convert: Some(index_webhooks),
    },
    Migration {
        sql: include_str!("migrations/0005_cron.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0006_cancel.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0007_idempotency.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0008_credentials.sql"),
        convert: None,
    },
    Migration {
        sql: include_str!("migrations/0009_usage.sql"),
        convert: None,
    },
];

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Opens the writer connection: checks the file, sets the pragmas and migrates.
pub fn open_writer(path: &Path, durability: Durability) -> Result<Connection, Error> {
    let shown = path.display().to_string();
    let not_a_store = |reason: String| Error::NotAStore {
        path: shown.clone(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::backend)?;
    }
    let conn = Connection::open(path).map_err(|err| classify(err, &shown))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    let (app_id, version, objects) = inspect(&conn).map_err(|err| classify(err, &shown))?;
    match app_id {
        APPLICATION_ID => {
            let supported = latest_version();
            if version > supported {
                return Err(Error::SchemaTooNew {
                    found: version,
                    supported,
                });
            }
        }
        0 if objects == 0 && version == 0 => {}
        0 => {
            return Err(not_a_store(
                "it is an SQLite database without Aion's marker (another application's data?)"
                    .to_owned(),
            ));
        }
        other => {
            return Err(not_a_store(format!(
                "it is an SQLite database of another application (application_id {other:#x})"
            )));
        }
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|err| classify(err, &shown))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Backend(
            format!("could not switch {shown} to WAL mode (got `{mode}`)").into(),
        ));
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    // Checkpoints are the checkpointer thread's job (see `threads`). With `normal` durability
    // the writer never runs one itself (SQLite's automatic checkpoint stalls the commit that
    // crosses 1,000 WAL pages, which was the p99 of a run); with `full` it keeps SQLite's
    // automatic checkpoint as well, because there a WAL left to grow makes every commit's
    // fsync also commit the file's new size. After a checkpoint the WAL is cut back to 64 MiB.
    let autocheckpoint = match durability {
        Durability::Normal => 0,
        Durability::Full => 1000,
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = {autocheckpoint}; PRAGMA journal_size_limit = 67108864;"
    ))
    .map_err(db)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Opens the checkpointer's connection to an already migrated file.
pub fn open_checkpointer(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")
        .map_err(db)?;
    Ok(conn)
}

/// Opens a read-only connection to an already migrated file.
pub fn open_reader(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    Ok(conn)
}

fn inspect(conn: &Connection) -> rusqlite::Result<(i32, u32, i64)> {
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let objects: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    Ok((app_id, u32::try_from(version).unwrap_or(u32::MAX), objects))
}

/// Errors that mean "this file is not a database we can read" become [`Error::NotAStore`].
fn classify(err: rusqlite::Error, path: &str) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotAStore {
            path: path.to_owned(),
            reason: "it is not an SQLite database".to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::NotAStore {
            path: path.to_owned(),
            reason: "the SQLite file is corrupt".to_owned(),
        },
        _ => db(err),
    }
}

/// Applies the pending migrations in one `BEGIN IMMEDIATE` transaction: all of them or (on
/// any failure) none. Foreign keys are switched off around the transaction (the pragma is a
/// no-op inside one), as SQLite's table-rebuild procedure requires, and back on afterwards
/// whatever happened; before committing, `PRAGMA foreign_key_check` must find nothing.
fn migrate(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(db)?;
    let result = migrate_without_foreign_keys(conn);
    let restored = conn.execute_batch("PRAGMA foreign_keys = ON").map_err(db);
    result.and(restored)
}

fn migrate_without_foreign_keys(conn: &Connection) -> Result<(), Error> {
    let enforced: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
        .map_err(db)?;
    if enforced != 0 {
        return Err(Error::Backend(
            "could not switch foreign keys off to migrate".into(),
        ));
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let result = (|| {
        let current: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(db)?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
            conn.execute_batch(migration.sql).map_err(db)?;
            if let Some(convert) = migration.convert {
                convert(conn)?;
            }
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
                index + 1
            ))
            .map_err(db)?;
        }
        // Only after a migration: the check reads every table with a foreign key.
        if current < MIGRATIONS.len() {
            check_foreign_keys(conn)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(db),
        Err(err) => {
            // The migration failed part-way: nothing of it may stay.
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// Fails if any row refers to a row that does not exist.
fn check_foreign_keys(conn: &Connection) -> Result<(), Error> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check").map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    match rows.next().map_err(db)? {
        None => Ok(()),
        Some(row) => {
            let table: String = row.get(0).map_err(db)?;
            let rowid: Option<i64> = row.get(1).map_err(db)?;
            let parent: String = row.get(2).map_err(db)?;
            Err(Error::Corrupt(format!(
                "migration left a dangling reference: a row of `{table}` (rowid {}) refers to \
                 a missing `{parent}` row",
                rowid.map_or_else(|| "none".to_owned(), |id| id.to_string())
            )))
        }
    }
}

/// Migration 4's data step: registers the webhook paths of every flow's latest version (read
/// from its stored plan: `triggers[]` with `"type": "webhook"`). Should two flows claim one
/// path (nothing prevented it before), the first by flow id keeps it.
fn index_webhooks(conn: &Connection) -> Result<(), Error> {
    let mut select = conn
        .prepare(
            "SELECT f.workspace, f.flow_id, f.plan FROM flow_versions f \
             WHERE f.version = (SELECT max(version) FROM flow_versions \
             WHERE workspace = f.workspace AND flow_id = f.flow_id) \
             ORDER BY f.workspace, f.flow_id",
        )
        .map_err(db)?;
    let mut insert = conn
        .prepare("INSERT OR IGNORE INTO webhooks (workspace, path, flow_id) VALUES (?1, ?2, ?3)")
        .map_err(db)?;
    let mut rows = select.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let workspace: String = row.get(0).map_err(db)?;
        let flow_id: String = row.get(1).map_err(db)?;
        let stored: Vec<u8> = row.get(2).map_err(db)?;
        let plan: serde_json::Value = aion_store::payload::decode_json(&stored).map_err(|err| {
            Error::Corrupt(format!(
                "migrating webhooks: the plan of flow {flow_id}: {err}"
            ))
        })?;
        let triggers = plan.get("triggers").and_then(serde_json::Value::as_array);
        for trigger in triggers.into_iter().flatten() {
            if trigger.get("type").and_then(serde_json::Value::as_str) == Some("webhook")
                && let Some(path) = trigger.get("path").and_then(serde_json::Value::as_str)
            {
                insert
                    .execute(params![workspace, path, flow_id])
                    .map_err(db)?;
            }
        }
    }
    Ok(())
}

/// Migration 2's data step: turns each row of the old per-record journal (`journal_v1`) into
/// a one-record chunk of the new `journal`, then drops `journal_v1`.
fn pack_journal_v1(conn: &Connection) -> Result<(), Error> {
    let mut select = conn
        .prepare(
            "SELECT r.key, r.id, j.seq, j.kind, j.payload, j.at_ms FROM journal_v1 j \
             JOIN runs r ON r.id = j.run_id ORDER BY r.key, j.seq",
        )
        .map_err(db)?;
    let mut insert = conn
        .prepare(
            "INSERT INTO journal (run_key, first_seq, last_seq, records) VALUES (?1, ?2, ?2, ?3)",
        )
        .map_err(db)?;
    let mut rows = select.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let key: i64 = row.get(0).map_err(db)?;
        let run_id: String = row.get(1).map_err(db)?;
        let seq: i64 = row.get(2).map_err(db)?;
        let stored: Vec<u8> = row.get(4).map_err(db)?;
        let payload = decode(&stored).map_err(|err| {
            Error::Corrupt(format!(
                "migrating the journal of run {run_id}: seq {seq}: {err}"
            ))
        })?;
        let record = JournalRecord {
            seq: u64::try_from(seq).map_err(|_| {
                Error::Corrupt(format!("journal of run {run_id} has a negative seq"))
            })?,
            kind: row.get(3).map_err(db)?,
            payload,
            at_ms: row.get(5).map_err(db)?,
        };
        let packed = chunk::pack(std::slice::from_ref(&record))?;
        insert
            .execute(params![key, seq, encode(&packed)])
            .map_err(db)?;
    }
    drop(rows);
    drop(select);
    drop(insert);
    conn.execute_batch("DROP TABLE journal_v1").map_err(db)
}

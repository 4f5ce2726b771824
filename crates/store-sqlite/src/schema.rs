//! Opening the database file: recognising our files (the `application_id` marker), refusing
//! foreign or newer ones with a clear error, and applying the embedded migrations in one
//! transaction, tracked by `user_version`.
//!
//! It deliberately never repairs or rewrites a file it does not recognise.

use std::path::Path;

use aion_store::Error;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{Durability, db};

/// Our marker in the SQLite header (`PRAGMA application_id`): "AION" in ASCII.
pub const APPLICATION_ID: i32 = 0x4149_4F4E;

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

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

fn migrate(conn: &Connection) -> Result<(), Error> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let result = (|| {
        let current: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(db)?;
        let current = usize::try_from(current).unwrap_or(usize::MAX);
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            conn.execute_batch(sql).map_err(db)?;
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
                index + 1
            ))
            .map_err(db)?;
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

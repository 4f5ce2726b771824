//! Opening a PostgreSQL schema (namespace) as a store: recognising ours (the `aion_schema`
//! table, one row per applied migration), refusing another application's schema or one
//! written by a newer build, and applying the embedded migrations in one transaction.
//!
//! Concurrent openers serialize on a transaction-level advisory lock keyed by the schema
//! name, so two processes starting together migrate once. It never repairs or rewrites a
//! schema it does not recognise.

use aion_store::Error;
use sqlx::{Connection, PgConnection, Row};

use crate::error::{db, is_shape_error};

/// One embedded migration: migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];

/// The table that marks a schema as ours and records its version.
pub const MARKER_TABLE: &str = "aion_schema";

/// The first key of the advisory lock migrations take ("AION" in ASCII); the second is a hash
/// of the schema name.
const LOCK_CLASS: i32 = 0x4149_4F4E;

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Checks a schema name: 1 to 63 characters of `[a-z0-9_]`, not starting with a digit or
/// `pg_`. The name is later quoted into `SET search_path`, so nothing else is allowed.
pub fn check_schema_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with("pg_")
        && name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "PostgreSQL schema name `{}` must be 1 to 63 lowercase letters, digits or `_`, not \
             starting with a digit or `pg_`",
            name.escape_debug()
        )))
    }
}

/// Prepares `schema` on `conn` (whose search path is already `schema`): creates it if needed,
/// checks it and migrates it, all in one transaction.
pub async fn prepare(conn: &mut PgConnection, schema: &str) -> Result<(), Error> {
    let mut tx = conn.begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(schema)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    if !exists {
        // The name was checked by `check_schema_name`: quoting it is enough.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    let row = sqlx::query(
        "SELECT \
           (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')), \
           EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE n.nspname = $1 AND c.relname = $2)",
    )
    .bind(schema)
    .bind(MARKER_TABLE)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let objects: i64 = row.try_get(0).map_err(db)?;
    let marked: bool = row.try_get(1).map_err(db)?;
    let not_a_store = |reason: &str| Error::NotAStore {
        path: format!("PostgreSQL schema {schema}"),
        reason: reason.to_owned(),
    };
    let current = if marked {
        let found = sqlx::query_scalar::<_, Option<i32>>(
            "SELECT max(version) FROM aion_schema WHERE application = 'aion'",
        )
        .fetch_one(&mut *tx)
        .await;
        match found {
            Ok(Some(version)) => u32::try_from(version)
                .map_err(|_| not_a_store("its aion_schema table holds a negative version"))?,
            Ok(None) => return Err(not_a_store("its aion_schema table records no Aion version")),
            Err(err) if is_shape_error(&err) => {
                return Err(not_a_store(
                    "it has an aion_schema table that is not Aion's (another application's data?)",
                ));
            }
            Err(err) => return Err(db(err)),
        }
    } else if objects == 0 {
        0
    } else {
        return Err(not_a_store(
            "it holds tables but no aion_schema table (another application's data?)",
        ));
    };
    let supported = latest_version();
    if current > supported {
        return Err(Error::SchemaTooNew {
            found: current,
            supported,
        });
    }
    if current == 0 {
        sqlx::query(
            "CREATE TABLE aion_schema ( \
               version      integer PRIMARY KEY, \
               application  text NOT NULL DEFAULT 'aion' CHECK (application = 'aion'), \
               applied_at   timestamptz NOT NULL DEFAULT now())",
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    let done = usize::try_from(current).unwrap_or(usize::MAX);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        // A migration file is several statements: the simple query protocol runs them all.
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        sqlx::query("INSERT INTO aion_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

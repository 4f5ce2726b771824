//! Turning sqlx errors into [`aion_store::Error`]s: SQLSTATE classes callers branch on, and
//! messages that never carry SQL text, parameters or row details.
//!
//! It does not decide what a constraint violation means for a given operation (a duplicate
//! run id, a missing workspace): the callers match [`violation`] and name the object.

use std::fmt;

use aion_store::Error;

/// A backend failure as shown to callers: the SQLSTATE (if any) and the server's primary
/// message, or the kind of client failure. The `DETAIL` and `HINT` fields of a database error
/// (which may echo row values) and any SQL text are deliberately left out.
#[derive(Debug)]
pub struct PgError {
    message: String,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PgError {}

/// A constraint a failed statement violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation<'a> {
    /// A unique or primary key constraint (SQLSTATE 23505), with its name.
    Unique(&'a str),
    /// A foreign key constraint (SQLSTATE 23503), with its name.
    ForeignKey(&'a str),
}

/// The constraint `err` violated, if it is a constraint violation.
pub(crate) fn violation(err: &sqlx::Error) -> Option<Violation<'_>> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let constraint = db.constraint().unwrap_or("");
    match db.code().as_deref() {
        Some("23505") => Some(Violation::Unique(constraint)),
        Some("23503") => Some(Violation::ForeignKey(constraint)),
        _ => None,
    }
}

/// Maps an sqlx error that no caller gave a meaning to.
///
/// A closed pool is [`Error::Closed`]; everything else, including an unreachable server or a
/// pool timeout, is [`Error::Backend`] (the store's error has no "unavailable" kind: callers
/// that retry on outages retry on `Backend`).
pub(crate) fn db(err: sqlx::Error) -> Error {
    let message = match &err {
        sqlx::Error::PoolClosed => return Error::Closed,
        // PostgreSQL text cannot hold NUL characters (SQLite's can): the caller's argument
        // is refused rather than reported as a backend failure.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
            return Error::InvalidArgument(
                "text containing a NUL character cannot be stored".to_owned(),
            );
        }
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("PostgreSQL error {code}: {}", db.message()),
            None => format!("PostgreSQL error: {}", db.message()),
        },
        sqlx::Error::Io(io) => format!("PostgreSQL unavailable: {io}"),
        sqlx::Error::PoolTimedOut => {
            "PostgreSQL unavailable: timed out waiting for a connection".to_owned()
        }
        sqlx::Error::Tls(_) => "PostgreSQL unavailable: TLS failure".to_owned(),
        sqlx::Error::Protocol(_) => "PostgreSQL protocol error".to_owned(),
        sqlx::Error::Configuration(_) => "invalid PostgreSQL connection settings".to_owned(),
        sqlx::Error::ColumnDecode { index, .. } => {
            format!("could not decode column {index} of a stored row")
        }
        other => format!("PostgreSQL client error: {other}"),
    };
    Error::backend(PgError { message })
}

/// Whether `err` says that a relation or column does not exist or has another type (SQLSTATE
/// classes 42 and 22): what reading a marker table of another application produces.
pub(crate) fn is_shape_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("42") || code.starts_with("22")),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => true,
        _ => false,
    }
}

pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::InvalidArgument(format!("{what} out of range")))
}

pub(crate) fn u64_of(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("negative {what}")))
}

pub(crate) fn u32_of(value: i64, what: &str) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Corrupt(format!("{what} out of range")))
}

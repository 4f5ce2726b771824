//! The store's error type, with a stable [`ErrorKind`] callers branch on.
//!
//! Messages name ids and versions but never SQL or file contents; the API layer maps kinds to
//! problem codes and HTTP statuses, which this crate deliberately does not know.

use std::fmt;

/// A store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, stable across releases and backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The workspace, flow, run or lease does not exist (in this workspace).
    NotFound,
    /// Something with this id already exists.
    AlreadyExists,
    /// A write carried a lease epoch that is not the run's current one (fencing).
    StaleEpoch,
    /// Journal records were not contiguous with the run's journal (a duplicate or a gap).
    SeqConflict,
    /// A flow version was saved against a version that is no longer the latest.
    VersionConflict,
    /// An argument was out of range or malformed.
    InvalidArgument,
    /// The data was written by a newer schema version than this build supports.
    SchemaTooNew,
    /// The file is not an Aion store (not SQLite, or another application's database).
    NotAStore,
    /// Stored data could not be decoded.
    Corrupt,
    /// The store is shut down or its background thread is gone.
    Closed,
    /// The backend failed (I/O, disk full, lock timeout, ...).
    Backend,
}

impl ErrorKind {
    /// A stable snake-case name, suitable for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::StaleEpoch => "stale_epoch",
            Self::SeqConflict => "seq_conflict",
            Self::VersionConflict => "version_conflict",
            Self::InvalidArgument => "invalid_argument",
            Self::SchemaTooNew => "schema_too_new",
            Self::NotAStore => "not_a_store",
            Self::Corrupt => "corrupt",
            Self::Closed => "closed",
            Self::Backend => "backend",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A workspace, flow, run or other object was not found.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked up (`workspace`, `flow`, `run`, ...).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// An object with this id already exists.
    #[error("{what} `{id}` already exists")]
    AlreadyExists {
        /// What was created.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The lease epoch is not the run's current one: another worker claimed the run since, or
    /// the lease was released.
    #[error("stale lease epoch {given} for run `{run_id}` (current epoch {current})")]
    StaleEpoch {
        /// The run.
        run_id: String,
        /// The epoch the caller presented.
        given: u64,
        /// The run's current epoch.
        current: u64,
    },
    /// Journal records must continue the run's journal without a duplicate or a gap.
    #[error("journal seq {given} for run `{run_id}` refused: expected {expected}")]
    SeqConflict {
        /// The run.
        run_id: String,
        /// The next seq the journal accepts.
        expected: u64,
        /// The seq that was presented.
        given: u64,
    },
    /// A flow version was based on a version that is no longer the latest (someone saved the
    /// flow meanwhile), or a flow to create already exists.
    #[error("flow `{flow_id}` is at version {current}, not {expected}")]
    VersionConflict {
        /// The flow.
        flow_id: String,
        /// The latest version the caller based its change on (0: the flow must not exist).
        expected: u32,
        /// The flow's latest version.
        current: u32,
    },
    /// An argument was malformed or out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The data dir was written by a newer version of Aion.
    #[error(
        "the data was written with store schema version {found}, but this build supports only up \
         to version {supported}; upgrade Aion to open it"
    )]
    SchemaTooNew {
        /// The schema version found in the data.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The file is not an Aion store.
    #[error("{path} is not an Aion store: {reason}")]
    NotAStore {
        /// The file that was opened.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The store is closed.
    #[error("the store is closed")]
    Closed,
    /// The backend failed.
    // The cause is part of the message and deliberately not a `source`, so that printing the
    // error chain does not repeat it.
    #[error("storage backend error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Self::StaleEpoch { .. } => ErrorKind::StaleEpoch,
            Self::SeqConflict { .. } => ErrorKind::SeqConflict,
            Self::VersionConflict { .. } => ErrorKind::VersionConflict,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            Self::NotAStore { .. } => ErrorKind::NotAStore,
            Self::Corrupt(_) => ErrorKind::Corrupt,
            Self::Closed => ErrorKind::Closed,
            Self::Backend(_) => ErrorKind::Backend,
        }
    }

    /// Wraps a backend error.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }

    /// A [`Error::NotFound`] for `what` with `id`.
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            id: id.into(),
        }
    }
}

-- Schema version 1: workspaces, flows, runs with leases, the journal, step records, timers,
-- signals and the cache. Blobs (JSON values, payloads) are stored through aion_store::payload
-- (a tag byte, LZ4 above 4 KiB). Instants are Unix milliseconds.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    created_ms  INTEGER NOT NULL
) STRICT;

INSERT INTO workspaces (id, created_ms) VALUES ('default', 0);

CREATE TABLE flow_versions (
    workspace   TEXT NOT NULL REFERENCES workspaces (id),
    flow_id     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    document    BLOB NOT NULL,
    format      TEXT NOT NULL,
    plan        BLOB NOT NULL,
    plan_hash   TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace, flow_id, version)
) STRICT;

CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    workspace         TEXT NOT NULL REFERENCES workspaces (id),
    flow_id           TEXT NOT NULL,
    flow_version      INTEGER NOT NULL,
    plan_hash         TEXT NOT NULL,
    input             BLOB NOT NULL,
    trigger           BLOB NOT NULL,
    trace_id          TEXT,
    parent_run_id     TEXT,
    retry_of          TEXT,
    status            TEXT NOT NULL,
    output            BLOB,
    error             BLOB,
    created_ms        INTEGER NOT NULL,
    started_ms        INTEGER,
    finished_ms       INTEGER,
    lease_owner       TEXT,
    lease_epoch       INTEGER NOT NULL DEFAULT 0,
    lease_expires_ms  INTEGER,
    last_seq          INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX runs_by_created ON runs (workspace, created_ms DESC, id DESC);
CREATE INDEX runs_by_flow ON runs (workspace, flow_id, created_ms DESC, id DESC);
CREATE INDEX runs_runnable ON runs (status, created_ms, id)
    WHERE status IN ('queued', 'running', 'waiting');

CREATE TABLE journal (
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    payload  BLOB NOT NULL,
    at_ms    INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE steps (
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_key         TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    input            BLOB,
    output           BLOB,
    error            BLOB,
    logs             BLOB NOT NULL,
    started_ms       INTEGER,
    finished_ms      INTEGER,
    duration_ms      INTEGER,
    cache_hit        INTEGER NOT NULL,
    idempotency_key  TEXT,
    PRIMARY KEY (run_id, step_key)
) STRICT;

CREATE TABLE timers (
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    timer_id  TEXT NOT NULL,
    due_ms    INTEGER NOT NULL,
    PRIMARY KEY (run_id, timer_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX timers_by_due ON timers (due_ms);

CREATE TABLE signals (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    payload  BLOB NOT NULL,
    sent_ms  INTEGER NOT NULL
) STRICT;

CREATE INDEX signals_by_run ON signals (run_id, id);

CREATE TABLE cache (
    workspace   TEXT NOT NULL REFERENCES workspaces (id),
    key         TEXT NOT NULL,
    value       BLOB NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace, key)
) STRICT, WITHOUT ROWID;

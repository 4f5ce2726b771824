-- Schema version 2: runs get an integer key (a rowid alias, stable across VACUUM) and every
-- per-run table refers to it instead of the 36-byte text id, so the writer's per-row
-- statements bind and compare integers only. The journal holds one packed chunk per commit
-- (records first_seq..=last_seq, packed by crate::chunk, then stored through
-- aion_store::payload) instead of one row per record.
--
-- This follows SQLite's procedure for changing a table's definition
-- (https://www.sqlite.org/lang_altertable.html#otheralter): schema::migrate runs it with
-- foreign_keys OFF inside one transaction and runs PRAGMA foreign_key_check before COMMIT.
-- New tables are created under a temporary name and renamed to the old name once the old
-- table is dropped (never the other way round, which would rewrite other tables' references).
--
-- The old journal is kept as journal_v1 here; schema.rs converts its rows into chunks (one
-- chunk per old row) and drops it, in the same transaction.

CREATE TABLE runs_new (
    key               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
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

-- Keys in creation order.
INSERT INTO runs_new (id, workspace, flow_id, flow_version, plan_hash, input, trigger, trace_id,
    parent_run_id, retry_of, status, output, error, created_ms, started_ms, finished_ms,
    lease_owner, lease_epoch, lease_expires_ms, last_seq)
SELECT id, workspace, flow_id, flow_version, plan_hash, input, trigger, trace_id,
    parent_run_id, retry_of, status, output, error, created_ms, started_ms, finished_ms,
    lease_owner, lease_epoch, lease_expires_ms, last_seq
FROM runs ORDER BY created_ms, id;

CREATE TABLE steps_new (
    run_key          INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
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
    PRIMARY KEY (run_key, step_key)
) STRICT;

INSERT INTO steps_new (run_key, step_key, status, attempts, input, output, error, logs,
    started_ms, finished_ms, duration_ms, cache_hit, idempotency_key)
SELECT r.key, s.step_key, s.status, s.attempts, s.input, s.output, s.error, s.logs,
    s.started_ms, s.finished_ms, s.duration_ms, s.cache_hit, s.idempotency_key
FROM steps s JOIN runs_new r ON r.id = s.run_id
ORDER BY r.key, s.step_key;

CREATE TABLE timers_new (
    run_key   INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    timer_id  TEXT NOT NULL,
    due_ms    INTEGER NOT NULL,
    PRIMARY KEY (run_key, timer_id)
) STRICT, WITHOUT ROWID;

INSERT INTO timers_new (run_key, timer_id, due_ms)
SELECT r.key, t.timer_id, t.due_ms FROM timers t JOIN runs_new r ON r.id = t.run_id;

CREATE TABLE signals_new (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_key  INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    payload  BLOB NOT NULL,
    sent_ms  INTEGER NOT NULL
) STRICT;

INSERT INTO signals_new (id, run_key, name, payload, sent_ms)
SELECT s.id, r.key, s.name, s.payload, s.sent_ms
FROM signals s JOIN runs_new r ON r.id = s.run_id ORDER BY s.id;

-- Signal ids are never reused: carry the AUTOINCREMENT counter over (consumed signals may
-- have taken ids above the largest one left).
INSERT INTO sqlite_sequence (name, seq)
SELECT 'signals_new', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'signals_new');
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'signals'), 0))
WHERE name = 'signals_new';

ALTER TABLE journal RENAME TO journal_v1;

CREATE TABLE journal (
    run_key    INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    records    BLOB NOT NULL,
    PRIMARY KEY (run_key, first_seq)
) STRICT, WITHOUT ROWID;

DROP TABLE signals;
DROP TABLE timers;
DROP TABLE steps;
DROP TABLE runs;

ALTER TABLE runs_new RENAME TO runs;
ALTER TABLE steps_new RENAME TO steps;
ALTER TABLE timers_new RENAME TO timers;
ALTER TABLE signals_new RENAME TO signals;

CREATE INDEX runs_by_created ON runs (workspace, created_ms DESC, id DESC);
CREATE INDEX runs_by_flow ON runs (workspace, flow_id, created_ms DESC, id DESC);
CREATE INDEX runs_runnable ON runs (status, created_ms, id)
    WHERE status IN ('queued', 'running', 'waiting');
CREATE INDEX timers_by_due ON timers (due_ms);
CREATE INDEX signals_by_run ON signals (run_key, id);

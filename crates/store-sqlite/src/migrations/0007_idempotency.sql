-- Schema version 7: idempotency keys of run creations (the API's `Idempotency-Key`): which
-- run a key created in a workspace, a digest of the request it came with, and until when the
-- key holds. Instants are Unix milliseconds.

CREATE TABLE idempotency (
    workspace     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    expires_ms    INTEGER NOT NULL,
    PRIMARY KEY (workspace, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_by_expiry ON idempotency (expires_ms);

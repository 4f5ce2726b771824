-- Schema version 8: the credential vault and the webhook deliveries already accepted. Only new
-- tables, so this migration copies nothing. A credential's value is ciphertext sealed by the
-- server (an AEAD bound to the workspace and the name): the store never holds it in clear.
-- Webhook deliveries are the ids of signed webhook calls, kept until they expire so a replay
-- is refused even after a restart. Instants are Unix milliseconds.

CREATE TABLE credentials (
    workspace   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace, name)
) STRICT;

CREATE TABLE webhook_deliveries (
    workspace    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    expires_ms   INTEGER NOT NULL,
    PRIMARY KEY (workspace, path, delivery_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhook_deliveries_by_expiry ON webhook_deliveries (expires_ms);

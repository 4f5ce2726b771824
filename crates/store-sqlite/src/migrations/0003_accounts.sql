-- Schema version 3: people and access (aion_store::Accounts): users, workspace members with
-- roles, API keys, browser sessions, and workspace variables. Only new tables, so this
-- migration copies nothing. Secrets are never stored: passwords as Argon2id PHC strings, API
-- key and session secrets as SHA-256 digests (hex). Emails are stored lowercased (lowercased
-- in Rust before every insert and lookup), so the UNIQUE constraint is case-insensitive.
-- Variable values are JSON stored through aion_store::payload (a tag byte, LZ4 above 4 KiB).
-- Instants are Unix milliseconds.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    created_ms       INTEGER NOT NULL,
    failed_logins    INTEGER NOT NULL DEFAULT 0,
    locked_until_ms  INTEGER
) STRICT;

CREATE TABLE members (
    workspace  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    added_ms   INTEGER NOT NULL,
    PRIMARY KEY (workspace, user_id)
) STRICT, WITHOUT ROWID;

-- A user's memberships, and the cascade when a user is deleted.
CREATE INDEX members_by_user ON members (user_id, workspace);

-- Keys are not tied to a membership: removing a member revokes its keys, which stay listed.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    last_used_ms  INTEGER,
    revoked_ms    INTEGER
) STRICT;

-- A workspace's keys newest first; a member's keys (revoked with the membership) and the
-- cascade when a user is deleted.
CREATE INDEX api_keys_by_workspace ON api_keys (workspace, created_ms DESC, id DESC);
CREATE INDEX api_keys_by_user ON api_keys (user_id, workspace);

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_hash   TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_by_expiry ON sessions (expires_ms);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Values may be large, so this table keeps its rowid (WITHOUT ROWID suits small rows only).
CREATE TABLE vars (
    workspace   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    value       BLOB NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (workspace, name)
) STRICT;

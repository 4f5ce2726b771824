-- Schema version 1 of the PostgreSQL store: everything SQLite reached in its versions 1 to 8,
-- in one step (this backend starts there). Blobs (JSON values, payloads, journal chunks) are
-- stored through aion_store::payload (a tag byte, LZ4 above 4 KiB), exactly as in SQLite, so
-- journal chunks skip PostgreSQL's own TOAST compression (EXTERNAL storage). Instants are
-- Unix milliseconds. Runs have a bigint key every per-run table refers to. Text columns use
-- the "C" collation: ids compare and sort bytewise, as in SQLite, whatever the database's
-- default collation, and the cursor of list_runs pages the same way on both backends.

CREATE TABLE workspaces (
    id          text COLLATE "C" PRIMARY KEY,
    created_ms  bigint NOT NULL
);

INSERT INTO workspaces (id, created_ms) VALUES ('default', 0);

CREATE TABLE flow_versions (
    workspace   text COLLATE "C" NOT NULL REFERENCES workspaces (id),
    flow_id     text COLLATE "C" NOT NULL,
    version     bigint NOT NULL,
    document    bytea NOT NULL,
    format      text COLLATE "C" NOT NULL,
    plan        bytea NOT NULL,
    plan_hash   text COLLATE "C" NOT NULL,
    created_ms  bigint NOT NULL,
    -- Labels for listings, as the version's document gave them.
    name        text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace, flow_id, version)
);

CREATE TABLE runs (
    key                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                   text COLLATE "C" NOT NULL UNIQUE,
    workspace            text COLLATE "C" NOT NULL REFERENCES workspaces (id),
    flow_id              text COLLATE "C" NOT NULL,
    flow_version         bigint NOT NULL,
    plan_hash            text COLLATE "C" NOT NULL,
    input                bytea NOT NULL,
    trigger              bytea NOT NULL,
    trace_id             text COLLATE "C",
    parent_run_id        text COLLATE "C",
    retry_of             text COLLATE "C",
    status               text COLLATE "C" NOT NULL,
    output               bytea,
    error                bytea,
    created_ms           bigint NOT NULL,
    started_ms           bigint,
    finished_ms          bigint,
    lease_owner          text COLLATE "C",
    lease_epoch          bigint NOT NULL DEFAULT 0,
    lease_expires_ms     bigint,
    last_seq             bigint NOT NULL DEFAULT 0,
    cancel_requested_ms  bigint,
    cancel_reason        text COLLATE "C",
    -- Usage from metered services (LLM tokens, cost in micro-USD), totals.
    input_tokens         bigint NOT NULL DEFAULT 0,
    output_tokens        bigint NOT NULL DEFAULT 0,
    cost_micro_usd       bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
-- Every commit updates its run row (last_seq, status): free space on each page lets those
-- updates stay on the page without touching the indexes (HOT updates).

CREATE INDEX runs_by_created ON runs (workspace, created_ms DESC, id DESC);
CREATE INDEX runs_by_flow ON runs (workspace, flow_id, created_ms DESC, id DESC);
-- The claim scans this in (created_ms, id) order and stops at its limit.
CREATE INDEX runs_runnable ON runs (created_ms, id)
    WHERE status IN ('queued', 'running', 'waiting');

-- One row per commit: the commit's records first_seq..=last_seq packed by crate::chunk.
CREATE TABLE journal (
    run_key    bigint NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL,
    records    bytea NOT NULL,
    PRIMARY KEY (run_key, first_seq)
);
ALTER TABLE journal ALTER COLUMN records SET STORAGE EXTERNAL;

CREATE TABLE steps (
    run_key          bigint NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    step_key         text COLLATE "C" NOT NULL,
    status           text COLLATE "C" NOT NULL,
    attempts         bigint NOT NULL,
    input            bytea,
    output           bytea,
    error            bytea,
    logs             bytea NOT NULL,
    started_ms       bigint,
    finished_ms      bigint,
    duration_ms      bigint,
    cache_hit        boolean NOT NULL,
    idempotency_key  text COLLATE "C",
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    cost_micro_usd   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_key, step_key)
) WITH (fillfactor = 80);

CREATE TABLE timers (
    run_key   bigint NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    timer_id  text COLLATE "C" NOT NULL,
    due_ms    bigint NOT NULL,
    PRIMARY KEY (run_key, timer_id)
);

CREATE INDEX timers_by_due ON timers (due_ms);

CREATE TABLE signals (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_key  bigint NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    name     text COLLATE "C" NOT NULL,
    payload  bytea NOT NULL,
    sent_ms  bigint NOT NULL
);

CREATE INDEX signals_by_run ON signals (run_key, id);

CREATE TABLE cache (
    workspace   text COLLATE "C" NOT NULL REFERENCES workspaces (id),
    key         text COLLATE "C" NOT NULL,
    value       bytea NOT NULL,
    expires_ms  bigint NOT NULL,
    PRIMARY KEY (workspace, key)
);

-- The webhook paths each flow's latest version serves, unique per workspace.
CREATE TABLE webhooks (
    workspace  text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    path       text COLLATE "C" NOT NULL,
    flow_id    text COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace, path)
);

CREATE INDEX webhooks_by_flow ON webhooks (workspace, flow_id);

-- The last handled slot of each cron trigger (a compare-and-set on last_slot_ms).
CREATE TABLE cron_slots (
    workspace     text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id       text COLLATE "C" NOT NULL,
    trigger_key   text COLLATE "C" NOT NULL,
    last_slot_ms  bigint NOT NULL,
    updated_ms    bigint NOT NULL,
    PRIMARY KEY (workspace, flow_id, trigger_key)
);

-- Idempotency keys of run creations.
CREATE TABLE idempotency (
    workspace     text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key           text COLLATE "C" NOT NULL,
    request_hash  text COLLATE "C" NOT NULL,
    run_id        text COLLATE "C" NOT NULL,
    expires_ms    bigint NOT NULL,
    PRIMARY KEY (workspace, key)
);

CREATE INDEX idempotency_by_expiry ON idempotency (expires_ms);

-- People and access. Emails are stored lowercased (lowercased in Rust), so UNIQUE is
-- case-insensitive. Secrets are never stored: Argon2id PHC strings and SHA-256 digests.
CREATE TABLE users (
    id               text COLLATE "C" PRIMARY KEY,
    email            text COLLATE "C" NOT NULL UNIQUE,
    password_hash    text COLLATE "C" NOT NULL,
    created_ms       bigint NOT NULL,
    failed_logins    bigint NOT NULL DEFAULT 0,
    locked_until_ms  bigint
);

CREATE TABLE members (
    workspace  text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text COLLATE "C" NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    added_ms   bigint NOT NULL,
    PRIMARY KEY (workspace, user_id)
);

CREATE INDEX members_by_user ON members (user_id, workspace);

CREATE TABLE api_keys (
    id            text COLLATE "C" PRIMARY KEY,
    workspace     text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text COLLATE "C" NOT NULL CHECK (role IN ('owner', 'editor', 'runner', 'viewer')),
    name          text COLLATE "C" NOT NULL,
    secret_hash   text COLLATE "C" NOT NULL,
    created_ms    bigint NOT NULL,
    last_used_ms  bigint,
    revoked_ms    bigint
);

CREATE INDEX api_keys_by_workspace ON api_keys (workspace, created_ms DESC, id DESC);
CREATE INDEX api_keys_by_user ON api_keys (user_id, workspace);

CREATE TABLE sessions (
    id_hash     text COLLATE "C" PRIMARY KEY,
    user_id     text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_hash   text COLLATE "C" NOT NULL,
    created_ms  bigint NOT NULL,
    expires_ms  bigint NOT NULL
);

CREATE INDEX sessions_by_expiry ON sessions (expires_ms);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE vars (
    workspace   text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name        text COLLATE "C" NOT NULL,
    value       bytea NOT NULL,
    updated_ms  bigint NOT NULL,
    PRIMARY KEY (workspace, name)
);

-- Credential values are ciphertext sealed by the server; the store never holds them in clear.
CREATE TABLE credentials (
    workspace   text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name        text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    ciphertext  bytea NOT NULL,
    created_ms  bigint NOT NULL,
    updated_ms  bigint NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE webhook_deliveries (
    workspace    text COLLATE "C" NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    path         text COLLATE "C" NOT NULL,
    delivery_id  text COLLATE "C" NOT NULL,
    expires_ms   bigint NOT NULL,
    PRIMARY KEY (workspace, path, delivery_id)
);

CREATE INDEX webhook_deliveries_by_expiry ON webhook_deliveries (expires_ms);

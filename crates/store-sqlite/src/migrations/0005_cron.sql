-- Schema version 5: the last handled slot of each cron trigger, per workspace and flow. The
-- server claims a slot with a compare-and-set on `last_slot_ms` before starting its run, so a
-- slot fires once across restarts and across processes sharing the database.

CREATE TABLE cron_slots (
    workspace     TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    flow_id       TEXT    NOT NULL,
    trigger_key   TEXT    NOT NULL,
    last_slot_ms  INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (workspace, flow_id, trigger_key)
) STRICT, WITHOUT ROWID;

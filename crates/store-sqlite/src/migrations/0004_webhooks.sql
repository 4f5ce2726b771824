-- Schema version 4: the webhook paths each flow's latest version serves, unique per
-- workspace (POST /hooks/{workspace}/{path} finds its flow here). schema.rs fills the table
-- from the latest version of every stored flow, in the same transaction.

CREATE TABLE webhooks (
    workspace  TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    flow_id    TEXT NOT NULL,
    PRIMARY KEY (workspace, path)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhooks_by_flow ON webhooks (workspace, flow_id);

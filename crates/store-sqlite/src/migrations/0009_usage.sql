-- Schema version 9: what runs and steps consumed from metered services (LLM tokens and cost
-- in micro-USD), summed by the worker, zero for everything written before; and each flow
-- version's name, description and tags (JSON array) for listings, empty for versions saved
-- before (listings then show the id).

ALTER TABLE runs ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE flow_versions ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE flow_versions ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE flow_versions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

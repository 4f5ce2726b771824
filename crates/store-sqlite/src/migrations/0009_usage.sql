-- Schema version 9: what runs and steps consumed from metered services (LLM tokens and cost
-- in micro-USD), summed by the worker; zero for everything written before.

ALTER TABLE runs ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN cost_micro_usd INTEGER NOT NULL DEFAULT 0;

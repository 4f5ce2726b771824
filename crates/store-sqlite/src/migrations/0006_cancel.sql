-- Schema version 6: cancellation requests. A request on a run that has started is recorded
-- here; the worker holding the run (or the next one to claim it) applies it. Instants are
-- Unix milliseconds.

ALTER TABLE runs ADD COLUMN cancel_requested_ms INTEGER;
ALTER TABLE runs ADD COLUMN cancel_reason TEXT;

-- 0011: which node handled a call, so a node that restarts (after kill -9, a crash, a power
-- cut) can close the rows it left open: ivr_app/orphans.py.

ALTER TABLE calls ADD COLUMN node text;
CREATE INDEX calls_open_idx ON calls (node) WHERE ended_at IS NULL;

-- 0012: the outbox (ivr_app/outbox): every write of a call's path carries an id; the id is
-- recorded here in the write's own transaction, so a write replayed from the local journal
-- after a PostgreSQL outage (or after a crash between its commit and the journal's rewrite)
-- is applied exactly once.

CREATE TABLE outbox_applied (
    id          text PRIMARY KEY,
    op          text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_applied_at_idx ON outbox_applied (applied_at);

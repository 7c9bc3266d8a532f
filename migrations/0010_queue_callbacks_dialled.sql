-- 0010: callbacks are dialled. A callback request keeps the caller's place in the line: it is a
-- queue entry of its own (callback_id set, entered_at of the call that asked for it) that no
-- live call holds; when its turn comes and an agent is free, a node rings the agent and, once
-- they answer, the customer. An unreachable customer is tried again later (not_before).

ALTER TABLE queue_callbacks ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE queue_callbacks ADD COLUMN last_result text;

ALTER TABLE queue_entries ADD COLUMN callback_id bigint
    REFERENCES queue_callbacks (id) ON DELETE SET NULL;
ALTER TABLE queue_entries ADD COLUMN not_before timestamptz;
CREATE INDEX queue_entries_callbacks_idx ON queue_entries (queue, entered_at)
    WHERE callback_id IS NOT NULL AND status = 'waiting';

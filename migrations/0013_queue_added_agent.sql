-- 0013: an offer still ringing can take a second agent. While the caller at the head of the
-- line is offered to an agent who has not answered, an agent who comes free is added to that
-- offer (their phones ring too, and whoever answers first talks), so nobody behind takes
-- that agent and overtakes the head (issue 19). Two agents may hold one entry while it is
-- offered; still only one can talk with it.

DROP INDEX agents_entry_idx;
CREATE UNIQUE INDEX agents_talking_idx ON agents (entry_id) WHERE entry_state = 'talking';
CREATE INDEX agents_entry_idx ON agents (entry_id) WHERE entry_id IS NOT NULL;

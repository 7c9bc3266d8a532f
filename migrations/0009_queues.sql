-- 0009: hold queues. Agents are employees with skills (and a level per skill); a queue asks
-- for skills at a minimum level (configured in the menus file). The rows below are the
-- queues' shared state, so several ivr-app nodes serve one queue: a node offers a caller to an
-- agent only inside one transaction that locks both rows (FOR UPDATE SKIP LOCKED).

CREATE TABLE agent_skills (
    employee_id  bigint NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    skill        text NOT NULL CHECK (skill ~ '^[a-z][a-z0-9_-]{0,39}$'),
    level        integer NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (employee_id, skill)
);
CREATE INDEX agent_skills_skill_idx ON agent_skills (skill, level);

-- one row per agent (an employee with at least one skill): what they are doing for the queues
CREATE TABLE agents (
    employee_id    bigint PRIMARY KEY REFERENCES employees (id) ON DELETE CASCADE,
    -- longest idle first: set when a queue call ends (plus wrap-up) or the agent is added
    idle_since     timestamptz NOT NULL DEFAULT now(),
    -- no offer before this: wrap-up after a call, a pause after an offer they did not take
    ready_after    timestamptz NOT NULL DEFAULT now(),
    -- the entry being offered to them (ringing) or talking with them, if any
    entry_id       bigint,
    entry_state    text CHECK (entry_state IN ('offered', 'talking')),
    CHECK ((entry_id IS NULL) = (entry_state IS NULL))
);
CREATE UNIQUE INDEX agents_entry_idx ON agents (entry_id) WHERE entry_id IS NOT NULL;

-- every caller that entered a queue: the live queue (waiting, offered) and its history
CREATE TABLE queue_entries (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue              text NOT NULL,
    call_uuid          text NOT NULL,
    node               text NOT NULL,
    caller_number      text,
    customer_id        bigint REFERENCES customers (id) ON DELETE SET NULL,
    vip                boolean NOT NULL DEFAULT false,
    -- the caller's account manager is one of this queue's agents
    team               boolean NOT NULL DEFAULT false,
    entered_at         timestamptz NOT NULL DEFAULT now(),
    position_at_entry  integer NOT NULL,
    status             text NOT NULL DEFAULT 'waiting' CHECK (status IN (
                           'waiting', 'offered', 'answered', 'abandoned', 'overflow')),
    -- for overflow: max_wait, full, voicemail key, callback key, and where the call went
    reason             text,
    agent_id           bigint REFERENCES employees (id) ON DELETE SET NULL,
    answered_at        timestamptz,
    left_at            timestamptz,
    ended_at           timestamptz,
    offers             integer NOT NULL DEFAULT 0,
    -- the node's call flow looked for an agent at this time: an entry whose node stopped
    -- (crashed, cut off) goes stale and never blocks the callers behind it
    seen_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX queue_entries_call_idx ON queue_entries (queue, call_uuid);
-- the live queue, in the order callers are served
CREATE INDEX queue_entries_live_idx ON queue_entries (queue, vip DESC, team DESC, entered_at, id)
    WHERE status IN ('waiting', 'offered');
CREATE INDEX queue_entries_entered_idx ON queue_entries (entered_at);

-- "call me back" requests left from a queue, until someone marks them done
CREATE TABLE queue_callbacks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue         text NOT NULL,
    entry_id      bigint REFERENCES queue_entries (id) ON DELETE SET NULL,
    number        text NOT NULL,
    customer_id   bigint REFERENCES customers (id) ON DELETE SET NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    done_by       text
);
CREATE INDEX queue_callbacks_open_idx ON queue_callbacks (queue, requested_at)
    WHERE done_at IS NULL;

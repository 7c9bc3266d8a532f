-- 0002: every dialplan deploy and rollback, with the files it wrote, so any version can be
-- restored and ops can see who changed what, when, and what FreeSWITCH said.

CREATE TABLE dialplan_deploys (
    version      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deployed_at  timestamptz NOT NULL DEFAULT now(),
    deployed_by  text NOT NULL,
    action       text NOT NULL CHECK (action ~ '^(deploy|rollback to [0-9]+)$'),
    target       text NOT NULL,
    checksum     text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    -- ok: live and verified; rolled back: FreeSWITCH refused it and the previous files are
    -- back; invalid: refused before anything was written
    result       text NOT NULL CHECK (result IN ('ok', 'rolled back', 'invalid')),
    detail       text NOT NULL DEFAULT '',
    diff         text NOT NULL DEFAULT '',
    files        jsonb NOT NULL
);
CREATE INDEX dialplan_deploys_deployed_at_idx ON dialplan_deploys (deployed_at DESC);

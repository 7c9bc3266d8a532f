-- 0015: the external legs each employee has ringing or talking, shared by every node, so the
-- toll-fraud cap (presence.max_external_legs) holds for the whole installation (it was counted
-- per node: two nodes could ring twice the cap). A row per call and employee; a node's rows go
-- when the call's bridge ends, or when that node starts again after a crash; rows older than a
-- day are ignored (a lost release never locks an employee out for good).

CREATE TABLE external_legs (
    call_uuid   uuid NOT NULL,
    extension   text NOT NULL,
    legs        integer NOT NULL CHECK (legs > 0),
    node        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_uuid, extension)
);
CREATE INDEX external_legs_extension_idx ON external_legs (extension, started_at);

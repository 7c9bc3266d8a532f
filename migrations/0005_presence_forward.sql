-- 0005: the forward (*72) is part of the one presence profile, in its own column, so that
-- setting DND or a meeting never overwrites it; turning them off brings it back.

ALTER TABLE presence ADD COLUMN forward_to text
    CHECK (forward_to IS NULL OR forward_to ~ '^(\+[1-9][0-9]{1,14}|[0-9]{2,8})$');

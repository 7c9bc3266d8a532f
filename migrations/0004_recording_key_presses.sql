-- 0004: who pressed what during a recording made or changed on demand, in order:
-- [{"key": "*2", "action": "start", "by": "1002", "at": "2026-11-23T13:05:01+00:00"}, ...]

ALTER TABLE recordings ADD COLUMN key_presses jsonb NOT NULL DEFAULT '[]'::jsonb;

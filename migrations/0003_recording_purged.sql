-- 0003: recordings removed by retention keep their row (who, when, checksum) as 'purged';
-- the spool replay relies on (call_uuid, path) being unique, which 0001 already made it.

ALTER TYPE recording_status ADD VALUE IF NOT EXISTS 'purged';
ALTER TABLE recordings ADD COLUMN completion_cause text;
ALTER TABLE recordings ADD COLUMN reason text;

-- 0008: whether the employee a call was meant for took it, so each employee has one list of
-- missed calls (rang and not answered, sent to voicemail by presence, rejected).

ALTER TABLE calls ADD COLUMN employee_answered boolean;
CREATE INDEX calls_missed_idx ON calls (employee_id, started_at DESC)
    WHERE employee_answered IS FALSE;

-- 0007: voicemail messages left for employees, on the customer's timeline when the caller is
-- known; notified_at is set once the notification went out (NULL: still to send).

CREATE TABLE voicemails (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_uuid      uuid NOT NULL,
    employee_id    bigint REFERENCES employees (id) ON DELETE SET NULL,
    customer_id    bigint REFERENCES customers (id) ON DELETE SET NULL,
    caller_number  text,
    caller_name    text,
    path           text NOT NULL,
    seconds        integer CHECK (seconds >= 0),
    urgent         boolean NOT NULL DEFAULT false,
    left_at        timestamptz NOT NULL DEFAULT now(),
    notified_at    timestamptz,
    UNIQUE (call_uuid, path)
);
CREATE INDEX voicemails_employee_idx ON voicemails (employee_id, left_at DESC);

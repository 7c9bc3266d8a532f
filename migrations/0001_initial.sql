-- 0001: the first schema: customers, employees and their devices, presence, calls,
-- recordings and the customer's interaction timeline.
-- Applied in one transaction by `ivr-app db migrate`; never edit it once applied anywhere:
-- add 0002_... instead.

CREATE TABLE employees (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    extension    text NOT NULL UNIQUE CHECK (extension ~ '^[0-9]{2,8}$'),
    name         text NOT NULL CHECK (name <> ''),
    email        text,
    -- scrypt hash of the PIN ("scrypt$n$r$p$salt$hash"); never the PIN itself
    pin_hash     text,
    manager_id   bigint REFERENCES employees (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX employees_manager_idx ON employees (manager_id);

CREATE TABLE customers (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CHECK (name <> ''),
    company             text,
    vip                 boolean NOT NULL DEFAULT false,
    -- ISO 639-1 code of the language the IVR greets them in
    language            text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2}$'),
    account_manager_id  bigint REFERENCES employees (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_account_manager_idx ON customers (account_manager_id);

-- caller number -> customer: the UNIQUE constraint's index is what every incoming call hits
CREATE TABLE customer_phone_numbers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    number       text NOT NULL UNIQUE CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    label        text
);
CREATE INDEX customer_phone_numbers_customer_idx ON customer_phone_numbers (customer_id);

CREATE TYPE device_kind AS ENUM ('desk', 'mobile', 'home', 'other');

CREATE TABLE employee_devices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    employee_id     bigint NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    kind            device_kind NOT NULL,
    -- an E.164 number (external leg) or a FreeSWITCH dial string such as user/1001
    destination     text NOT NULL CHECK (destination <> ''),
    enabled         boolean NOT NULL DEFAULT true,
    ring_delay_s    integer NOT NULL DEFAULT 0 CHECK (ring_delay_s BETWEEN 0 AND 300),
    ring_timeout_s  integer NOT NULL DEFAULT 25 CHECK (ring_timeout_s BETWEEN 1 AND 600),
    UNIQUE (employee_id, kind, destination)
);

CREATE TYPE presence_state AS ENUM ('available', 'on_call', 'meeting', 'away', 'dnd', 'vacation');

-- one row per employee: the state they set (on_call is derived from channel events)
CREATE TABLE presence (
    employee_id  bigint PRIMARY KEY REFERENCES employees (id) ON DELETE CASCADE,
    state        presence_state NOT NULL DEFAULT 'available',
    until        timestamptz,
    note         text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text
);

CREATE TYPE presence_action AS ENUM ('ring', 'voicemail', 'forward', 'reject');

-- what a call does in a given state, with exceptions by caller (the lowest priority wins)
CREATE TABLE presence_rules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    employee_id   bigint NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    state         presence_state NOT NULL,
    priority      integer NOT NULL DEFAULT 100,
    -- who the rule is for: {"any": true} | {"manager": true} | {"vip": true} | {"numbers": [...]}
    caller_match  jsonb NOT NULL DEFAULT '{"any": true}',
    action        presence_action NOT NULL,
    devices       device_kind[] NOT NULL DEFAULT '{}',
    forward_to    text,
    active_from   time,
    active_to     time,
    UNIQUE (employee_id, state, priority)
);

CREATE TYPE call_direction AS ENUM ('inbound', 'outbound', 'internal');

-- one row per call UUID
CREATE TABLE calls (
    uuid           uuid PRIMARY KEY,
    direction      call_direction NOT NULL,
    caller_number  text,
    caller_name    text,
    destination    text,
    customer_id    bigint REFERENCES customers (id) ON DELETE SET NULL,
    employee_id    bigint REFERENCES employees (id) ON DELETE SET NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    answered_at    timestamptz,
    ended_at       timestamptz,
    hangup_cause   text,
    route          text,
    -- menu options pressed, in order: [{"menu": "main", "digits": "2"}, ...]
    menu_path      jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX calls_customer_idx ON calls (customer_id, started_at DESC);
CREATE INDEX calls_employee_idx ON calls (employee_id, started_at DESC);
CREATE INDEX calls_started_idx ON calls (started_at);

CREATE TYPE recording_status AS ENUM ('recording', 'complete', 'discarded', 'missing');

-- call_uuid is deliberately not a foreign key: recording metadata replayed from the local
-- spool after a database outage must be accepted even if the calls row is written later.
CREATE TABLE recordings (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_uuid    uuid NOT NULL,
    customer_id  bigint REFERENCES customers (id) ON DELETE SET NULL,
    employee_id  bigint REFERENCES employees (id) ON DELETE SET NULL,
    path         text NOT NULL,
    sha256       text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes        bigint CHECK (bytes >= 0),
    duration_ms  integer CHECK (duration_ms >= 0),
    started_at   timestamptz,
    stopped_at   timestamptz,
    status       recording_status NOT NULL DEFAULT 'recording',
    UNIQUE (call_uuid, path)
);
CREATE INDEX recordings_customer_idx ON recordings (customer_id, started_at DESC);

CREATE TYPE interaction_kind AS ENUM ('call', 'recording', 'voicemail', 'note', 'notification');

-- the customer's one timeline
CREATE TABLE interactions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    employee_id  bigint REFERENCES employees (id) ON DELETE SET NULL,
    kind         interaction_kind NOT NULL,
    -- what it points at: a call UUID, a recording id, ...; unique per kind so attaching is idempotent
    reference    text,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    summary      text NOT NULL DEFAULT ''
);
CREATE INDEX interactions_customer_idx ON interactions (customer_id, occurred_at DESC);
CREATE UNIQUE INDEX interactions_reference_idx ON interactions (kind, reference)
    WHERE reference IS NOT NULL;

-- 0006: the presence menu's PIN lockout, shared by every node: consecutive wrong PINs and
-- the time until which the menu refuses that extension.

ALTER TABLE employees ADD COLUMN pin_failures integer NOT NULL DEFAULT 0
    CHECK (pin_failures >= 0);
ALTER TABLE employees ADD COLUMN pin_locked_until timestamptz;

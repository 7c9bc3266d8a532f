"""Routing profiles in PostgreSQL: read one whole, change one field at a time.

Every change goes through :func:`set_state` / :func:`set_forward`, which touch only their own
column (DND never clears a forward) and ``NOTIFY ivr_app_presence`` in the same transaction, so
every ivr-app node hears of it exactly when it is committed.
"""

from __future__ import annotations

import datetime as dt
import json

import psycopg

from ivr_app.presence.model import (
    Action,
    CallerMatch,
    Device,
    DeviceKind,
    Profile,
    Rule,
    State,
)

CHANNEL = "ivr_app_presence"


def load_profile(conn: psycopg.Connection, extension: str) -> Profile | None:
    row = conn.execute(
        """SELECT e.id, e.extension, e.name, e.manager_id,
                  COALESCE(p.state::text, 'available'), p.until, p.forward_to
           FROM employees e LEFT JOIN presence p ON p.employee_id = e.id
           WHERE e.extension = %s""", (extension,)).fetchone()
    if row is None:
        return None
    emp_id = row[0]
    devices = tuple(
        Device(DeviceKind(kind), dest, enabled, delay, timeout)
        for kind, dest, enabled, delay, timeout in conn.execute(
            """SELECT kind::text, destination, enabled, ring_delay_s, ring_timeout_s
               FROM employee_devices WHERE employee_id = %s ORDER BY id""", (emp_id,)))
    rules = tuple(
        Rule(State(state), Action(action), priority, CallerMatch.from_json(match),
             tuple(DeviceKind(k) for k in kinds), forward_to, start, end)
        for state, action, priority, match, kinds, forward_to, start, end in conn.execute(
            """SELECT state::text, action::text, priority, caller_match, devices::text[],
                      forward_to, active_from, active_to
               FROM presence_rules WHERE employee_id = %s ORDER BY priority""", (emp_id,)))
    return Profile(emp_id, row[1], row[2], State(row[4]), row[5], row[6],
                   manager_id=row[3], devices=devices, rules=rules)


def caller_employee_id(conn: psycopg.Connection, number: str) -> int | None:
    """The employee calling, by extension or by one of their devices' numbers."""
    row = conn.execute(
        """SELECT id FROM employees WHERE extension = %s
           UNION ALL
           SELECT employee_id FROM employee_devices WHERE destination = %s
              OR destination = 'user/' || %s
           LIMIT 1""", (number, number, number)).fetchone()
    return int(row[0]) if row else None


def set_state(conn: psycopg.Connection, extension: str, state: State, by: str,
              until: dt.datetime | None = None) -> bool:
    """False when there is no such employee."""
    if state is State.ON_CALL:
        raise ValueError("on_call is derived from calls, it cannot be set")
    return _change(conn, extension, by, "state", state.value, until=until)


def set_forward(conn: psycopg.Connection, extension: str, number: str | None, by: str) -> bool:
    return _change(conn, extension, by, "forward_to", number)


_UPSERT = {
    "state": """INSERT INTO presence (employee_id, state, until, updated_by)
                VALUES (%(id)s, %(value)s::presence_state, %(until)s, %(by)s)
                ON CONFLICT (employee_id) DO UPDATE
                SET state = EXCLUDED.state, until = EXCLUDED.until,
                    updated_by = EXCLUDED.updated_by, updated_at = now()""",
    "forward_to": """INSERT INTO presence (employee_id, forward_to, updated_by)
                     VALUES (%(id)s, %(value)s, %(by)s)
                     ON CONFLICT (employee_id) DO UPDATE
                     SET forward_to = EXCLUDED.forward_to,
                         updated_by = EXCLUDED.updated_by, updated_at = now()""",
}


def _change(conn: psycopg.Connection, extension: str, by: str, column: str,
            value: str | None, until: dt.datetime | None = None) -> bool:
    with conn.transaction():
        row = conn.execute("SELECT id FROM employees WHERE extension = %s",
                           (extension,)).fetchone()
        if row is None:
            return False
        conn.execute(_UPSERT[column], {"id": row[0], "value": value, "by": by, "until": until})
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(
            {"extension": extension, column: value, "by": by})))
    return True


def pin_check(conn: psycopg.Connection, extension: str, pin: str, max_failures: int,
              lockout: dt.timedelta) -> str:
    """``ok``, ``wrong`` or ``locked``: one transaction, the employee's row locked, so two
    nodes cannot both count the same failure away. An unknown extension is ``wrong`` (the
    menu never tells a caller which extensions exist)."""
    from ivr_app.pin import verify_pin

    with conn.transaction():
        row = conn.execute(
            """SELECT id, pin_hash, pin_failures, pin_locked_until > now()
               FROM employees WHERE extension = %s FOR UPDATE""", (extension,)).fetchone()
        if row is None:
            return "wrong"
        emp_id, stored, failures, locked = row
        if locked:
            return "locked"
        if verify_pin(pin, stored):
            conn.execute("""UPDATE employees SET pin_failures = 0, pin_locked_until = NULL
                            WHERE id = %s""", (emp_id,))
            return "ok"
        failures += 1
        if failures >= max_failures:
            conn.execute("""UPDATE employees SET pin_failures = 0,
                            pin_locked_until = now() + %s WHERE id = %s""", (lockout, emp_id))
            return "locked"
        conn.execute("UPDATE employees SET pin_failures = %s WHERE id = %s", (failures, emp_id))
        return "wrong"


def current_state(conn: psycopg.Connection, extension: str) -> str:
    row = conn.execute(
        """SELECT CASE WHEN p.until IS NOT NULL AND p.until <= now() THEN 'available'
                       ELSE COALESCE(p.state::text, 'available') END
           FROM employees e LEFT JOIN presence p ON p.employee_id = e.id
           WHERE e.extension = %s""", (extension,)).fetchone()
    return row[0] if row else "available"

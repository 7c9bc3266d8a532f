"""Voicemails: one row per message kept by mod_voicemail, idempotent by (call UUID, file)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

STORE = """
WITH ins AS (
    INSERT INTO voicemails (call_uuid, employee_id, customer_id, caller_number, caller_name,
                            path, seconds, urgent, left_at)
    SELECT %(call_uuid)s, (SELECT id FROM employees WHERE extension = %(box)s),
           c.id, %(caller_number)s, %(caller_name)s, %(path)s, %(seconds)s,
           COALESCE(c.vip, false), COALESCE(%(at)s::timestamptz, now())
    FROM (SELECT 1) one
    LEFT JOIN customers c ON c.id = COALESCE(
        %(customer_id)s::bigint,
        (SELECT customer_id FROM calls WHERE uuid = %(call_uuid)s::uuid),
        (SELECT customer_id FROM customer_phone_numbers WHERE number = %(caller_number)s))
    ON CONFLICT (call_uuid, path) DO NOTHING
    RETURNING id, employee_id, customer_id, urgent, seconds, left_at
), timeline AS (
    INSERT INTO interactions (customer_id, employee_id, kind, reference, summary, occurred_at)
    SELECT customer_id, employee_id, 'voicemail', 'voicemail:' || id,
           'voicemail, ' || COALESCE(seconds, 0) || ' s', left_at FROM ins
    WHERE customer_id IS NOT NULL
    ON CONFLICT (kind, reference) WHERE reference IS NOT NULL DO NOTHING
)
SELECT ins.id, ins.urgent, c.name, c.company, e.email, e.name
FROM ins LEFT JOIN customers c ON c.id = ins.customer_id
LEFT JOIN employees e ON e.id = ins.employee_id
"""


def store(conn: psycopg.Connection, *, call_uuid: str, box: str | None,
          caller_number: str | None, caller_name: str | None, path: str,
          seconds: int | None, customer_id: int | None,
          at: str | dt.datetime | None = None) -> tuple[Any, ...] | None:
    """The message's row and its timeline entry; (id, urgent, customer name, company,
    employee's e-mail, employee's name), or None when it was stored before."""
    with conn.transaction():
        return conn.execute(STORE, {
            "call_uuid": call_uuid, "box": box, "caller_number": caller_number,
            "caller_name": caller_name, "path": path, "seconds": seconds,
            "customer_id": customer_id, "at": at}).fetchone()


def notified(conn: psycopg.Connection, voicemail_id: int) -> None:
    conn.execute("UPDATE voicemails SET notified_at = now() WHERE id = %s", (voicemail_id,))

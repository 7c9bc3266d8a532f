"""The customer's timeline: one row per call, recording, voicemail, note or notification."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Interaction:
    kind: str
    reference: str | None
    occurred_at: dt.datetime
    summary: str


def add(conn: psycopg.Connection, customer_id: int | None, kind: str, reference: str | None,
        summary: str, employee_id: int | None = None, *, caller_number: str | None = None,
        employee_extension: str | None = None, at: str | dt.datetime | None = None) -> None:
    """Idempotent per (kind, reference): replaying an attach adds nothing twice.

    Written after an outage the customer and the employee may be unknown: ``caller_number``
    (E.164) and ``employee_extension`` find them then; nobody found, nothing is added.
    ``at``: when it happened (default: now)."""
    conn.execute(
        """INSERT INTO interactions (customer_id, employee_id, kind, reference, summary,
                                     occurred_at)
           SELECT who.customer_id,
                  COALESCE(%(employee)s::bigint,
                           (SELECT id FROM employees WHERE extension = %(extension)s)),
                  %(kind)s, %(reference)s, %(summary)s, COALESCE(%(at)s::timestamptz, now())
           FROM (SELECT COALESCE(%(customer)s::bigint,
                                 (SELECT customer_id FROM customer_phone_numbers
                                  WHERE number = %(number)s)) AS customer_id) who
           WHERE who.customer_id IS NOT NULL
           ON CONFLICT (kind, reference) WHERE reference IS NOT NULL
           DO UPDATE SET summary = EXCLUDED.summary, employee_id = EXCLUDED.employee_id""",
        {"customer": customer_id, "employee": employee_id, "extension": employee_extension,
         "kind": kind, "reference": reference, "summary": summary, "number": caller_number,
         "at": at},
    )


def recent(conn: psycopg.Connection, customer_id: int, limit: int = 5) -> list[Interaction]:
    rows = conn.execute(
        """SELECT kind::text, reference, occurred_at, summary FROM interactions
           WHERE customer_id = %s ORDER BY occurred_at DESC LIMIT %s""",
        (customer_id, limit),
    ).fetchall()
    return [Interaction(*r) for r in rows]

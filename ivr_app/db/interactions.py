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


def add(conn: psycopg.Connection, customer_id: int, kind: str, reference: str | None,
        summary: str, employee_id: int | None = None) -> None:
    """Idempotent per (kind, reference): replaying an attach adds nothing twice."""
    conn.execute(
        """INSERT INTO interactions (customer_id, employee_id, kind, reference, summary)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (kind, reference) WHERE reference IS NOT NULL
           DO UPDATE SET summary = EXCLUDED.summary, employee_id = EXCLUDED.employee_id""",
        (customer_id, employee_id, kind, reference, summary),
    )


def recent(conn: psycopg.Connection, customer_id: int, limit: int = 5) -> list[Interaction]:
    rows = conn.execute(
        """SELECT kind::text, reference, occurred_at, summary FROM interactions
           WHERE customer_id = %s ORDER BY occurred_at DESC LIMIT %s""",
        (customer_id, limit),
    ).fetchall()
    return [Interaction(*r) for r in rows]

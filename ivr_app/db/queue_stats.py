"""A queue's figures from PostgreSQL: the wallboard's live view and the entries a report
counts (ivr_app/queue/figures.py computes on them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from ivr_app.db.queues import LIVE, STALE_SECONDS, queue_sql
from ivr_app.queue.figures import Entry


@dataclass(frozen=True)
class Live:
    queue: str
    waiting: int
    longest_wait_s: float
    average_wait_s: float | None  # of today's callers who left the queue
    service_level: float | None  # today, 0..1
    answered: int  # today
    abandoned: int  # today
    agents_available: int
    agents_busy: int  # offered, talking, or on another call
    agents_wrap_up: int


def live(conn: psycopg.Connection, queue: str, skills: Mapping[str, int],
         threshold_s: float, busy_extensions: Sequence[str] = (),
         since: dt.datetime | None = None) -> Live:
    """The wallboard figures of one queue now (today: since local midnight unless ``since``)."""
    from ivr_app.queue.figures import figures

    since = since or dt.datetime.now().astimezone().replace(hour=0, minute=0, second=0,
                                                            microsecond=0)
    row = conn.execute(
        queue_sql("""SELECT count(*), COALESCE(max(extract(epoch FROM now() - entered_at)), 0)
           FROM queue_entries WHERE queue = %(queue)s AND status = ANY(%(live)s) AND {alive}"""),
        {"queue": queue, "live": list(LIVE), "stale": STALE_SECONDS}).fetchone()
    assert row is not None
    waiting, longest = int(row[0]), float(row[1])
    today = entries(conn, since, dt.datetime.now(dt.UTC), queue)
    f = figures(today, threshold_s)
    left = [e for e in today if e.outcome != "waiting"]
    avg_wait = sum(e.wait_s for e in left) / len(left) if left else None
    agents = conn.execute(
        queue_sql("""SELECT
              count(*) FILTER (WHERE a.entry_id IS NULL AND a.ready_after <= now()
                               AND {available} = 'available'
                               AND NOT (e.extension = ANY(%(busy)s))),
              count(*) FILTER (WHERE a.entry_id IS NOT NULL
                               OR (e.extension = ANY(%(busy)s))),
              count(*) FILTER (WHERE a.entry_id IS NULL AND a.ready_after > now()
                               AND NOT (e.extension = ANY(%(busy)s)))
            FROM agents a JOIN employees e ON e.id = a.employee_id
            LEFT JOIN presence p ON p.employee_id = a.employee_id
            WHERE {has_skills}"""),
        {"busy": list(busy_extensions), "skills": Jsonb(dict(skills))}).fetchone()
    assert agents is not None
    return Live(queue, waiting, longest, avg_wait, f.service_level, f.answered, f.abandoned,
                int(agents[0]), int(agents[1]), int(agents[2]))


def entries(conn: psycopg.Connection, start: dt.datetime, end: dt.datetime,
            queue: str | None = None) -> list[Entry]:
    """Every entry that came into the queue(s) in [start, end), as the report counts them."""
    rows = conn.execute(
        """SELECT q.queue, q.entered_at,
                  CASE WHEN q.status IN ('waiting', 'offered') THEN 'waiting'
                       ELSE q.status END,
                  extract(epoch FROM COALESCE(q.answered_at, q.left_at, now()) - q.entered_at),
                  e.extension || ' ' || e.name,
                  COALESCE(extract(epoch FROM q.ended_at - q.answered_at), 0)
           FROM queue_entries q LEFT JOIN employees e ON e.id = q.agent_id
           WHERE q.entered_at >= %s AND q.entered_at < %s
             AND (%s::text IS NULL OR q.queue = %s)
           ORDER BY q.entered_at""", (start, end, queue, queue)).fetchall()
    return [Entry(r[1], r[2], float(r[3]), r[4] if r[2] == "answered" else None,
                  float(r[5]) if r[2] == "answered" else 0.0, queue=r[0]) for r in rows]

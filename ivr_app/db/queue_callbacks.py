"""Callback requests in PostgreSQL: a caller's "call me back" keeps their place in the line,
is dialled when an agent is free (agent first, then the customer), and is retried or closed.
The line itself and the agents are ivr_app/db/queues.py's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

from ivr_app.db.queues import AT as _AT
from ivr_app.db.queues import Offer, answered, offer_agent


def request_callback(conn: psycopg.Connection, queue: str, entry_id: int | None, number: str,
                     customer_id: int | None, at: str | dt.datetime | None = None) -> int:
    """Store the request and put it in the line where the caller was (``entry_id``: the entry
    of the call that asked; None: at the back, as of ``at``). Returns the request's id."""
    with conn.transaction():
        row = conn.execute(
            f"""INSERT INTO queue_callbacks (queue, entry_id, number, customer_id, requested_at)
               VALUES (%s, %s, %s, %s, {_AT}) RETURNING id""",  # noqa: S608 - constant
            (queue, entry_id, number, customer_id, at)).fetchone()
        assert row is not None
        conn.execute(
            """INSERT INTO queue_entries (queue, call_uuid, node, caller_number, customer_id, vip,
                                          team, entered_at, position_at_entry, callback_id)
               SELECT %(queue)s, 'callback-' || %(cb)s, 'callback', %(number)s, %(customer)s,
                      COALESCE(o.vip, false), COALESCE(o.team, false),
                      COALESCE(o.entered_at, %(at)s::timestamptz, now()),
                      COALESCE(o.position_at_entry, 0), %(cb)s
               FROM (SELECT 1) one LEFT JOIN queue_entries o ON o.id = %(entry)s""",
            {"queue": queue, "cb": row[0], "number": number, "customer": customer_id,
             "entry": entry_id, "at": at})
    return row[0]


@dataclass(frozen=True)
class CallbackOffer:
    offer: Offer
    callback_id: int
    number: str
    customer_id: int | None
    attempts: int


def claim_callback(conn: psycopg.Connection, queue: str, skills: Mapping[str, int],
                   busy_extensions: Sequence[str] = ()) -> CallbackOffer | None:
    """The first callback of the queue whose turn it is, with an agent for it. Any node may
    dial a callback, so the entry itself is locked FOR UPDATE SKIP LOCKED here."""
    with conn.transaction():
        row = conn.execute(
            """SELECT q.id, c.id, c.number, c.customer_id, c.attempts
               FROM queue_entries q JOIN queue_callbacks c ON c.id = q.callback_id
               WHERE q.queue = %s AND q.status = 'waiting'
                 AND (q.not_before IS NULL OR q.not_before <= now())
               ORDER BY q.vip DESC, q.team DESC, q.entered_at, q.id LIMIT 1
               FOR UPDATE OF q SKIP LOCKED""", (queue,)).fetchone()
        if row is None:
            return None
        offer = offer_agent(conn, row[0], skills, busy_extensions)
        if offer is None:
            return None
    return CallbackOffer(offer, row[1], row[2], row[3], row[4])


def callback_reached(conn: psycopg.Connection, cb: CallbackOffer) -> None:
    """The agent answered and so did the customer: the request is done, by that agent."""
    with conn.transaction():
        answered(conn, cb.offer)
        conn.execute("""UPDATE queue_callbacks SET done_at = now(), done_by = %s,
                        attempts = attempts + 1, last_result = 'reached' WHERE id = %s""",
                     (cb.offer.extension, cb.callback_id))


def callback_not_reached(conn: psycopg.Connection, cb: CallbackOffer, result: str,
                         retry_s: int, max_attempts: int) -> bool:
    """The agent answered but the customer did not: try again in ``retry_s`` (the agent is
    free at once), or give up after ``max_attempts``. True when it will be tried again."""
    with conn.transaction():
        row = conn.execute("""UPDATE queue_callbacks SET attempts = attempts + 1,
                              last_result = %s WHERE id = %s RETURNING attempts""",
                           (result, cb.callback_id)).fetchone()
        again = bool(row and row[0] < max_attempts)
        conn.execute("""UPDATE agents SET entry_id = NULL, entry_state = NULL
                        WHERE employee_id = %s AND entry_id = %s""",
                     (cb.offer.agent_id, cb.offer.entry_id))
        if again:
            conn.execute("""UPDATE queue_entries SET status = 'waiting', agent_id = NULL,
                            not_before = now() + make_interval(secs => %s) WHERE id = %s""",
                         (retry_s, cb.offer.entry_id))
        else:
            conn.execute("""UPDATE queue_entries SET status = 'overflow',
                            reason = 'callback not reached: ' || %s, left_at = now(),
                            ended_at = now(), agent_id = NULL WHERE id = %s""",
                         (result, cb.offer.entry_id))
            conn.execute("UPDATE queue_callbacks SET done_at = now(), done_by = 'gave up' "
                         "WHERE id = %s", (cb.callback_id,))
    return again


@dataclass(frozen=True)
class Callback:
    id: int
    queue: str
    number: str
    customer: str | None
    requested_at: dt.datetime


def open_callbacks(conn: psycopg.Connection, queue: str | None = None) -> list[Callback]:
    rows = conn.execute(
        """SELECT cb.id, cb.queue, cb.number, c.name, cb.requested_at
           FROM queue_callbacks cb LEFT JOIN customers c ON c.id = cb.customer_id
           WHERE cb.done_at IS NULL AND (%s::text IS NULL OR cb.queue = %s)
           ORDER BY cb.requested_at""", (queue, queue)).fetchall()
    return [Callback(*r) for r in rows]


def callback_done(conn: psycopg.Connection, callback_id: int, by: str) -> bool:
    """Someone called back by hand: the request is closed and leaves the line."""
    with conn.transaction():
        cur = conn.execute("UPDATE queue_callbacks SET done_at = now(), done_by = %s "
                           "WHERE id = %s AND done_at IS NULL", (by, callback_id))
        conn.execute("""UPDATE queue_entries SET status = 'overflow', left_at = now(),
                        ended_at = now(), reason = 'callback done by ' || %s
                        WHERE callback_id = %s AND status = 'waiting'""", (by, callback_id))
    return cur.rowcount == 1

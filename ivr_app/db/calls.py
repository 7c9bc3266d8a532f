"""The calls table: one row per call UUID, written when the call starts and when it ends."""

from __future__ import annotations

import datetime as dt
import json

import psycopg


def started(conn: psycopg.Connection, uuid: str, *, direction: str, caller_number: str,
            caller_name: str, destination: str, customer_id: int | None,
            node: str | None = None, caller_e164: str | None = None,
            at: str | dt.datetime | None = None) -> None:
    """``caller_e164``: the customer is found by it when ``customer_id`` is unknown (a row
    written after an outage, when the lookup could not be made); ``at``: when the call
    started (a replayed write keeps the call's own time)."""
    conn.execute(
        """INSERT INTO calls (uuid, direction, caller_number, caller_name, destination,
                              customer_id, node, started_at)
           VALUES (%s, %s, %s, %s, %s,
                   COALESCE(%s, (SELECT customer_id FROM customer_phone_numbers
                                 WHERE number = %s)),
                   %s, COALESCE(%s::timestamptz, now()))
           ON CONFLICT (uuid) DO NOTHING""",
        (uuid, direction, caller_number, caller_name, destination, customer_id, caller_e164,
         node, at),
    )


def left_open(conn: psycopg.Connection, node: str, before: dt.datetime) -> list[str]:
    """The calls this node started before ``before`` and never closed (it was killed)."""
    rows = conn.execute("""SELECT uuid::text FROM calls
                           WHERE node = %s AND ended_at IS NULL AND started_at < %s""",
                        (node, before)).fetchall()
    return [r[0] for r in rows]


def close_orphan(conn: psycopg.Connection, uuid: str, cause: str, why: str) -> None:
    """Close a row its node left open: the cause FreeSWITCH gave (or ours), the route says
    what happened to the call without ivr-app."""
    conn.execute(
        """UPDATE calls SET ended_at = now(), hangup_cause = %s,
                            route = COALESCE(route || ' -> ', '') || %s
           WHERE uuid = %s AND ended_at IS NULL""", (cause, why, uuid))


def answered(conn: psycopg.Connection, uuid: str, at: str | dt.datetime | None = None) -> None:
    conn.execute("UPDATE calls SET answered_at = COALESCE(%s::timestamptz, now()) "
                 "WHERE uuid = %s AND answered_at IS NULL", (at, uuid))


def ended(conn: psycopg.Connection, uuid: str, *, hangup_cause: str | None, route: str | None,
          menu_path: list[dict[str, str]], employee_id: int | None = None,
          employee_answered: bool | None = None, employee_extension: str | None = None,
          at: str | dt.datetime | None = None) -> None:
    """``employee_id``: who the call was meant for (or ``employee_extension``, when the
    employee could not be looked up: an outage); ``employee_answered``: did they take it
    (None: the call never tried to reach anyone); ``at``: when it ended."""
    conn.execute(
        """UPDATE calls SET ended_at = COALESCE(%s::timestamptz, now()), hangup_cause = %s,
                            route = %s, menu_path = %s,
                            employee_id = COALESCE(%s, (SELECT id FROM employees
                                                        WHERE extension = %s), employee_id),
                            employee_answered = %s
           WHERE uuid = %s""",
        (at, hangup_cause, route, json.dumps(menu_path), employee_id, employee_extension,
         employee_answered, uuid),
    )


def missed(conn: psycopg.Connection, extension: str, since: object = None,
           limit: int = 50) -> list[tuple]:
    """An employee's missed calls, newest first: when, caller, customer, what happened, and
    the voicemail left, if any."""
    return conn.execute(
        """SELECT c.started_at, COALESCE(c.caller_number, ''), COALESCE(c.caller_name, ''),
                  COALESCE(cu.name, ''), COALESCE(c.route, ''), v.seconds
           FROM calls c JOIN employees e ON e.id = c.employee_id
           LEFT JOIN customers cu ON cu.id = c.customer_id
           LEFT JOIN voicemails v ON v.call_uuid = c.uuid
           WHERE e.extension = %s AND c.employee_answered IS FALSE
             AND (%s::timestamptz IS NULL OR c.started_at >= %s)
           ORDER BY c.started_at DESC LIMIT %s""",
        (extension, since, since, limit)).fetchall()

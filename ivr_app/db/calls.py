"""The calls table: one row per call UUID, written when the call starts and when it ends."""

from __future__ import annotations

import json

import psycopg


def started(conn: psycopg.Connection, uuid: str, *, direction: str, caller_number: str,
            caller_name: str, destination: str, customer_id: int | None) -> None:
    conn.execute(
        """INSERT INTO calls (uuid, direction, caller_number, caller_name, destination,
                              customer_id)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (uuid) DO NOTHING""",
        (uuid, direction, caller_number, caller_name, destination, customer_id),
    )


def answered(conn: psycopg.Connection, uuid: str) -> None:
    conn.execute("UPDATE calls SET answered_at = now() WHERE uuid = %s AND answered_at IS NULL",
                 (uuid,))


def ended(conn: psycopg.Connection, uuid: str, *, hangup_cause: str | None, route: str | None,
          menu_path: list[dict[str, str]]) -> None:
    conn.execute(
        """UPDATE calls SET ended_at = now(), hangup_cause = %s, route = %s, menu_path = %s
           WHERE uuid = %s""",
        (hangup_cause, route, json.dumps(menu_path), uuid),
    )

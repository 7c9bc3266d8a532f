"""The external legs in use per employee, across all nodes (migration 0015).

``claim`` is atomic per employee (a transaction-scoped advisory lock on the extension): two
nodes ringing the same employee at the same moment cannot both pass the cap.
"""

from __future__ import annotations

import datetime as dt

import psycopg


def in_use(conn: psycopg.Connection, extension: str) -> int:
    """Legs held now; a row a day old is a release that never came, not counted."""
    row = conn.execute("""SELECT COALESCE(sum(legs), 0) FROM external_legs
                          WHERE extension = %s AND started_at > now() - interval '1 day'""",
                       (extension,)).fetchone()
    return int(row[0]) if row else 0


def claim(conn: psycopg.Connection, extension: str, call_uuid: str, legs: int, cap: int,
          node: str) -> tuple[bool, int]:
    """(True, in use before) with the legs recorded; (False, in use) if they would pass
    ``cap``, nothing recorded."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ivr_app_external_legs'), "
                     "hashtext(%s))", (extension,))
        used = in_use(conn, extension)
        if used + legs > cap:
            return False, used
        conn.execute("""INSERT INTO external_legs (call_uuid, extension, legs, node)
                        VALUES (%s, %s, %s, %s)
                        ON CONFLICT (call_uuid, extension) DO UPDATE
                        SET legs = EXCLUDED.legs, node = EXCLUDED.node,
                            started_at = now()""", (call_uuid, extension, legs, node))
        return True, used


def release(conn: psycopg.Connection, call_uuid: str, extension: str) -> None:
    conn.execute("DELETE FROM external_legs WHERE call_uuid = %s AND extension = %s",
                 (call_uuid, extension))


def release_node(conn: psycopg.Connection, node: str, started: dt.datetime) -> int:
    """A node that started again at ``started``: the legs its last run held are gone with
    its calls (the new run's own claims, made since, stay)."""
    cur = conn.execute("DELETE FROM external_legs WHERE node = %s AND started_at < %s",
                       (node, started))
    return cur.rowcount

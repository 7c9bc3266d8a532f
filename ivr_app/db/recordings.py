"""Recordings attached to calls, customers and employees; idempotent by (call UUID, path)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class RecordingMeta:
    """Everything known about one recording when it stopped; JSON-able for the spool."""

    call_uuid: str
    path: str
    status: str  # complete | discarded | missing
    customer_id: int | None = None
    employee_extension: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    duration_ms: int | None = None
    started_at: str | None = None  # ISO 8601
    stopped_at: str | None = None
    completion_cause: str | None = None
    reason: str | None = None
    # on-demand keys: [{"key", "action", "by", "at"}, ...]; None in spools older than 0004
    key_presses: list[dict[str, str]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_params(self) -> dict[str, Any]:
        return {**self.as_dict(), "key_presses": Jsonb(self.key_presses or [])}


ATTACH = """
WITH ins AS (
    INSERT INTO recordings (call_uuid, customer_id, employee_id, path, sha256, bytes,
                            duration_ms, started_at, stopped_at, status, completion_cause,
                            reason, key_presses)
    SELECT %(call_uuid)s,
           COALESCE(%(customer_id)s::bigint,
                    (SELECT customer_id FROM calls WHERE uuid = %(call_uuid)s::uuid)),
           (SELECT id FROM employees WHERE extension = %(employee_extension)s),
           %(path)s, %(sha256)s, %(bytes)s, %(duration_ms)s, %(started_at)s, %(stopped_at)s,
           %(status)s::recording_status, %(completion_cause)s, %(reason)s,
           %(key_presses)s
    ON CONFLICT (call_uuid, path) DO NOTHING
    RETURNING id, customer_id, employee_id, duration_ms, status
)
INSERT INTO interactions (customer_id, employee_id, kind, reference, occurred_at, summary)
SELECT customer_id, employee_id, 'recording', 'recording:' || id,
       COALESCE(%(stopped_at)s::timestamptz, now()),
       CASE WHEN status = 'discarded' THEN 'recording discarded (too short)'
            ELSE 'recording, ' || COALESCE(round(duration_ms / 1000.0)::text, '?') || ' s' END
FROM ins WHERE customer_id IS NOT NULL
ON CONFLICT (kind, reference) WHERE reference IS NOT NULL DO NOTHING
"""


def attach_many(conn: psycopg.Connection, metas: Sequence[RecordingMeta]) -> None:
    """One transaction for a batch; a recording already attached is left as it is."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(ATTACH, [m.as_params() for m in metas])


def follow_customer(conn: psycopg.Connection, call_uuid: str, customer_id: int) -> None:
    """The customer became known after the recording stopped: the recordings follow."""
    with conn.transaction():
        rows = conn.execute(
            """UPDATE recordings SET customer_id = %s
               WHERE call_uuid = %s AND customer_id IS NULL RETURNING id, duration_ms""",
            (customer_id, call_uuid)).fetchall()
        for rec_id, ms in rows:
            conn.execute(
                """INSERT INTO interactions (customer_id, kind, reference, summary)
                   VALUES (%s, 'recording', %s, %s)
                   ON CONFLICT (kind, reference) WHERE reference IS NOT NULL DO NOTHING""",
                (customer_id, f"recording:{rec_id}",
                 f"recording, {round((ms or 0) / 1000)} s"))


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()

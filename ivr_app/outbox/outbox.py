"""The one way a call's path writes to PostgreSQL.

    outbox.submit(ops.CallEnded(uuid=..., route=..., menu_path=..., hangup_cause=...))

When PostgreSQL answers (and nothing waits in the journal before it), the write is made at
once, in a transaction that also records its id in ``outbox_applied``. When it does not, or
while the circuit breaker is open, or while older writes still wait, the write is appended to
the fsync'd journal (journal.py) and replayed in order by the prober (replay.py): exactly
once, because the id is recorded in the write's own transaction. A write that can never be
applied (a constraint it breaks) is kept in ``rejected.jsonl`` and logged, never retried.

Reads are not the outbox's: :meth:`Outbox.read` runs one, giving its default at once while
the breaker is open and opening the breaker when the database turns out to be down.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from ivr_app.outbox.breaker import Breaker, _first_line
from ivr_app.outbox.journal import Entry, Journal
from ivr_app.outbox.ops import Op

T = TypeVar("T")

WRITTEN, JOURNALED, REJECTED, LOST = "written", "journaled", "rejected", "lost"
# errors of a schema not migrated yet: the write waits in the journal for `ivr-app db migrate`
NOT_MIGRATED = ("42P01", "42703", "42883")


@dataclass(frozen=True)
class Submitted:
    status: str  # written | journaled | rejected | lost
    result: Any = None

    @property
    def durable(self) -> bool:
        """In PostgreSQL, or safe in the journal."""
        return self.status in (WRITTEN, JOURNALED)


def permanent(exc: BaseException) -> bool:
    """Would this write fail the same way every time (so retrying it is pointless)?"""
    if isinstance(exc, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        return True
    if isinstance(exc, psycopg.errors.ProgrammingError):
        return getattr(exc, "sqlstate", None) not in NOT_MIGRATED
    return False


def apply_entry(conn: psycopg.Connection, entry: Entry, op: Op) -> tuple[bool, Any]:
    """Apply ``op`` unless the entry's id was applied before: (applied now?, its result)."""
    with conn.transaction():
        row = conn.execute("INSERT INTO outbox_applied (id, op) VALUES (%s, %s) "
                           "ON CONFLICT (id) DO NOTHING RETURNING id",
                           (entry.id, entry.op)).fetchone()
        if row is None:
            return False, None
        return True, op.apply(conn)


class Outbox:
    def __init__(self, pool: Any, journal: Journal, breaker: Breaker, log: Any,
                 wait: float = 1.0):
        self.pool, self.journal, self.breaker = pool, journal, breaker
        self.log = log.bind(component="outbox")
        self.wait = wait
        self.hooks: dict[str, list[Callable[[Op, Any], None]]] = collections.defaultdict(list)
        self.on_drained: list[Callable[[], None]] = []  # the journal emptied into PostgreSQL
        self.written = self.journaled = self.replayed = self.rejected = 0

    def on_applied(self, name: str, hook: Callable[[Op, Any], None]) -> None:
        """Run ``hook(op, result)`` whenever an operation ``name`` reaches PostgreSQL, at once
        or replayed (e.g. a voicemail's notice once its row exists)."""
        self.hooks[name].append(hook)

    def run_hooks(self, op: Op, result: Any) -> None:
        for hook in self.hooks.get(op.name, ()):
            try:
                hook(op, result)
            except Exception:  # a hook's failure must not undo or repeat the write
                self.log.exception("outbox hook failed", op=op.name)

    # -- writes -----------------------------------------------------------------------------

    def submit(self, op: Op, log: Any = None) -> Submitted:
        """Write ``op`` now, or journal it; never raises for a database problem."""
        log = log or self.log
        entry = Entry.of(op)
        if self.pool is not None and self.journal.count == 0 and self.breaker.allows(op.name):
            try:
                with self.pool.connection(timeout=self.wait) as conn:
                    _applied, result = apply_entry(conn, entry, op)
            except (psycopg.Error, PoolTimeout) as exc:
                self.breaker.failed(exc, self.pool)
                if permanent(exc):
                    return self._reject(entry, exc, log)
                log.warning("database unavailable: the write waits in the journal",
                            op=op.name, error=_first_line(exc))
            else:
                self.written += 1
                self.run_hooks(op, result)
                return Submitted(WRITTEN, result)
        try:
            self.journal.append(entry)
        except OSError as exc:
            log.error("write lost: the journal cannot be written", op=op.name,
                      args=entry.args, journal=str(self.journal.file), error=str(exc))
            return Submitted(LOST)
        self.journaled += 1
        log.info("write journaled", op=op.name, entry_id=entry.id,
                 waiting=self.journal.count)
        return Submitted(JOURNALED)

    def _reject(self, entry: Entry, exc: BaseException, log: Any) -> Submitted:
        self.rejected += 1
        log.error("write rejected by PostgreSQL: kept in the rejected file", op=entry.op,
                  error=_first_line(exc), file=str(self.journal.rejected_file))
        try:
            self.journal.reject(entry, _first_line(exc))
        except OSError as err:
            log.error("rejected write not kept", args=entry.args, error=str(err))
        return Submitted(REJECTED)

    # -- reads ------------------------------------------------------------------------------

    def read(self, what: str, fn: Callable[[psycopg.Connection], T], default: T, log: Any,
             wait: float | None = None,
             message: str = "database unavailable, going on without it") -> T:
        """Run ``fn`` on a pooled connection; ``default`` at once while the breaker is open,
        and on an outage, a slow query or no free connection within ``wait`` seconds."""
        if self.pool is None:
            return default
        if not self.breaker.allows(what):
            return default
        try:
            with self.pool.connection(timeout=wait or self.wait) as conn:
                return fn(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            self.breaker.failed(exc, self.pool)
            log.warning(message, what=what, error=_first_line(exc))
            return default

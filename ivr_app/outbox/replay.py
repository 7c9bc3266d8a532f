"""Replaying the journal, and the prober that does it.

:func:`replay` applies what waits in the journal in order, each entry in its own transaction
with its id in ``outbox_applied`` (so an entry applied before a crash is skipped, not applied
twice), drops what went in, and stops at the first entry PostgreSQL cannot take now (the rest
waits, in order). The :class:`Prober` greenlet runs while the breaker is open or the journal
holds anything: every ``interval`` it probes PostgreSQL (``SELECT 1`` under a deadline),
replays, and closes the breaker once the journal is empty. It logs and goes on after any
failure; it never dies silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import gevent
import gevent.event
import psycopg
from psycopg_pool import PoolTimeout

from ivr_app import supervise
from ivr_app.outbox.breaker import _first_line
from ivr_app.outbox.journal import Entry
from ivr_app.outbox.ops import UnknownOperation, from_data
from ivr_app.outbox.outbox import Outbox, apply_entry, permanent

BATCH = 200  # entries applied between two rewrites of the journal
KEEP_APPLIED_DAYS = 30  # ids in outbox_applied older than this are forgotten
PRUNE_EVERY_SECONDS = 3600.0


class AttemptTimedOut(Exception):
    """One probe or one replayed write took longer than its deadline."""


@dataclass
class Replayed:
    applied: int = 0
    duplicates: int = 0  # applied before (a crash between commit and rewrite)
    rejected: int = 0


def replay(outbox: Outbox, conn: psycopg.Connection, deadline: float) -> Replayed:
    """One pass over the journal (see the module doc). Raises what PostgreSQL raises for an
    entry it cannot take now; what went in before is dropped from the journal either way."""
    journal, log = outbox.journal, outbox.log
    out = Replayed()
    done: set[str] = set()
    bad: set[bytes] = set()
    try:
        for item in journal.entries():
            if isinstance(item, tuple):  # a line that cannot be read: kept for a person
                line, error = item
                journal.reject(Entry("?", "?", {"line": line.decode("utf-8", "replace")}, ""),
                               error)
                log.error("journal line unreadable: moved to the rejected file", error=error)
                bad.add(line)
                out.rejected += 1
                continue
            try:
                op = from_data(item.op, item.args)
            except UnknownOperation as exc:
                journal.reject(item, str(exc))
                log.error("journal entry unknown: moved to the rejected file",
                          entry_id=item.id, error=str(exc))
                done.add(item.id)
                out.rejected += 1
                continue
            try:
                with gevent.Timeout(deadline, AttemptTimedOut(f"{item.op} {item.id}")):
                    applied, result = apply_entry(conn, item, op)
            except psycopg.Error as exc:
                if not permanent(exc):
                    raise
                journal.reject(item, _first_line(exc))
                log.error("replayed write rejected by PostgreSQL: kept in the rejected file",
                          op=item.op, entry_id=item.id, error=_first_line(exc))
                done.add(item.id)
                out.rejected += 1
                continue
            done.add(item.id)
            if applied:
                out.applied += 1
                outbox.run_hooks(op, result)
            else:
                out.duplicates += 1
            if len(done) >= BATCH:
                journal.drop(done)
                done = set()
    finally:
        journal.drop(done, frozenset(bad))
    outbox.replayed += out.applied
    outbox.rejected += out.rejected
    return out


class Prober:
    def __init__(self, outbox: Outbox, interval: float, timeout: float):
        self.outbox, self.interval, self.timeout = outbox, interval, timeout
        self.log = outbox.log
        self.attempts = 0
        self.greenlet: gevent.Greenlet | None = None
        self._stop = gevent.event.Event()
        self._pruned_at = 0.0

    def start(self) -> Prober:
        self.greenlet = supervise.forever(self._run, log=self.log, what="outbox prober")
        self.greenlet.name = "outbox-prober"
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.greenlet is not None:
            self.greenlet.join(timeout=self.timeout + 1)
            if not self.greenlet.dead:
                self.greenlet.kill(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the prober must outlive any one failure
                self.log.exception("outbox prober failed; trying again")

    def needed(self) -> bool:
        return self.outbox.breaker.is_open or self.outbox.journal.count > 0

    def tick(self) -> bool:
        """Probe and replay if needed; True when PostgreSQL took everything waiting."""
        outbox = self.outbox
        if outbox.pool is None or not self.needed():
            self._prune()
            return False
        self.attempts += 1
        try:
            with gevent.Timeout(self.timeout, AttemptTimedOut("probe")), \
                    outbox.pool.connection(timeout=self.timeout) as conn:
                conn.execute("SELECT 1")
            with outbox.pool.connection(timeout=self.timeout) as conn:
                while outbox.journal.count > 0:
                    done = replay(outbox, conn, self.timeout)
                    if done.applied or done.rejected or done.duplicates:
                        self.log.info("journal replayed into PostgreSQL", applied=done.applied,
                                      duplicates=done.duplicates, rejected=done.rejected,
                                      waiting=outbox.journal.count)
        except (psycopg.Error, PoolTimeout, AttemptTimedOut) as exc:
            if not outbox.breaker.failed(exc, outbox.pool) and \
                    isinstance(exc, PoolTimeout | AttemptTimedOut):
                outbox.breaker.trip(_first_line(exc))  # the probe itself found no server
            self.log.info("database still unavailable", waiting=outbox.journal.count,
                          error=_first_line(exc))
            return False
        # nothing waits and no step yielded since the last check: writes go straight again
        outbox.breaker.close()
        for hook in outbox.on_drained:
            try:
                hook()
            except Exception:
                self.log.exception("outbox drained hook failed")
        return True

    def _prune(self) -> None:
        import time

        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS or self.outbox.breaker.is_open:
            return
        self._pruned_at = now
        try:
            with gevent.Timeout(self.timeout, AttemptTimedOut("prune")), \
                    self.outbox.pool.connection(timeout=self.timeout) as conn:
                conn.execute("DELETE FROM outbox_applied WHERE applied_at < now() - "
                             "make_interval(days => %s)", (KEEP_APPLIED_DAYS,))
        except (psycopg.Error, PoolTimeout, AttemptTimedOut) as exc:
            self.log.info("outbox_applied not pruned", error=_first_line(exc))

"""A short circuit breaker for PostgreSQL.

Open while the database is known to be down: a connection failed in the last
``open_seconds``. Call steps ask :meth:`Breaker.allows` first: while it is open a read returns
its default at once and a write goes straight to the journal, instead of each waiting for a
pooled connection (about a second per step before). The outbox's prober (outbox.py) closes
it as soon as PostgreSQL answers again, or keeps it open while it does not.

What counts as "known down": a connection-level error (no server, connection closed, the
server shutting down: SQLSTATE class 08, 57P01-57P03, or an error without SQLSTATE), or a
pool timeout while the pool's own connection attempts have been failing. A slow query
(statement_timeout) or a pool that is merely busy does not open it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

SHUTDOWN_STATES = ("57P01", "57P02", "57P03")  # admin / crash shutdown, cannot connect now


def connection_lost(exc: BaseException) -> bool:
    """Is this the error of a database that cannot be reached (not of a query)?"""
    if isinstance(exc, psycopg.OperationalError):
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith("08") or state in SHUTDOWN_STATES
    return isinstance(exc, psycopg.InterfaceError)


class Breaker:
    def __init__(self, open_seconds: float, log: Any,
                 clock: Callable[[], float] = time.monotonic):
        self.open_seconds = open_seconds
        self.log = log
        self.clock = clock
        self.open_until = 0.0
        self.trips = 0  # times it opened (from closed)
        self.skipped = 0  # call steps answered without waiting for PostgreSQL
        self._pool_errors_seen = 0

    @property
    def is_open(self) -> bool:
        return self.clock() < self.open_until

    def allows(self, what: str = "") -> bool:
        """May a call step wait for PostgreSQL now? (False is counted as a skipped step.)"""
        if self.is_open:
            self.skipped += 1
            return False
        return True

    def trip(self, why: str) -> None:
        """A connection failed: open (or keep open) for ``open_seconds`` from now."""
        was_open = self.is_open
        self.open_until = self.clock() + self.open_seconds
        if not was_open:
            self.trips += 1
            self.log.warning("database down: call steps go on without waiting for it",
                             why=why, for_seconds=self.open_seconds)

    def close(self) -> None:
        if self.open_until:
            self.log.info("database answers again: circuit breaker closed",
                          skipped_steps=self.skipped)
        self.open_until = 0.0

    def failed(self, exc: BaseException, pool: Any = None) -> bool:
        """Look at an error of a database step; open the breaker if it means the database is
        down. True when it did."""
        if connection_lost(exc):
            self.trip(_first_line(exc))
            return True
        if isinstance(exc, PoolTimeout) and pool is not None:
            errors = _pool_errors(pool)
            if errors > self._pool_errors_seen:  # the pool's connection attempts fail
                self._pool_errors_seen = errors
                self.trip(_first_line(exc))
                return True
        return False


def _pool_errors(pool: Any) -> int:
    try:
        return int(pool.get_stats().get("connections_errors", 0))
    except Exception:  # noqa: BLE001 - a pool without statistics: never "known down"
        return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

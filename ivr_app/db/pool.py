"""Connections to PostgreSQL: one pool per process, plus one-off connections for the CLI.

psycopg >= 3.2 waits on sockets through Python when gevent has monkey-patched the process, so a
slow query in one greenlet does not stall the hub (tests/test_gevent_psycopg.py proves it).
Every connection carries a ``statement_timeout`` so no query on a call path blocks a call
for longer than configured.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ivr_app.config import DatabaseConfig
from ivr_app.errors import DatabaseUnavailable

T = TypeVar("T")


def run_or(pool: ConnectionPool | None, what: str, fn: Callable[[psycopg.Connection], T],
           default: T, log: Any, wait: float = 1.0,
           message: str = "database unavailable, going on without it") -> T:
    """Run ``fn`` on a pooled connection; a database outage, a slow query (statement_timeout)
    or no free connection within ``wait`` seconds gives ``default`` (logged with ``what``)."""
    if pool is None:
        return default
    try:
        with pool.connection(timeout=wait) as conn:
            return fn(conn)
    except (psycopg.Error, PoolTimeout) as exc:
        text = str(exc).strip()
        log.warning(message, what=what,
                    error=text.splitlines()[0] if text else type(exc).__name__)
        return default


def connect_kwargs(cfg: DatabaseConfig, application_name: str = "ivr-app") -> dict[str, Any]:
    return {
        "connect_timeout": max(1, math.ceil(cfg.connect_timeout_seconds)),
        "application_name": application_name,
        "options": f"-c statement_timeout={cfg.statement_timeout_ms}",
    }


def _require_url(cfg: DatabaseConfig) -> str:
    if not cfg.url:
        raise DatabaseUnavailable("database.url is not set (set it in the config or DATABASE_URL)")
    return cfg.url


def make_pool(cfg: DatabaseConfig, application_name: str = "ivr-app") -> ConnectionPool:
    """A pool that is not yet open: the caller opens it (``pool.open(wait=...)``)."""
    return ConnectionPool(
        _require_url(cfg),
        min_size=cfg.pool_min,
        max_size=cfg.pool_max,
        kwargs=connect_kwargs(cfg, application_name),
        timeout=cfg.connect_timeout_seconds,
        open=False,
        name=application_name,
    )


def connect(cfg: DatabaseConfig, application_name: str = "ivr-app-cli") -> psycopg.Connection:
    """One connection (CLI commands); DatabaseUnavailable when the server does not answer."""
    url = _require_url(cfg)
    try:
        return psycopg.connect(url, **connect_kwargs(cfg, application_name))
    except psycopg.OperationalError as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {first}") from exc

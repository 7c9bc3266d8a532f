"""Which key of a menu acts at once and which waits for more digits (issue 20).

A menu with ``direct_dial`` takes both option keys (one key) and extensions (2-8 digits). An
option key that no dialable extension starts with can only mean its option: it acts the
moment it is pressed. An option key that may begin an extension, and a digit that is no
option, wait ``inter_digit_ms`` for the next digit (``#`` ends the entry at once). A menu
without direct dial never waits: every entry is one key.

The dialable extensions are the employees' (PostgreSQL) and the site's (``dialplan.site``);
:class:`DialableExtensions` keeps the map current (at start, every ``refresh_seconds``, on
reload). Until the directory has been read once, every digit is treated as a possible start
of an extension: a slower menu, never an extension that cannot be dialled.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gevent
import psycopg
from psycopg_pool import ConnectionPool

from ivr_app import supervise
from ivr_app.db import employees
from ivr_app.db.pool import run_or
from ivr_app.menus import Menu

ALL_DIGITS = frozenset(string.digits)


@dataclass(frozen=True)
class DigitMap:
    """The first digits of the dialable extensions, and whether the directory was read."""

    starts: frozenset[str] = ALL_DIGITS
    known: bool = False

    @classmethod
    def of(cls, extensions: Iterable[str]) -> DigitMap:
        return cls(frozenset(e[0] for e in extensions if e and e[0].isdigit()), known=True)

    def waits(self, menu: Menu, key: str) -> bool:
        """True when ``key`` pressed first in ``menu`` may begin a longer entry.

        An option key waits only if an extension starts with it. A digit that is no
        option waits too: it begins an extension or a mistyped number, and the caller
        who types 4444 hears one "not a valid option" for it, not one per digit."""
        if not menu.direct_dial or not key.isdigit():
            return False  # '*', '#' and A-D begin no extension
        if key not in menu.options:
            return True
        return key in (self.starts if self.known else ALL_DIGITS)

    def describe(self, menu: Menu) -> dict[str, list[str]]:
        """The menu's keys by behaviour, for the start-up log and ``config check``."""
        keys = sorted(menu.options)
        waiting = [k for k in keys if self.waits(menu, k)]
        return {"at_once": [k for k in keys if k not in waiting], "waits": waiting}


class DialableExtensions:
    """The current :class:`DigitMap`, rebuilt from the directory in the background.

    ``site_extensions`` are the site's own numbers (always dialable); the employees' come
    from PostgreSQL. A failed read keeps the last map (an outage never makes a menu
    faster by forgetting extensions)."""

    def __init__(self, pool: ConnectionPool | None, site_extensions: Iterable[str], log: Any,
                 refresh_seconds: float = 60.0, wait: float = 2.0):
        self.pool = pool
        self.site_extensions = tuple(site_extensions)
        self.log = log
        self.refresh_seconds = refresh_seconds
        self.wait = wait
        self.current = DigitMap()
        self._loop: gevent.Greenlet | None = None

    def refresh(self) -> DigitMap:
        def read(conn: psycopg.Connection) -> list[str]:
            return employees.all_extensions(conn)

        found = run_or(self.pool, "dialable extensions", read, None, self.log, self.wait,
                       "directory unavailable, keeping the last digit map")
        if found is not None:
            new = DigitMap.of([*found, *self.site_extensions])
            if new != self.current:
                self.log.info("digit map", extension_starts="".join(sorted(new.starts)))
            self.current = new
        return self.current

    def start(self) -> DialableExtensions:
        self.refresh()
        self._loop = supervise.forever(self._run, log=self.log, what="digit map refresh")
        return self

    def _run(self) -> None:
        while True:
            gevent.sleep(self.refresh_seconds)
            self.refresh()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=False)

    def __call__(self) -> DigitMap:
        return self.current


DigitMapSource = Callable[[], DigitMap]

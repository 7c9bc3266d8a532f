"""Live queue figures for wallboards: one node at a time fires ``CUSTOM ivr_app::queue_stats``
per queue every ``queue.stats_interval_seconds``.

Which node: the one holding a PostgreSQL session advisory lock on its own connection. When that
node stops (or its connection drops) the lock is released and the next node to try takes over,
so there is always one publisher and never two. The publisher also cleans up after a node that
vanished (qdb.expire_stale), so that happens even when no new caller enters the queue.

The event carries the figures as headers (``Queue-Name``, ``Queue-Waiting``, ...) for simple
consumers, and the same as JSON in the body.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import gevent
import psycopg

from ivr_app import supervise
from ivr_app.db import queue_stats as qstats
from ivr_app.db import queues as qdb
from ivr_app.queue.spec import QueueSpec

SUBCLASS = "ivr_app::queue_stats"
LOCK_KEY = 0x1F5A_0E01  # pg advisory lock: the queue_stats publisher


def event_headers(live: qstats.Live) -> list[tuple[str, str]]:
    def fmt(v: float | None, scale: float = 1.0) -> str:
        return "" if v is None else f"{v * scale:.1f}"

    return [("Event-Subclass", SUBCLASS), ("Queue-Name", live.queue),
            ("Queue-Waiting", str(live.waiting)),
            ("Queue-Longest-Wait", fmt(live.longest_wait_s)),
            ("Queue-Average-Wait", fmt(live.average_wait_s)),
            ("Queue-Service-Level", fmt(live.service_level, 100.0)),
            ("Queue-Answered", str(live.answered)), ("Queue-Abandoned", str(live.abandoned)),
            ("Queue-Agents-Available", str(live.agents_available)),
            ("Queue-Agents-Busy", str(live.agents_busy)),
            ("Queue-Agents-Wrap-Up", str(live.agents_wrap_up))]


def as_json(live: qstats.Live) -> str:
    return json.dumps(dataclasses.asdict(live), sort_keys=True)


class QueueStatsPublisher:
    def __init__(self, connect: Callable[[], psycopg.Connection], control: Any,
                 queues: Callable[[], Mapping[str, QueueSpec]],
                 busy_extensions: Callable[[], list[str]], interval: float, log: Any):
        self.connect, self.control, self.queues = connect, control, queues
        self.busy_extensions, self.interval = busy_extensions, interval
        self.log = log.bind(component="queue_stats")
        self.conn: psycopg.Connection | None = None
        self.leader = False
        self.published = 0
        self._greenlet: gevent.Greenlet | None = None

    def reconfigure(self, config: Any) -> None:
        """A reload: the wallboard's interval applies from its next tick."""
        self.interval = config.queue.stats_interval_seconds

    def start(self) -> QueueStatsPublisher:
        self._greenlet = supervise.forever(self._run, log=self.log, what="queue wallboard")
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
        self._drop()

    def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - a wallboard must never stop the node
                self.log.warning("queue stats not published", error=str(exc).strip())
                self._drop()
            gevent.sleep(self.interval)

    def _drop(self) -> None:
        conn, self.conn, self.leader = self.conn, None, False
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def tick(self) -> int:
        """Publish once if this node is the publisher; returns how many events it fired."""
        queues = self.queues()
        if not queues:
            return 0
        if self.conn is None or self.conn.closed:
            self.conn = self.connect()
            self.conn.autocommit = True
            self.leader = False
        if not self.leader:
            row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            self.leader = bool(row and row[0])
            if self.leader:
                self.log.info("this node publishes the queue figures")
        if not self.leader or not self.control.connected.is_set():
            return 0
        busy = self.busy_extensions()
        fired = 0
        for spec in queues.values():
            # the publisher is also who cleans up after a node that vanished
            if expired := qdb.expire_stale(self.conn, spec.name):
                self.log.warning("queue entries of a vanished node cleaned up",
                                 queue=spec.name, entries=expired)
            live = qstats.live(self.conn, spec.name, spec.skills, spec.service_level_seconds, busy)
            self.control.sendevent("CUSTOM", event_headers(live), as_json(live))
            fired += 1
        self.published += fired
        return fired

"""Calls rows a node left open when it died (kill -9, a crash, a power cut), closed when it
starts again.

At each control connection (the first, and after FreeSWITCH restarted) the node compares its
open rows of calls started before this process with FreeSWITCH's channels (``show channels``,
read by the control connection's resync):

* a call FreeSWITCH no longer has ended while ivr-app was down: closed at once with
  IVR_APP_LOST;
* a call FreeSWITCH still has went on without ivr-app (the dialplan's fallback after the
  ``socket`` application returned: the operator's desk, voicemail): closed when its
  CHANNEL_HANGUP_COMPLETE arrives, with FreeSWITCH's own hangup cause.

Either way the route says so. Only this node's rows (calls.node) from before this process
started are touched: the other nodes' calls, and this run's own, are alive. A call that ends
between the snapshot and the check is caught at the next connection.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import gevent

from ivr_app import supervise
from ivr_app.db import calls
from ivr_app.db.pool import run_or
from ivr_app.esl.events import Event

LOST = "IVR_APP_LOST"


class OrphanCalls:
    def __init__(self, pool: Any, node: str, log: Any):
        self.pool, self.node = pool, node
        self.log = log.bind(component="orphans")
        self.started = dt.datetime.now(dt.UTC)  # rows from before this are the dead run's
        self.watching: set[str] = set()
        self.closed = 0

    def attach(self, control: Any) -> OrphanCalls:
        control.on_connected.append(self._connected)
        control.on("CHANNEL_HANGUP_COMPLETE", self._hung_up)
        return self

    def _connected(self, control: Any) -> None:
        supervise.spawn(self.reconcile, set(control.channels), log=self.log,
                        what="orphan calls")

    def reconcile(self, live: set[str]) -> None:
        """Close what ended meanwhile, watch what still runs (idempotent)."""
        open_rows = run_or(self.pool, "open calls rows", lambda c: calls.left_open(
            c, self.node, self.started), [], self.log, 10.0, "open calls rows not checked")
        ended = [uuid for uuid in open_rows if uuid not in live]
        self.watching = {uuid for uuid in open_rows if uuid in live}
        for uuid in ended:
            self._close(uuid, LOST, "ended while ivr-app was down")
        if open_rows:
            self.log.warning("calls left open by the last run", ended=len(ended),
                             still_up=len(self.watching))

    def _hung_up(self, event: Event) -> None:
        uuid = event.unique_id or ""
        if uuid in self.watching:
            self.watching.discard(uuid)
            gevent.spawn(self._close, uuid, event.get("Hangup-Cause") or LOST,
                         "went on without ivr-app")

    def _close(self, uuid: str, cause: str, why: str) -> None:
        run_or(self.pool, "close an orphan call", lambda c: calls.close_orphan(
            c, uuid, cause, why), None, self.log, 10.0, "orphan call not closed")
        self.closed += 1
        self.log.info("calls row closed after a restart", call_uuid=uuid, cause=cause, why=why)

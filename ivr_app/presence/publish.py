"""Presence changes, heard from PostgreSQL and shown on the phones.

Every node LISTENs on ``ivr_app_presence`` (db/presence.py NOTIFYs in the transaction that
makes a change), so a change made through any node, the CLI or SQL reaches all of them once
committed. Each node then sends FreeSWITCH a PRESENCE_IN for the employee, with the headers of
the inbound-presence capture, so desk phones subscribed to them light their lamp.

The listener reconnects by itself; changes made while it was away are not replayed (presence
is a current state: the next change, or ``ivr-app presence set``, publishes it again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import psycopg

from ivr_app import supervise
from ivr_app.db.presence import CHANNEL
from ivr_app.errors import IvrAppError

# state -> (status text a phone shows, rpid)
SHOWN = {
    "available": ("Available", "unknown"),
    "meeting": ("In a meeting", "busy"),
    "away": ("Away", "away"),
    "dnd": ("Do not disturb", "busy"),
    "vacation": ("On vacation", "away"),
    "on_call": ("On the phone", "on-the-phone"),
}


def presence_in_headers(extension: str, state: str, domain: str) -> list[tuple[str, str]]:
    status, rpid = SHOWN.get(state, ("Available", "unknown"))
    user = f"{extension}@{domain}"
    return [("proto", "sip"), ("from", user), ("login", user), ("status", status),
            ("rpid", rpid), ("event_type", "presence"), ("alt_event_type", "dialog"),
            ("event_count", "1")]


class PresenceListener:
    """LISTEN for presence changes; hand each to ``on_change`` and publish it to FreeSWITCH."""

    def __init__(self, connect: Callable[[], psycopg.Connection], control: Any, domain: str,
                 log: Any, on_change: Callable[[dict[str, Any]], None] | None = None):
        self.connect = connect
        self.control = control
        self.domain = domain
        self.log = log.bind(component="presence")
        self.on_change = on_change
        self.seen: dict[str, str] = {}  # extension -> last state heard
        self.listening = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None

    def reconfigure(self, config: Any) -> None:
        """A reload: the lamps' domain (ivr.voicemail_domain) for the next change."""
        self.domain = config.ivr.voicemail_domain

    def start(self) -> PresenceListener:
        self._greenlet = supervise.forever(self._run, log=self.log, what="presence listener")
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(timeout=2)

    def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                with self.connect() as conn:
                    conn.autocommit = True
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    for notify in conn.notifies():
                        self.heard(notify.payload)
            except (psycopg.Error, IvrAppError) as exc:
                self.listening.clear()
                self.log.warning("presence listener lost PostgreSQL, retrying",
                                 error=str(exc).strip().splitlines()[0] if str(exc) else "",
                                 retry_in=delay)
                gevent.sleep(delay)
                delay = min(delay * 2, 10.0)

    def heard(self, payload: str) -> None:
        try:
            change = json.loads(payload)
            if not isinstance(change, dict):
                raise TypeError(type(change).__name__)
            extension = str(change["extension"])
        except (ValueError, KeyError, TypeError):
            self.log.warning("unreadable presence notification", payload=payload[:200])
            return
        if "state" in change:
            self.seen[extension] = str(change["state"])
            self.publish(extension, str(change["state"]))
        self.log.info("presence changed", extension=extension,
                      **{k: change[k] for k in ("state", "forward_to", "by") if k in change})
        if self.on_change is not None:
            self.on_change(change)

    def publish(self, extension: str, state: str) -> None:
        if self.control is None:
            return
        try:
            self.control.sendevent("PRESENCE_IN",
                                   presence_in_headers(extension, state, self.domain))
        except Exception as exc:  # noqa: BLE001 - a lamp must never break presence
            self.log.warning("PRESENCE_IN not sent", extension=extension, error=str(exc))

"""*On a call*, derived from FreeSWITCH's channel events, never set by hand.

An employee is on a call while one of their registered phones has an answered channel:
``sofia/<profile>/<extension>@<domain>`` is the channel name FreeSWITCH gives both a call to
that user and a call from them. CHANNEL_ANSWER marks it, CHANNEL_HANGUP_COMPLETE clears it, and
after every (re)connect the table is rebuilt from ``show channels`` (``callstate`` ACTIVE), so a
restart or a lost connection never leaves an employee stuck on a call. Every node keeps its own
table from its own control connection to the same switch, so all nodes agree without asking
each other. External legs (a mobile) are not counted: the switch cannot tell what else that
phone is doing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ivr_app.esl.events import Event

_USER_CHANNEL = re.compile(r"^sofia/[^/]+/([0-9]{2,8})@")


def extension_of(channel_name: str) -> str | None:
    m = _USER_CHANNEL.match(channel_name or "")
    return m.group(1) if m else None


class OnCallTracker:
    def __init__(self, log: Any, on_change: Callable[[str, bool], None] | None = None):
        self.log = log.bind(component="on-call")
        self.on_change = on_change
        self._legs: dict[str, str] = {}  # answered channel uuid -> extension

    def attach(self, control: Any) -> OnCallTracker:
        control.on("CHANNEL_ANSWER", self.on_answer)
        control.on("CHANNEL_HANGUP_COMPLETE", self.on_hangup)
        control.on_connected.append(self.resync)
        if control.connected.is_set():
            self.resync(control)
        return self

    def busy(self, extension: str) -> bool:
        return extension in self._legs.values()

    def busy_extensions(self) -> list[str]:
        return sorted(set(self._legs.values()))

    def on_answer(self, event: Event) -> None:
        ext = extension_of(event.get("Channel-Name") or "")
        if ext and event.unique_id:
            self._set(event.unique_id, ext)

    def on_hangup(self, event: Event) -> None:
        if event.unique_id:
            self._clear(event.unique_id)

    def resync(self, control: Any) -> None:
        """Rebuild from the switch's own list of channels."""
        before = set(self._legs.values())
        self._legs = {uuid: ext for uuid, row in dict(control.channels).items()
                      if str(row.get("callstate", "")).upper() == "ACTIVE"
                      and (ext := extension_of(str(row.get("name", ""))))}
        after = set(self._legs.values())
        for ext in after - before:
            self._changed(ext, True)
        for ext in before - after:
            self._changed(ext, False)

    def _set(self, uuid: str, ext: str) -> None:
        was = self.busy(ext)
        self._legs[uuid] = ext
        if not was:
            self._changed(ext, True)

    def _clear(self, uuid: str) -> None:
        ext = self._legs.pop(uuid, None)
        if ext is not None and not self.busy(ext):
            self._changed(ext, False)

    def _changed(self, ext: str, on_call: bool) -> None:
        self.log.info("on a call" if on_call else "off the call", extension=ext)
        if self.on_change is not None:
            self.on_change(ext, on_call)

"""An employee's routing profile: devices, state, forward, and rules, as one value.

DND, forwarding and follow-me live in this one profile, each in its own field, so setting one
never overwrites another: turning DND off brings the forward back exactly as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr_app.presence import destination


class State(enum.StrEnum):
    AVAILABLE = "available"
    ON_CALL = "on_call"  # derived from channel events, never set by hand
    MEETING = "meeting"
    AWAY = "away"
    DND = "dnd"
    VACATION = "vacation"


class Action(enum.StrEnum):
    RING = "ring"
    VOICEMAIL = "voicemail"
    FORWARD = "forward"
    REJECT = "reject"


class DeviceKind(enum.StrEnum):
    DESK = "desk"
    MOBILE = "mobile"
    HOME = "home"
    OTHER = "other"


@dataclass(frozen=True)
class Device:
    kind: DeviceKind
    destination: str  # presence/destination.py: user/1001, +447700900123, sofia/gateway/x/+44...
    enabled: bool = True
    ring_delay_s: int = 0
    ring_timeout_s: int = 25

    @property
    def external(self) -> bool:
        """Rings outside, however written (a destination that is no valid one is refused by
        the follow-me plan, and counts as external here: never trusted as a desk)."""
        try:
            return destination.parse(self.destination).external
        except destination.BadDestination:
            return True


@dataclass(frozen=True)
class CallerMatch:
    """Who a rule is for; any listed condition matching is enough."""

    any: bool = False
    manager: bool = False
    vip: bool = False
    numbers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CallerMatch:
        data = data or {"any": True}
        unknown = set(data) - {"any", "manager", "vip", "numbers"}
        if unknown:
            raise ValueError(f"caller_match: unknown keys {sorted(unknown)}")
        return cls(any=bool(data.get("any")), manager=bool(data.get("manager")),
                   vip=bool(data.get("vip")), numbers=tuple(data.get("numbers") or ()))

    def matches(self, caller: Caller) -> bool:
        return (self.any or (self.manager and caller.is_manager)
                or (self.vip and caller.vip) or caller.number in self.numbers)


@dataclass(frozen=True)
class Rule:
    state: State
    action: Action
    priority: int = 100
    caller: CallerMatch = field(default_factory=lambda: CallerMatch(any=True))
    devices: tuple[DeviceKind, ...] = ()  # with RING: which devices (none listed: all enabled)
    forward_to: str | None = None  # with FORWARD
    active_from: dt.time | None = None  # a window inside the day (wraps past midnight)
    active_to: dt.time | None = None

    def active_at(self, local: dt.time) -> bool:
        if self.active_from is None or self.active_to is None:
            return True
        if self.active_from <= self.active_to:
            return self.active_from <= local < self.active_to
        return local >= self.active_from or local < self.active_to


@dataclass(frozen=True)
class Profile:
    employee_id: int
    extension: str
    name: str
    state: State = State.AVAILABLE
    until: dt.datetime | None = None  # the set state ends then (vacation until a date)
    forward_to: str | None = None  # *72: kept while DND or a meeting is on, used again after
    on_call: bool = False  # one of their devices is in a call (from channel events)
    manager_id: int | None = None
    devices: Sequence[Device] = ()
    rules: Sequence[Rule] = ()

    def effective_state(self, now: dt.datetime) -> State:
        state = self.state
        if self.until is not None and now >= self.until:
            state = State.AVAILABLE
        if state is State.AVAILABLE and self.on_call:
            return State.ON_CALL
        return state


@dataclass(frozen=True)
class Caller:
    number: str  # E.164 or an internal extension
    vip: bool = False
    is_manager: bool = False  # the caller is this employee's manager
    customer_id: int | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    devices: tuple[Device, ...] = ()
    forward_to: str | None = None
    why: str = ""  # for the log: which rule or default decided

    def ring_at_most(self, seconds: int) -> Decision:
        """The same decision with every device's ring time capped (a queue's offer)."""
        return dataclasses.replace(self, devices=tuple(
            dataclasses.replace(d, ring_timeout_s=min(d.ring_timeout_s, seconds))
            for d in self.devices))

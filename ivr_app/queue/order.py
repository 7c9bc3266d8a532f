"""Who is next in a queue, where each caller stands, and how long they can expect to wait.

Order: VIP customers first, then callers whose account manager is in the queue's team, then
everyone else; first come, first served inside each class. The expected wait is announced in
whole minutes, rounded up (never promise less than it will be): the caller is served in wave
``ceil(position / agents)``, each wave taking the queue's average handle time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VIP, TEAM, OTHERS = 0, 1, 2


@dataclass(frozen=True)
class Waiting:
    call_uuid: str
    entered: dt.datetime
    vip: bool = False
    team_customer: bool = False  # their account manager is an agent of this queue

    @property
    def rank(self) -> tuple[int, dt.datetime, str]:
        cls = VIP if self.vip else TEAM if self.team_customer else OTHERS
        return (cls, self.entered, self.call_uuid)


def ordered(waiting: Iterable[Waiting]) -> list[Waiting]:
    return sorted(waiting, key=lambda w: w.rank)


def position(waiting: Sequence[Waiting], call_uuid: str) -> int | None:
    """1 for the next caller to be served; None if the call is not waiting."""
    for i, w in enumerate(ordered(waiting), start=1):
        if w.call_uuid == call_uuid:
            return i
    return None


def expected_wait_minutes(pos: int, agents: int, handle_s: float) -> int | None:
    """None when nobody staffs the queue (then the queue announces no time at all)."""
    if agents <= 0 or pos <= 0:
        return None
    waves = math.ceil(pos / agents)
    return max(1, math.ceil(waves * handle_s / 60))

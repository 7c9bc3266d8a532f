"""Contact-centre figures from queue entries, as `ivr-app report queues` and the live view
compute them. Pure: the same function serves the report, the wallboard event and the tests.

Definitions (the usual ones, stated so a supervisor can check them by hand):

* offered: entries that reached the queue;
* answered: entries an agent took; abandoned: callers who hung up while waiting; the rest
  (max wait, voicemail, callback) are overflowed;
* service level: answered within the threshold / (offered - abandoned within the threshold),
  so a caller who gives up within the first seconds neither helps nor hurts;
* ASA (average speed of answer): mean wait of the answered;
* per agent: calls answered and total talk time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    entered: dt.datetime
    outcome: str  # answered | abandoned | overflow | waiting
    wait_s: float  # until answered / abandoned / overflow (so far, while waiting)
    agent: str | None = None
    talk_s: float = 0.0
    queue: str | None = None


@dataclass(frozen=True)
class Figures:
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None  # 0..1; None when nothing counts
    asa_s: float | None
    longest_wait_s: float
    per_agent: dict[str, tuple[int, float]] = field(default_factory=dict)  # calls, talk s


def figures(entries: Iterable[Entry], threshold_s: float) -> Figures:
    rows = [e for e in entries if e.outcome != "waiting"]
    answered = [e for e in rows if e.outcome == "answered"]
    abandoned = [e for e in rows if e.outcome == "abandoned"]
    short_abandons = sum(1 for e in abandoned if e.wait_s <= threshold_s)
    counted = len(rows) - short_abandons
    within = sum(1 for e in answered if e.wait_s <= threshold_s)
    agents: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for e in answered:
        if e.agent:
            agents[e.agent][0] += 1
            agents[e.agent][1] += e.talk_s
    return Figures(
        offered=len(rows), answered=len(answered), abandoned=len(abandoned),
        overflowed=sum(1 for e in rows if e.outcome == "overflow"),
        service_level=within / counted if counted else None,
        asa_s=sum(e.wait_s for e in answered) / len(answered) if answered else None,
        longest_wait_s=max((e.wait_s for e in rows), default=0.0),
        per_agent={a: (int(n), t) for a, (n, t) in sorted(agents.items())})

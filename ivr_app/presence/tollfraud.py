"""The toll-fraud guard: which external numbers a forward or a follow-me leg may dial.

A number must be E.164, match one of ``presence.allowed_numbers`` and none of
``presence.blocked_numbers`` (premium-rate and satellite ranges by default). The guard runs when
a number is set (so the employee hears why at once) and again when it is dialled (a number put
into the database by hand gets no pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr_app.config import PresenceConfig


class NumberRefused(ValueError):
    """``str()`` is the reason, fit to be logged and spoken."""


@dataclass(frozen=True)
class NumberGuard:
    allowed: tuple[re.Pattern[str], ...]
    blocked: tuple[re.Pattern[str], ...]

    @classmethod
    def from_config(cls, cfg: PresenceConfig) -> NumberGuard:
        # blank-separated: a regex holds commas ({6,14}) far more often than blanks
        return cls(tuple(re.compile(p) for p in cfg.allowed_numbers.split()),
                   tuple(re.compile(p) for p in cfg.blocked_numbers.split()))

    def check(self, number: str) -> str:
        """The number, or :class:`NumberRefused` saying why."""
        if not re.fullmatch(r"\+[1-9][0-9]{1,14}", number):
            raise NumberRefused(f"{number!r} is not an international (E.164) number")
        blocked = next((p for p in self.blocked if p.fullmatch(number)), None)
        if blocked is not None:
            raise NumberRefused(f"{number} is in a blocked range ({blocked.pattern})")
        if not any(p.fullmatch(number) for p in self.allowed):
            raise NumberRefused(f"{number} is not in an allowed range")
        return number

    def allows(self, number: str) -> bool:
        try:
            self.check(number)
        except NumberRefused:
            return False
        return True

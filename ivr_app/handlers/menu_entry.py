"""A menu's entry, collected so that a key acts at once, and the caller's wait measured.

    first key (the prompt ends at it; keys typed during the greeting count)
      -> can it begin an extension (digitmap)?  no  -> the entry is that key, at once
                                                yes -> more digits until a pause of
                                                       inter_digit_ms, '#', or 8 digits

FreeSWITCH's play_and_get_digits has no digit map (its regex is checked after the input
ends), so the entry is read in two steps: one key, then, only when that key may begin an
extension, the rest with the "silence" prompt (switch_ivr_read plays nothing for it). Keys
the caller typed between the two steps stay queued in the channel and are read by the
second (switch_ivr_collect_digits_count dequeues them; nothing flushes in between).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr_app.digitmap import DigitMap
from ivr_app.esl.call import Call
from ivr_app.esl.errors import CallEnded
from ivr_app.esl.events import Event
from ivr_app.menus import Menu

MAX_DIGITS = 8  # the longest extension; bounds what a caller can type
# all 16 DTMF keys come back, so A-D reach the invalid prompt (not "no input")
ANY_KEYS = rf"^[0-9A-Da-d*#]{{1,{MAX_DIGITS}}}$"
NO_INPUT_PAUSE = "silence_stream://100"  # play_and_get_digits' "bad input" file: a pause
AFTER_LAST_DIGIT = "silence_stream://20"  # one frame: the rest of an entry ended by a pause
# what an entry leads to when a prompt answers it at once (a transfer or the manager ring:
# the caller hears ringback, so no wait is measured for those)
ANSWERED_BY_A_PROMPT = frozenset({"menu", "back", "repeat", "invalid", "queue", "voicemail",
                                  "directory"})


@dataclass(frozen=True)
class Entry:
    digits: str | None  # None: nothing within timeout_ms
    waited: bool  # the first key could begin an extension: more digits were waited for


def collect(call: Call, menu: Menu, prompt: str, digit_map: DigitMap) -> Entry:
    """Play ``prompt`` and read the caller's entry for ``menu`` (one try)."""
    first = call.play_and_get_digits(
        prompt, invalid=NO_INPUT_PAUSE, min_digits=1, max_digits=1, tries=1,
        timeout_ms=menu.timeout_ms, terminators="none", regex=ANY_KEYS)
    if first is None or not digit_map.waits(menu, first):
        return Entry(first, waited=False)
    rest = call.play_and_get_digits(
        "silence", invalid=AFTER_LAST_DIGIT, min_digits=1, max_digits=MAX_DIGITS - 1,
        tries=1, timeout_ms=menu.inter_digit_ms, digit_timeout_ms=menu.inter_digit_ms,
        terminators="#", regex=ANY_KEYS)
    if rest is None and call.ended:
        raise CallEnded(call.uuid, call.hangup_cause)
    return Entry(first + (rest or ""), waited=True)


def _timestamp_us(event: Event) -> int | None:
    value = event.get("Event-Date-Timestamp") or ""
    return int(value) if value.isdigit() else None


class KeyWait:
    """The caller's wait after an entry, by FreeSWITCH's own clock: from the DTMF event of
    the entry's last key (FreeSWITCH fires it as the reading application takes the key) to
    the PLAYBACK_START of what the caller hears next (the next menu's prompt, the same menu
    again, the invalid prompt, a queue's announcement). Logged as the step's line
    (``menu step``, field ``wait_ms``) and observed by ``observe(menu, waited, seconds)``."""

    def __init__(self, call: Call, observe: Callable[[str, bool, float], None]):
        self.call = call
        self.observe = observe
        self.last_key_us: int | None = None
        self.pending: tuple[str, str, bool, str, int] | None = None
        call.on("DTMF", self._on_dtmf)
        call.on("PLAYBACK_START", self._on_playback)

    @property
    def log(self) -> Any:
        return self.call.log

    def entered(self, menu: Menu, entry: Entry, result: str) -> None:
        """The flow took ``entry`` (``result``: the action's kind, or "invalid"): the next
        playback answers it, if that result is answered by a prompt."""
        if entry.digits is None or self.last_key_us is None or \
                result not in ANSWERED_BY_A_PROMPT:
            self.pending = None
            return
        self.pending = (menu.name, entry.digits, entry.waited, result, self.last_key_us)

    def _on_dtmf(self, event: Event) -> None:
        self.last_key_us = _timestamp_us(event)

    def _on_playback(self, event: Event) -> None:
        pending, self.pending = self.pending, None
        started = _timestamp_us(event)
        if pending is None or started is None:
            return
        menu, digits, waited, result, key_us = pending
        seconds = max(0, started - key_us) / 1_000_000
        self.log.info("menu step", menu=menu, digits=digits, result=result, waited=waited,
                      wait_ms=round(seconds * 1000, 1),
                      next=event.get("Playback-File-Path"))
        self.observe(menu, waited, seconds)

"""The presence menu, from any phone: extension, PIN, the current state, then a new one.

    *98 -> "your extension" -> "your PIN" -> "you are in a meeting" ->
           1 available, 2 meeting, 3 away, 4 do not disturb -> "you are available"

PINs are checked against their scrypt hash (ivr_app/pin.py). Consecutive wrong PINs are counted
in PostgreSQL, so every node sees the same count; after ``presence.pin_max_failures`` the
extension is locked for ``presence.pin_lockout_minutes`` and the menu says so. An unknown
extension sounds exactly like a wrong PIN.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ivr_app.db import presence as presence_db
from ivr_app.esl.call import Call
from ivr_app.esl.quoting import file_string
from ivr_app.handlers.context import CONFIRM_TONE, ERROR_TONE, HandlerContext
from ivr_app.presence.model import State

CHOICES = {"1": State.AVAILABLE, "2": State.MEETING, "3": State.AWAY, "4": State.DND}
# what "you are ..." sounds like, per state
ANNOUNCE = {"available": "presence_available", "meeting": "presence_meeting",
            "away": "presence_away", "dnd": "presence_dnd_on", "vacation": "presence_vacation"}


class PresenceMenu:
    def __init__(self, call: Call, ctx: HandlerContext):
        self.call = call
        self.ctx = ctx
        self.cfg = ctx.config.presence
        self.log: Any = call.log

    def run(self) -> None:
        self.call.answer()
        for _attempt in range(self.cfg.pin_max_failures):
            extension = self.ask("presence_menu_extension", 2, 8)
            pin = self.ask("presence_menu_pin", 4, 12) if extension else None
            if not extension or not pin:
                break
            verdict = self.ctx.db("pin check", lambda c, e=extension, p=pin: presence_db.pin_check(
                c, e, p, self.cfg.pin_max_failures,
                dt.timedelta(minutes=self.cfg.pin_lockout_minutes)), None, self.log)
            self.log.info("presence menu PIN", extension=extension, verdict=verdict)
            if verdict == "ok":
                self.menu(extension)
                break
            if verdict == "locked":
                self.log.warning("presence menu locked", extension=extension)
                self.play("presence_locked")
                break
            self.play("presence_pin_wrong" if verdict == "wrong" else "presence_not_changed")
            if verdict is None:  # PostgreSQL away
                break
        self.call.hangup("NORMAL_CLEARING")

    def menu(self, extension: str) -> None:
        state = self.ctx.db("current state",
                            lambda c: presence_db.current_state(c, extension), "available",
                            self.log)
        # the state and the choices are one prompt: a key pressed while the state is said
        # counts (a separate playback would throw it away)
        key = self.call.play_and_get_digits(
            file_string([self.prompt(ANNOUNCE.get(state, "presence_available"), ERROR_TONE),
                         self.prompt("presence_menu_choices")]),
            invalid=self.prompt("invalid", ERROR_TONE),
            min_digits=1, max_digits=1, tries=3, timeout_ms=6000, regex="^[1-4]$")
        if key not in CHOICES:
            return
        new = CHOICES[key]
        done = self.ctx.db("presence change", lambda c: presence_db.set_state(
            c, extension, new, by=f"presence menu from {self.call.caller_id_number}"),
            None, self.log)
        if done:
            self.log.info("presence changed by menu", extension=extension, state=str(new))
            self.play(ANNOUNCE[new.value])
        else:
            self.play("presence_not_changed")

    def ask(self, prompt: str, shortest: int, longest: int) -> str | None:
        return self.call.play_and_get_digits(
            self.prompt(prompt), invalid=self.prompt("invalid", ERROR_TONE),
            min_digits=shortest, max_digits=longest, tries=3, timeout_ms=8000,
            regex=rf"^[0-9]{{{shortest},{longest}}}$") or None

    def play(self, name: str) -> None:
        self.call.playback(self.prompt(name, ERROR_TONE))

    def prompt(self, name: str, fallback: str = CONFIRM_TONE) -> str:
        return self.ctx.prompt_or(name, "en", fallback)


def handle(call: Call, ctx: HandlerContext) -> None:
    PresenceMenu(call, ctx).run()

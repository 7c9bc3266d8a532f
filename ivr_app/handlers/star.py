"""Star codes from an employee's own phone: presence set by phone, confirmed by voice.

    *30 available   *31 meeting   *32 away   *78 DND on   *79 DND off
    *72<number> forward (or *72 alone: asked for the number)   *73 forward off

The dialplan (dialplan/templates/default.xml.j2) sets ``ivr_app_star_action`` and
``ivr_app_star_argument`` and hands the call over. The employee is the directory user
FreeSWITCH authenticated the call as (``Call.authenticated_user``), never the caller ID, which
any phone or outside caller chooses: a call FreeSWITCH did not authenticate changes nothing,
and the refusal is spoken and logged. Each change touches only its own part of the profile
(DND keeps the forward), is written to PostgreSQL and announced to the other nodes there
(NOTIFY); a forward number goes through the toll-fraud guard and a refusal is spoken and
logged.
"""

from __future__ import annotations

from typing import Any

from ivr_app.esl.call import Call
from ivr_app.handlers import presence_menu
from ivr_app.handlers.context import CONFIRM_TONE, ERROR_TONE, HandlerContext
from ivr_app.menus import EXTENSION
from ivr_app.outbox import ops
from ivr_app.outbox.outbox import JOURNALED, WRITTEN
from ivr_app.phone import to_e164
from ivr_app.presence.model import State
from ivr_app.presence.tollfraud import NumberGuard, NumberRefused

STATES = {"available": State.AVAILABLE, "meeting": State.MEETING, "away": State.AWAY,
          "dnd_on": State.DND, "dnd_off": State.AVAILABLE}


class StarCode:
    def __init__(self, call: Call, ctx: HandlerContext):
        self.call = call
        self.ctx = ctx
        self.extension = call.authenticated_user or ""
        self.log = call.log.bind(extension=self.extension)

    def run(self) -> None:
        action = self.call.variable("ivr_app_star_action") or ""
        argument = self.call.variable("ivr_app_star_argument") or ""
        if action == "presence_menu":  # from any phone: the caller says who they are
            presence_menu.handle(self.call, self.ctx)
            return
        self.call.answer()
        if not self.extension:
            self.refuse("star code from a caller FreeSWITCH did not authenticate",
                        action=action, caller_id=self.call.caller_id_number,
                        profile=self.call.variable("sofia_profile_name"))
            return
        if not EXTENSION.match(self.extension):
            self.refuse("star code from a user that is not an extension", action=action)
            return
        if action in STATES:
            self.change(f"presence_{action}", "state", STATES[action].value,
                        f"star code {action}")
        elif action == "forward":
            self.forward(argument)
        elif action == "forward_off":
            self.change("presence_forward_off", "forward_to", None, "star code forward_off")
        else:
            self.refuse("unknown star code action", action=action)
            return
        self.call.hangup("NORMAL_CLEARING")

    def forward(self, typed: str) -> None:
        if not typed.isdigit():  # *72 alone (or anything but digits after it)
            typed = self.call.play_and_get_digits(
                self.prompt("presence_forward_enter"), invalid=ERROR_TONE, min_digits=2,
                max_digits=16, tries=2, timeout_ms=8000, regex=r"^[0-9]{2,16}$") or ""
        if EXTENSION.match(typed):
            number = typed  # another extension
        else:
            number = to_e164(typed, self.ctx.config.ivr.default_region) or typed
            try:
                NumberGuard.from_config(self.ctx.config.presence).check(number)
            except NumberRefused as exc:
                self.log.warning("forward refused by the toll-fraud guard", reason=str(exc))
                self.call.playback(self.prompt("presence_forward_refused", ERROR_TONE))
                return
        self.change("presence_forward_on", "forward_to", number, "star code forward",
                    forward_to=number)

    def change(self, confirmation: str, column: str, value: str | None, by: str,
               **log: Any) -> None:
        """Written now, or journaled while PostgreSQL is away (applied in order once it is
        back, like the call's other writes): either way the change is kept and confirmed."""
        done = self.ctx.write(ops.PresenceChanged(extension=self.extension, column=column,
                                                  value=value, by=by), self.log)
        if done.status == JOURNALED:
            self.log.info("presence change journaled: applied when PostgreSQL is back",
                          change=confirmation, **log)
        elif done.status != WRITTEN:  # rejected, or the journal could not be written
            self.refuse("presence not changed: database unavailable", hangup=False)
            return
        elif not done.result:
            self.refuse("star code from an extension with no employee", hangup=False)
            return
        else:
            self.log.info("presence changed by star code", change=confirmation, **log)
        self.call.playback(self.prompt(confirmation))

    def prompt(self, name: str, fallback: str = CONFIRM_TONE) -> str:
        return self.ctx.prompt_or(name, "en", fallback)

    def refuse(self, why: str, hangup: bool = True, **log: Any) -> None:
        self.log.warning(why, **log)
        self.call.playback(self.prompt("presence_not_changed", ERROR_TONE))
        if hangup:
            self.call.hangup("CALL_REJECTED")


def handle(call: Call, ctx: HandlerContext) -> None:
    StarCode(call, ctx).run()

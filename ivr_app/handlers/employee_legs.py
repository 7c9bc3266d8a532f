"""How a call reaches an employee's phones: their presence profile's decision for this
caller, the legs (follow-me, a forward) with the caller IDs each kind of leg shows, the
external-leg cap counted on every node, and the screen pop. Part of the IVR flow
(handlers/ivr.py's IvrFlow); the hold queue rings its agents through the same methods
(handlers/queue.py's Flow)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ivr_app.db import interactions
from ivr_app.db import presence as presence_db
from ivr_app.db.employees import EmployeeRef
from ivr_app.esl.dialstring import DialString
from ivr_app.esl.quoting import caller_number, display_name
from ivr_app.menus import EXTENSION
from ivr_app.phone import to_e164
from ivr_app.presence import followme
from ivr_app.presence.model import Action as PresenceAction
from ivr_app.presence.model import Caller, Decision, Device, DeviceKind
from ivr_app.presence.rules import decide
from ivr_app.presence.tollfraud import NumberGuard, NumberRefused
from ivr_app.screenpop import Offer

if TYPE_CHECKING:
    from ivr_app.db.customers import CustomerCard
    from ivr_app.esl.call import Call
    from ivr_app.handlers.context import HandlerContext
    from ivr_app.presence.extlegs import ExternalLegs
    from ivr_app.queue.spec import QueueSpec


class EmployeeLegs:
    """Mixed into IvrFlow, whose fields these are."""

    call: Call
    ctx: HandlerContext
    card: CustomerCard | None
    queue_spec: QueueSpec | None
    legs: ExternalLegs

    @property
    def log(self) -> Any:
        return self.call.log

    def presence_decision(self, extension: str, employee: EmployeeRef | None,
                          on_call: bool | None = None) -> Decision:
        """What the employee's presence profile does with this call; ``on_call`` overrides
        what channel events say (a queue has already decided the agent is free)."""
        desk = employee.desk if employee else f"user/{extension}"
        fallback = Decision(PresenceAction.RING,
                            (Device(DeviceKind.DESK, desk,
                                    ring_timeout_s=self.ctx.config.ivr.ring_timeout_seconds),),
                            why="no presence profile: the desk")
        profile = self.ctx.db("presence profile",
                              lambda c: presence_db.load_profile(c, extension), None, self.log)
        if profile is None:
            return fallback
        profile = replace(profile, on_call=self.ctx.on_call(extension) if on_call is None
                          else on_call)
        number = self.caller_number()
        caller_id = self.ctx.db("caller employee",
                                lambda c: presence_db.caller_employee_id(c, number), None,
                                self.log)
        caller = Caller(number, vip=bool(self.card and self.card.vip),
                        is_manager=caller_id is not None and caller_id == profile.manager_id,
                        customer_id=self.card.id if self.card else None)
        cfg = self.ctx.config.presence
        return decide(profile, caller, self.ctx.clock(), ZoneInfo(cfg.timezone))

    def caller_number(self) -> str:
        raw = self.call.caller_id_number or ""
        if EXTENSION.match(raw):
            return raw  # an internal caller: their extension
        return to_e164(raw, self.ctx.config.ivr.default_region) or raw

    def dial_for(self, decision: Decision, extension: str) -> DialString | None:
        """The employee's legs; the caller's channel is readied for them (their control keys
        *2 / *3 are consumed, never sent to the caller)."""
        if self.ctx.recording is not None:
            self.ctx.recording.bind_keys(self.call)
        cfg = self.ctx.config.presence
        guard = NumberGuard.from_config(cfg)
        shown = self.shown()
        outside = decision.action is PresenceAction.FORWARD or \
            any(d.external for d in decision.devices)
        # on every node; desks alone need no count (and no query)
        in_use = self.legs.in_use(extension) if outside else 0
        if decision.action is PresenceAction.FORWARD:
            timeout = self.ctx.config.ivr.ring_timeout_seconds
            try:
                leg = followme.forward_leg(decision.forward_to or "", cfg, guard, timeout, shown,
                                           external_in_use=in_use)
                external = "group_confirm_key" in leg.variables
                ok, _used = self.legs.claim(extension, int(external))
                if not ok:
                    raise NumberRefused(f"more than {cfg.max_external_legs} external legs")
            except NumberRefused as exc:
                self.log.warning("forward refused by the toll-fraud guard", reason=str(exc))
                return None
            confirm = cfg.confirm_timeout_seconds if external else 0
            return DialString.simultaneous([leg], originate_timeout=timeout + confirm)
        for _attempt in range(3):  # another node may take legs between the count and the claim
            plan = followme.plan(decision.devices, cfg, guard, external_in_use=in_use,
                                 shown=shown)
            ok, in_use = self.legs.claim(extension, plan.external)
            if ok:
                break
        else:  # the cap is taken: the internal legs only
            plan = followme.plan(decision.devices, cfg, guard,
                                 external_in_use=cfg.max_external_legs, shown=shown)
        for device, reason in plan.refused:
            self.log.warning("follow-me leg dropped", device=str(device.kind), reason=reason)
        return plan.dial

    def caller_id_shown(self) -> dict[str, str]:
        """What the employee's phones show: the caller's E.164 number (or the number as it
        came, never a made-up one) and a name the phones can display (quoting gate)."""
        raw = self.call.caller_id_number or ""
        number = to_e164(raw, self.ctx.config.ivr.default_region) or caller_number(raw)
        shown = {"origination_caller_id_number": number} if number else {}
        name = display_name(self.card.name if self.card else self.call.caller_id_name or "")
        if name:
            shown["origination_caller_id_name"] = name
        return shown

    def shown(self) -> followme.Shown:
        """Employees' phones show the customer; legs through the gateway show the company
        number: the queue's, else the DID's (the dialplan's ivr_app_caller_id), else
        ivr.company_number; with none configured, the customer's number as it came."""
        internal = self.caller_id_shown()
        number = (self.queue_spec.caller_id if self.queue_spec else None) or \
            self.call.variable("ivr_app_caller_id") or self.ctx.config.ivr.company_number
        return followme.Shown(internal, followme.company(number) or internal)

    def offer_screen_pop(self, extension: str) -> None:
        if self.ctx.screen_pop is None:
            return
        card = self.card
        recent = self.ctx.db("recent interactions",
                             lambda c: tuple(interactions.recent(c, card.id)), (),
                             self.log) if card else ()
        self.ctx.screen_pop.offer(Offer(self.call.uuid, extension, self.call.caller_id_number,
                                        self.call.caller_id_name, card, recent))

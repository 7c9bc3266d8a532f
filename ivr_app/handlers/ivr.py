"""The IVR: the company number's call flow, driven by the menus YAML.

    caller ID -> customer card -> VIP? straight to the account manager
                               -> else the entry menu: greeting, prompt, keys
    key -> sub-menu / back / repeat / transfer / manager / queue / voicemail / directory
    2-8 digits (direct dial) -> that employee's desk
    nothing / nonsense -> timeout / invalid prompt, up to max_tries, then on_failure
    out of business hours -> the after-hours greeting and action

Every call leaves its calls row (route, keys pressed, outcome) and, for a known customer, an
interaction on their timeline. The database is asked through HandlerContext.db, which gives a
default when PostgreSQL is away: the caller then simply goes the anonymous way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ivr_app.db import customers, employees
from ivr_app.db.customers import CustomerCard
from ivr_app.db.employees import EmployeeRef
from ivr_app.esl.call import BridgeOutcome, Call
from ivr_app.esl.errors import CallEnded, CommandFailed, CommandTimeout
from ivr_app.esl.quoting import app_args, file_string
from ivr_app.handlers import menu_entry, records
from ivr_app.handlers.context import CONFIRM_TONE, HandlerContext
from ivr_app.handlers.employee_legs import EmployeeLegs
from ivr_app.handlers.menu_entry import MAX_DIGITS, KeyWait
from ivr_app.handlers.queue import QueueWait
from ivr_app.menus import EXTENSION, Action, Menu
from ivr_app.outbox import ops
from ivr_app.phone import to_e164
from ivr_app.presence.extlegs import ExternalLegs
from ivr_app.presence.model import Action as PresenceAction
from ivr_app.queue.spec import QueueSpec

VALID_KEYS = re.compile(r"^[0-9*#]{1,8}$")  # what a menu accepts


class Done(Exception):
    """The flow reached an end (the call was handed on or hung up)."""


@dataclass
class IvrFlow(EmployeeLegs):
    call: Call
    ctx: HandlerContext
    card: CustomerCard | None = None
    language: str = "en"
    keys: list[dict[str, str]] = field(default_factory=list)
    route: str = "ivr"
    outcome: str = ""
    employee: EmployeeRef | None = None
    employee_answered: bool = False
    queues_tried: list[str] = field(default_factory=list)
    customer_unknown: bool = False  # the lookup could not be made (PostgreSQL away)
    employee_extension: str | None = None  # who the call was meant for, by extension
    queue_spec: QueueSpec | None = None  # the queue the caller waits in (its caller_id)
    key_wait: KeyWait = field(init=False)
    legs: ExternalLegs = field(init=False)  # the external-leg cap, across every node

    def __post_init__(self) -> None:
        self.key_wait = KeyWait(self.call, self.ctx.observe_key_wait)
        self.legs = ExternalLegs(self.ctx, self.call.uuid, self.call.log)

    # -- the whole call ------------------------------------------------------------------------

    def run(self) -> None:
        menus = self.ctx.menus
        assert menus is not None
        self.lookup_caller()
        records.started(self)
        try:
            self.call.answer()
            records.answered(self)
            if self.card is not None:
                self.call.set("ivr_app_customer_id", str(self.card.id))
            if self.ctx.recording is not None and self.ctx.recording.policy.records_all:
                self.record("all calls")
            try:
                dialled = self.call.variable("ivr_app_extension")
                queue = self.call.variable("ivr_app_queue")
                if self.call.variable("ivr_app_entry") == "queue" and queue in menus.queues:
                    # a queue's own number (the dialplan's queue extensions)
                    assert queue is not None
                    self.to_queue(queue)
                elif self.call.variable("ivr_app_entry") == "extension" and dialled and \
                        EXTENSION.match(dialled):
                    # an internal call to an extension: straight to their follow-me
                    self.route = f"internal/extension {dialled}"
                    self.ring_extension(dialled, then_voicemail=True)
                elif self.card is not None and self.card.vip and menus.vip == "manager":
                    self.route = "vip"
                    self.to_manager()
                else:
                    # the dialplan names the entry menu of each DID (ivr_app_entry)
                    entry = self.call.variable("ivr_app_entry")
                    self.menu_loop(entry if entry in menus.menus else menus.entry)
            except Done:
                pass
        finally:
            self.legs.release_all()
            records.ended(self)

    def lookup_caller(self) -> None:
        number = to_e164(self.call.caller_id_number, self.ctx.config.ivr.default_region)
        failed = object()
        card = self.ctx.db("customer lookup",
                           lambda c: customers.find_by_number(c, number) if number else None,
                           failed, self.log)
        languages = self.ctx.menus.languages if self.ctx.menus else ("en",)
        self.language = languages[0]
        if card is failed:  # PostgreSQL away: anonymous now, found when the rows are replayed
            self.customer_unknown, card = bool(number), None
        if card is None:
            self.log.info("anonymous caller")
            return
        self.card = card
        if card.language in languages:
            self.language = card.language
        self.call.log = self.log.bind(customer_id=card.id)
        self.log.info("known caller", customer=card.name, vip=card.vip,
                      language=self.language, manager=card.manager_extension)

    def record(self, reason: str) -> None:
        """Start recording (policy said so): the consent prompt first, then record_session."""
        rec = self.ctx.recording
        if rec is None:
            return
        consent = rec.cfg.consent_prompt or None
        if consent and self.ctx.menus is not None and consent in self.ctx.menus.prompts:
            consent = self.ctx.prompt(consent, self.language)
        rec.record(self.call, reason, consent)

    # -- menus ---------------------------------------------------------------------------------

    def prompt(self, name: str | None) -> None:
        if name:
            self.call.playback(self.ctx.prompt(name, self.language))

    def menu_loop(self, entry: str) -> None:
        menus = self.ctx.menus
        assert menus is not None
        stack = [entry]
        greeted: set[str] = set()
        while stack:
            menu = menus.menus[stack[-1]]
            if not menus.is_open(menu, self.ctx.clock()):
                self.route = f"{menu.name}/after-hours"
                self.prompt(menu.after_hours_greeting)
                self.act(menu.after_hours_action or Action("voicemail"), menu, stack)
                return
            lead_in: list[str] = []
            if menu.greeting and menu.name not in greeted:
                greeted.add(menu.name)
                lead_in.append(menu.greeting)
            choice = self.choose(menu, lead_in)
            self.act(choice, menu, stack)

    def prompt_files(self, names: list[str | None]) -> list[str]:
        return [self.ctx.prompt(n, self.language) for n in names if n]

    def menu_prompt(self, lead_in: list[str | None], prompt: str) -> str:
        """The menu's prompt with what comes before it (the greeting, the invalid or timeout
        prompt of the last try) as one ``file_string://``: play_and_get_digits ends its prompt
        at the first key and keeps it, while a separate ``playback`` would throw the key away
        (outbound-dtmf-during-playback), so a caller who knows the menu can press at once."""
        files = self.prompt_files([*lead_in, prompt])
        return file_string(files)

    def choose(self, menu: Menu, lead_in: list[str | None]) -> Action:
        """Prompt, collect keys, retry on nothing or nonsense; the chosen action, or
        on_failure after max_tries. Keys pressed during the greeting or a retry's prompt
        count (type-ahead); a key that cannot begin an extension acts at once (menu_entry)."""
        for _ in range(menu.max_tries):
            entry = menu_entry.collect(self.call, menu, self.menu_prompt(lead_in, menu.prompt),
                                       self.ctx.digit_map())
            digits = entry.digits
            if digits is None and self.call.ended:  # a hangup is not a try without input
                raise CallEnded(self.call.uuid, self.call.hangup_cause)
            self.keys.append({"menu": menu.name, "digits": digits or ""})
            if digits is None:
                self.log.info("no input", menu=menu.name)
                lead_in = [menu.timeout_prompt]
                continue
            action: Action | None = None
            if not VALID_KEYS.match(digits):
                pass
            elif len(digits) == 1 and digits in menu.options:
                action = menu.options[digits]
            elif menu.direct_dial and EXTENSION.match(digits) and self.employee_exists(digits):
                action = Action("transfer", digits)
            self.key_wait.entered(menu, entry, action.action if action else "invalid")
            if action is not None:
                return action
            self.log.info("invalid entry", menu=menu.name, digits=digits)
            lead_in = [menu.invalid_prompt]
        for name in lead_in:  # the last try's invalid / timeout prompt, before on_failure
            self.prompt(name)
        self.log.info("too many failed tries", menu=menu.name)
        self.route = f"{menu.name}/failed"
        return menu.on_failure

    def employee_exists(self, extension: str) -> bool:
        """An employee's extension (PostgreSQL), or, when PostgreSQL does not answer, a user
        of FreeSWITCH's own directory (``user_exists``): direct dial works in an outage."""
        found = self.ctx.db("employee lookup",
                            lambda c: employees.find_by_extension(c, extension) is not None,
                            None, self.log)
        if found is not None:
            return found
        try:
            known = self.call.user_exists(extension, self.ctx.config.ivr.voicemail_domain)
        except (CommandFailed, CommandTimeout) as exc:
            self.log.warning("FreeSWITCH's directory not asked", extension=extension,
                             error=str(exc))
            return False
        self.log.info("extension checked in FreeSWITCH's directory (no database)",
                      extension=extension, known=known)
        return known

    # -- actions -------------------------------------------------------------------------------

    def step(self, menu: Menu, what: str) -> None:
        """Record where the call goes (after a failed menu, as its consequence)."""
        if self.route.endswith("/failed"):
            self.route = f"{self.route} -> {what}"
        else:
            self.route = f"{menu.name}/{what}"

    def act(self, action: Action, menu: Menu, stack: list[str]) -> None:
        kind = action.action
        if kind == "menu":
            assert action.target is not None
            stack.append(action.target)
            self.route = action.target
        elif kind == "back":
            if len(stack) > 1:
                stack.pop()
                self.route = stack[-1]
        elif kind == "repeat":
            pass
        elif kind == "hangup":
            self.step(menu, "hangup")
            self.call.hangup("NORMAL_CLEARING")
            raise Done
        elif kind == "transfer":
            assert action.target is not None
            self.step(menu, f"extension {action.target}")
            self.ring_extension(action.target, then_voicemail=True)
        elif kind == "manager":
            self.step(menu, "manager")
            self.to_manager()
        elif kind == "queue":
            assert action.target is not None
            self.to_queue(action.target)
        elif kind == "voicemail":
            self.to_voicemail(action.target)
        elif kind == "directory":
            self.directory(menu)

    def to_manager(self) -> None:
        menus = self.ctx.menus
        assert menus is not None
        ext = self.card.manager_extension if self.card else None
        if ext:
            outcome = self.ring_extension(ext, then_voicemail=False)
            if outcome is not None and outcome.answered:
                raise Done
        for step in menus.manager_fallback:
            if step.action == "queue" and step.target:
                self.to_queue(step.target)
            elif step.action == "voicemail":
                self.to_voicemail(step.target or ext)
            elif step.action == "transfer" and step.target:
                self.ring_extension(step.target, then_voicemail=False)
        self.to_voicemail(ext)

    def ring_extension(self, extension: str, then_voicemail: bool) -> BridgeOutcome | None:
        """Reach an employee the way their presence profile says: ring their devices
        (follow-me), forward, voicemail or reject. Without PostgreSQL: their desk."""
        employee = self.ctx.db("employee lookup",
                               lambda c: employees.find_by_extension(c, extension), None,
                               self.log)
        self.employee = employee or self.employee
        self.employee_extension = extension
        self.call.set("ivr_app_employee", extension)
        decision = self.presence_decision(extension, employee)
        self.log.info("presence decided", extension=extension, action=str(decision.action),
                      why=decision.why)
        if decision.action is PresenceAction.VOICEMAIL:
            self.outcome = f"{extension} {decision.why}"
            self.to_voicemail(extension)
        if decision.action is PresenceAction.REJECT:
            self.outcome = f"{extension} rejected ({decision.why})"
            self.call.hangup("CALL_REJECTED")
            raise Done
        dial = self.dial_for(decision, extension)
        if dial is None:  # every device refused by the toll-fraud guard
            self.to_voicemail(extension)
        rec = self.ctx.recording
        if rec is not None and (rec.policy.for_employee(extension) or
                                rec.policy.for_route(self.route)):
            self.record(f"employee {extension}" if rec.policy.for_employee(extension)
                        else f"route {self.route}")
        self.offer_screen_pop(extension)
        # the caller hears ringing while the devices ring (the call is answered already, so
        # FreeSWITCH plays transfer_ringback rather than ringback)
        self.call.set("transfer_ringback", self.ctx.config.presence.ringback)
        try:
            outcome = self.call.bridge(dial)
        finally:
            self.legs.release(extension)
        self.outcome = f"{extension} {'answered' if outcome.answered else outcome.cause}"
        self.log.info("rang extension", extension=extension, answered=outcome.answered,
                      cause=outcome.cause)
        if outcome.answered:
            self.employee_answered = True
            self.call.hangup("NORMAL_CLEARING")
            raise Done
        if then_voicemail:
            self.to_voicemail(extension)
        return outcome

    def to_queue(self, name: str) -> None:
        """Wait in the hold queue (ivr_app/handlers/queue.py) until an agent takes the call,
        or go where the queue sends the caller (voicemail, a callback, another queue)."""
        menus = self.ctx.menus
        assert menus is not None
        spec = menus.queues[name]
        if name in self.queues_tried:  # queues sending callers to each other, all full
            self.log.warning("queue already tried by this caller: its voicemail instead",
                             queue=name, tried=self.queues_tried)
            self.to_voicemail(spec.voicemail_box)
        self.queues_tried.append(name)
        self.queue_spec = spec
        # a caller moved on from another queue, or from the account manager who did not
        # answer, keeps that in the route (recording.routes matches "queue ..." prefixes, so
        # every other way in stays "queue <name>")
        chained = self.route.startswith("queue ") or self.route.endswith("/manager")
        self.route = f"{self.route} -> queue {name}" if chained else f"queue {name}"
        self.outcome = f"queued in {name}"
        rec = self.ctx.recording
        if rec is not None and rec.policy.for_route(self.route):
            self.record(f"route {self.route}")
        waited = QueueWait(self, spec)
        way = waited.run()
        if way is None:  # an agent took it and the conversation is over
            self.call.hangup("NORMAL_CLEARING")
            raise Done
        if way.action == "queue" and way.target:
            self.to_queue(way.target)
        elif way.action == "callback":
            self.route = f"{self.route} -> callback"
            self.request_callback(spec, waited.entry.entry_id if waited.entry else None)
        elif way.action == "hangup":
            self.call.hangup("NORMAL_CLEARING")
            raise Done
        self.to_voicemail(way.target or spec.voicemail_box)

    def request_callback(self, spec: QueueSpec, entry_id: int | None) -> None:
        """Note a callback request (it keeps the caller's place in the line, and a node dials
        it when its turn comes) and say so; without the database, voicemail instead (a
        request that cannot be stored must not be promised). Stored means in PostgreSQL or
        in the outbox's journal, which puts it there when PostgreSQL is back."""
        number = self.caller_number()
        card = self.card
        stored = self.ctx.write(ops.CallbackRequested(
            queue=spec.name, entry_id=entry_id, number=number,
            customer_id=card.id if card else None), self.log)
        if not stored.durable:
            self.log.warning("callback not stored: voicemail instead", queue=spec.name)
            self.to_voicemail(spec.voicemail_box)
        self.outcome = f"callback requested from {spec.name}"
        self.log.info("callback requested", queue=spec.name, number=number,
                      callback_id=stored.result, stored=stored.status)
        self.call.playback(self.ctx.prompt_or("queue_callback", self.language, CONFIRM_TONE))
        self.call.hangup("NORMAL_CLEARING")
        raise Done

    def to_voicemail(self, box: str | None) -> None:
        menus = self.ctx.menus
        assert menus is not None
        box = box or menus.voicemail_box
        if not box:
            self.call.hangup("NORMAL_CLEARING")
            raise Done
        self.route = f"{self.route} -> voicemail {box}"
        self.call.execute("voicemail", app_args("default", self.ctx.config.ivr.voicemail_domain,
                                                box))
        self.call.hangup("NORMAL_CLEARING")
        raise Done

    def directory(self, menu: Menu) -> None:
        for _ in range(menu.max_tries):
            digits = self.call.play_and_get_digits(
                self.ctx.prompt("directory", self.language), invalid="silence_stream://100",
                min_digits=2, max_digits=MAX_DIGITS, tries=1, timeout_ms=menu.timeout_ms,
                digit_timeout_ms=menu.inter_digit_ms, regex=rf"^[0-9]{{2,{MAX_DIGITS}}}$")
            self.keys.append({"menu": "directory", "digits": digits or ""})
            if digits and self.employee_exists(digits):
                self.route = f"directory/extension {digits}"
                self.ring_extension(digits, then_voicemail=True)
                return
            self.prompt(menu.invalid_prompt if digits else menu.timeout_prompt)


def handle(call: Call, ctx: HandlerContext) -> None:
    IvrFlow(call, ctx).run()

"""Callbacks, dialled: a caller who asked to be called back keeps their place in the line, and
when their turn comes and an agent is free, a node rings the agent (their follow-me devices,
showing the customer's number) and, once the agent answers, the customer:

    originate {ivr_app_callback=<id>,...}<agent's legs> &bridge(<customer>)

The agent not answering frees the request for the next agent (the agent is paused like after
a queue offer). The customer not answering (the agent's leg ends without a bridge) is tried
again after ``callback_retry_seconds``, up to ``callback_attempts`` times. Every node runs a
dialer; claim_callback locks the request's entry FOR UPDATE SKIP LOCKED, so one node dials it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import gevent
import gevent.event
import gevent.queue
import psycopg
from psycopg_pool import ConnectionPool

from ivr_app import supervise
from ivr_app.config import Config
from ivr_app.db import customers, interactions
from ivr_app.db import presence as presence_db
from ivr_app.db import queue_callbacks as qcb
from ivr_app.db import queues as qdb
from ivr_app.db.pool import run_or
from ivr_app.esl.dialstring import DialString, Leg
from ivr_app.esl.errors import EslError
from ivr_app.esl.events import Event
from ivr_app.esl.quoting import caller_number, display_name
from ivr_app.presence import followme
from ivr_app.presence.model import Action as PresenceAction
from ivr_app.presence.model import Caller
from ivr_app.presence.rules import decide
from ivr_app.presence.tollfraud import NumberGuard, NumberRefused
from ivr_app.queue.spec import QueueSpec

EXTENSION_DIGITS = range(2, 9)
CUSTOMER_RING_SECONDS = 30
LONGEST_CALL_SECONDS = 4 * 3600


class CallbackDialer:
    def __init__(self, pool: ConnectionPool, control: Any,
                 queues: Callable[[], Mapping[str, QueueSpec]],
                 busy_extensions: Callable[[], list[str]], config: Config, log: Any,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 outbox: Any = None):
        self.pool, self.control, self.queues = pool, control, queues
        self.outbox = outbox  # its breaker: while PostgreSQL is known down, no tick waits
        self.busy_extensions, self.config, self.clock = busy_extensions, config, clock
        self.log = log.bind(component="callbacks")
        self.watch: dict[str, gevent.queue.Queue[Event]] = {}  # callback id -> its events
        self.calls: list[gevent.Greenlet] = []
        self._greenlet: gevent.Greenlet | None = None
        self._stop = gevent.event.Event()
        control.on("CHANNEL_BRIDGE", self._event)
        control.on("CHANNEL_HANGUP_COMPLETE", self._event)

    def start(self) -> CallbackDialer:
        self._greenlet = supervise.forever(self._run, log=self.log, what="callback dialler")
        return self

    def stop(self) -> None:
        """Stop looking for callbacks (between two looks; a callback being dialled goes on in
        FreeSWITCH and its row is cleaned up by expire_stale)."""
        self._stop.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout=5)

    def _event(self, event: Event) -> None:
        watcher = self.watch.get(event.get("variable_ivr_app_callback") or "")
        if watcher is not None:
            watcher.put(event)

    def _db(self, what: str, fn: Callable[[psycopg.Connection], Any], default: Any) -> Any:
        """Through the outbox's breaker when there is one: during an outage every tick
        (twice a second) used to wait a second for a connection that could not come."""
        if self.outbox is not None:
            return self.outbox.read(what, fn, default, self.log)
        return run_or(self.pool, what, fn, default, self.log)

    def reconfigure(self, config: Config) -> None:
        """A reload: the toll-fraud lists, the gateway and the company number apply to the
        next callback dialled."""
        self.config = config

    def _run(self) -> None:
        while not self._stop.wait(self.config.queue.dispatch_interval_seconds):
            try:
                self.tick()
            except Exception:  # the dialer must outlive any one failure
                self.log.exception("callback dialer tick failed")

    def tick(self) -> int:
        """Start dialling every callback whose turn it is and that has an agent; returns how
        many were started."""
        if not self.control.connected.is_set():
            return 0
        self.calls = [g for g in self.calls if not g.dead]
        started = 0
        for spec in self.queues().values():
            busy = self.busy_extensions()
            while (cb := self._db("callback claim", lambda c, s=spec, b=busy: qcb.claim_callback(
                    c, s.name, s.skills, b), None)) is not None:
                self.calls.append(gevent.spawn(self.dial, spec, cb))
                started += 1
        return started

    # -- one callback ----------------------------------------------------------------------------

    def dial(self, spec: QueueSpec, cb: qcb.CallbackOffer) -> None:
        log = self.log.bind(queue=spec.name, callback_id=cb.callback_id,
                            agent=cb.offer.extension)
        try:
            customer = self.customer_leg(cb.number, spec)
        except NumberRefused as exc:
            log.warning("callback number refused by the toll-fraud guard", reason=str(exc))
            self._db("callback refused", lambda c: qcb.callback_not_reached(
                c, cb, "number refused", 0, 0), None)
            return
        agent = self.agent_dial(spec, cb)
        if agent is None:
            log.info("agent's presence does not ring for this callback")
            self._db("callback release", lambda c: qdb.release(
                c, cb.offer, qdb.REFUSED_PAUSE_SECONDS), None)
            return
        key = str(cb.callback_id)
        events: gevent.queue.Queue[Event] = gevent.queue.Queue()
        self.watch[key] = events
        # this node is dialling: without the heartbeat another node would take the request
        # for lost and put it back in line (qdb.expire_stale)
        beating = gevent.event.Event()
        supervise.spawn(self._heartbeat, cb.offer.entry_id, beating, log=self.log,
                        what="callback heartbeat")
        try:
            self._call(spec, cb, agent, customer, events, log)
        finally:
            beating.set()  # (never killed: a greenlet killed mid-query spoils its connection)
            self.watch.pop(key, None)

    def _heartbeat(self, entry_id: int, stop: gevent.event.Event) -> None:
        while not stop.wait(qdb.STALE_SECONDS / 3):
            self._db("callback heartbeat", lambda c: qdb.touch(c, entry_id), None)

    def _call(self, spec: QueueSpec, cb: qcb.CallbackOffer, agent: DialString,
              customer: DialString, events: gevent.queue.Queue[Event], log: Any) -> None:
        log.info("calling back: the agent first")
        try:
            agent_uuid = self.control.originate(agent, customer, timeout=float(
                agent.variables.get("originate_timeout", spec.agent_ring_seconds)) + 30.0)
        except EslError as exc:  # -ERR NO_ANSWER, USER_BUSY ...: the agent did not take it
            log.info("agent did not answer the callback", result=str(exc))
            self._db("callback release", lambda c: qdb.release(
                c, cb.offer, spec.no_answer_pause_seconds), None)
            return
        reached = False
        cause = "NO_ANSWER"
        while True:
            try:
                event = events.get(timeout=LONGEST_CALL_SECONDS)
            except gevent.queue.Empty:
                break
            if event.unique_id != agent_uuid:
                continue  # the agent's other devices, which lost the race
            if event.name == "CHANNEL_BRIDGE" and not reached:
                reached = True
                log.info("customer answered the callback")
                self._db("callback reached", lambda c: qcb.callback_reached(c, cb), None)
            elif event.name == "CHANNEL_HANGUP_COMPLETE":
                cause = event.get("variable_originate_disposition") or \
                    event.get("variable_last_bridge_hangup_cause") or \
                    event.get("variable_DIALSTATUS") or cause
                break
        if reached:
            self._db("callback finished", lambda c: qdb.finished(
                c, cb.offer, spec.wrap_up_seconds), None)
            if cb.customer_id is not None:
                self._db("callback interaction", lambda c: interactions.add(
                    c, cb.customer_id, "call", f"callback-{cb.callback_id}",
                    f"callback from {spec.name}: {cb.offer.extension} {cb.offer.name}",
                    cb.offer.agent_id), None)
            log.info("callback over")
            return
        again = self._db("callback not reached", lambda c: qcb.callback_not_reached(
            c, cb, cause, spec.callback_retry_seconds, spec.callback_attempts), None)
        log.info("customer not reached", cause=cause, retry=again,
                 retry_in_s=spec.callback_retry_seconds if again else None)

    def customer_leg(self, number: str, spec: QueueSpec) -> DialString:
        """The customer's leg, bridged from the agent's once the agent answers. It shows the
        company number (the queue's caller_id, else ivr.company_number): without its own
        origination_caller_id_* it would inherit the agent leg's effective_caller_id_*, the
        directory's "Extension 1002" / 1002 (mod_dptools user_outgoing_channel sets them)."""
        cfg = self.config.presence
        shown = followme.company(spec.caller_id or self.config.ivr.company_number)
        if not shown:
            # no number configured: withheld rather than an internal extension
            shown = {"origination_caller_id_number": "anonymous",
                     "origination_caller_id_name": "anonymous"}
        if number.isdigit() and len(number) in EXTENSION_DIGITS:
            leg = Leg(f"user/{number}", {"leg_timeout": CUSTOMER_RING_SECONDS})
        else:
            NumberGuard.from_config(cfg).check(number)
            leg = Leg(f"{cfg.gateway}/{number}", {"leg_timeout": CUSTOMER_RING_SECONDS,
                                                  **shown})
        return DialString.simultaneous([leg])

    def agent_dial(self, spec: QueueSpec, cb: qcb.CallbackOffer) -> DialString | None:
        """The agent's follow-me legs as their presence rules say, ring times capped at the
        queue's agent_ring_seconds; the agent sees the customer's number."""
        ext = cb.offer.extension
        profile = self._db("agent profile", lambda c: presence_db.load_profile(c, ext), None)
        if profile is None:
            return None
        cfg = self.config.presence
        caller = Caller(cb.number, customer_id=cb.customer_id)
        decision = decide(dataclasses.replace(profile, on_call=False), caller, self.clock(),
                          ZoneInfo(cfg.timezone))
        if decision.action is not PresenceAction.RING or not decision.devices:
            return None
        devices = decision.ring_at_most(spec.agent_ring_seconds).devices
        card = self._db("callback customer", lambda c: customers.find_by_number(
            c, cb.number), None)
        # the agent's phones show the customer (an originate from the API has no caller to
        # copy: FreeSWITCH would show "FreeSWITCH" / 0000000000); external legs the company
        number = caller_number(cb.number)
        internal = {"origination_caller_id_number": number,
                    "origination_caller_id_name": display_name(card.name if card else "")
                    or number} if number else {}
        company = followme.company(spec.caller_id or self.config.ivr.company_number)
        plan = followme.plan(devices, cfg, NumberGuard.from_config(cfg),
                             shown=followme.Shown(internal, company or internal),
                             ivr_app_callback=cb.callback_id, ivr_app_queue=spec.name)
        return plan.dial

"""An agent added to an offer that still rings, so the caller at the head of the line keeps
their place.

The caller's offer rings at the first agent's phones (the flow's bridge). An agent who comes
free meanwhile is kept for this caller, not for the one behind (ivr_app/db/queues.py, claim),
and this rings them too, from the control connection:

    originate {intercept_unbridged_only=true,...}<the added agent's legs> &intercept(<caller>)

When an added leg answers, FreeSWITCH's intercept takes the caller out of the bridge still
ringing the first agent (those phones stop) and bridges them to it. Whoever answers first
talks: the first agent answering kills the added legs; the added agent answering cuts the
first agent's ring (not "let it ring out": the first agent is free again at once, no pause).
When the first agent's ring is over unanswered, the added agent's ring goes on to its own
end while the caller hears the music again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid as uuid_mod
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from ivr_app.db import queues as qdb
from ivr_app.db.employees import EmployeeRef
from ivr_app.esl.dialstring import DialString
from ivr_app.esl.errors import EslError
from ivr_app.outbox import ops
from ivr_app.presence.model import Action as PresenceAction

if TYPE_CHECKING:
    from ivr_app.handlers.queue import QueueWait


class AddedAgent:
    """One added agent at most per offer (qdb.ADDED_AGENTS)."""

    def __init__(self, wait: QueueWait, first: qdb.Offer, log: Any):
        self.wait, self.first, self.log = wait, first, log
        self.ctx, self.call, self.spec = wait.ctx, wait.call, wait.spec
        self.offer: qdb.Offer | None = None  # the added agent, once claimed
        self.leg_uuids: frozenset[str] = frozenset()
        # the added leg that answered (its UUID), or None: nobody added, or no answer
        self.answered: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self._searching = True
        self._cancelled = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> AddedAgent:
        if self.ctx.control is None:
            self.answered.set(None)
        else:
            self._greenlet = gevent.spawn(self._run)
        return self

    def employee(self) -> EmployeeRef:
        assert self.offer is not None
        o = self.offer
        return EmployeeRef(o.agent_id, o.extension, o.name, f"user/{o.extension}")

    @property
    def ringing(self) -> bool:
        return self.offer is not None and not self.answered.ready()

    def no_more(self) -> None:
        """The first agent's ring is over: add nobody now (a ring in progress goes on)."""
        self._searching = False

    def cancel(self) -> None:
        """The call is taken (or gone): stop looking, and stop the added agent's phones."""
        self._searching = False
        self._cancelled.set()
        if self.ringing and self.ctx.control is not None:
            for leg in self.leg_uuids:
                with contextlib.suppress(EslError):
                    self.ctx.control.kill(leg, "ORIGINATOR_CANCEL")

    def join(self, timeout: float) -> None:
        if self._greenlet is not None:
            self._greenlet.join(timeout)

    # -- the greenlet --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            interval = self.ctx.config.queue.dispatch_interval_seconds
            while self._searching and not self._cancelled.wait(interval):
                if not self._searching:
                    break
                offer = self._claim()
                if offer is None:
                    continue
                if not self._searching:  # the offer ended while the claim was on its way
                    self.ctx.write(ops.QueueReleased.of(offer, pause_s=0), self.log)
                    return
                if self._ring(offer):
                    return
        except Exception:
            self.log.exception("adding an agent to the ringing offer failed")
        finally:
            if not self.answered.ready():
                self.answered.set(None)

    def _claim(self) -> qdb.Offer | None:
        entry_id, spec = self.first.entry_id, self.spec
        busy = self.ctx.busy_extensions()
        return self.ctx.db("queue claim added", lambda c: qdb.claim(
            c, spec.name, entry_id, spec.skills, busy, added=True), None, self.log)

    def _ring(self, offer: qdb.Offer) -> bool:
        """Ring the added agent; True once it is settled (answered, or rang out)."""
        flow, spec = self.wait.flow, self.spec
        log = self.log.bind(added_agent=offer.extension)
        employee = EmployeeRef(offer.agent_id, offer.extension, offer.name,
                               f"user/{offer.extension}")
        decision = flow.presence_decision(offer.extension, employee, on_call=False)
        dial = None
        if decision.action is PresenceAction.RING and decision.devices:
            dial = flow.dial_for(decision.ring_at_most(spec.agent_ring_seconds),
                                 offer.extension)
        if dial is None:
            log.info("added agent's presence does not ring for this call", why=decision.why)
            self.ctx.write(ops.QueueReleased.of(offer, pause_s=qdb.REFUSED_PAUSE_SECONDS), log)
            return False
        if not self._searching:  # the offer ended meanwhile: the caller may claim them
            flow.legs.release(offer.extension)
            self.ctx.write(ops.QueueReleased.of(offer, pause_s=0), log)
            return True
        dial, self.leg_uuids = self._for_intercept(dial)
        self.offer = offer
        flow.offer_screen_pop(offer.extension)
        log.info("an agent came free: ringing them too", first_agent=self.first.extension)
        control = self.ctx.control
        assert control is not None
        try:
            leg = control.originate_intercept(dial, self.call.uuid,
                                              float(spec.agent_ring_seconds) + 30.0)
        except EslError as exc:  # -ERR NO_ANSWER / ORIGINATOR_CANCEL (cancelled) ...
            pause = 0 if self._cancelled.is_set() else spec.no_answer_pause_seconds
            log.info("added agent did not answer", result=str(exc), pause_s=pause)
            flow.legs.release(offer.extension)
            self.ctx.write(ops.QueueReleased.of(offer, pause_s=pause), log)
            self.answered.set(None)
            return True
        log.info("added agent answered", leg=leg)
        self.answered.set(leg)
        return True

    def _for_intercept(self, dial: DialString) -> tuple[DialString, frozenset[str]]:
        """The agent's legs for an originate from the API: each with a UUID of ours (a
        cancel kills exactly these), the
        caller shown on internal phones (an API originate has no caller to copy; external
        legs keep their own company number), never taking a call that already talks."""
        uuids: list[str] = []
        groups = []
        for group in dial.groups:
            legs = []
            for leg in group:
                u = str(uuid_mod.uuid4())
                uuids.append(u)
                legs.append(dataclasses.replace(leg, variables={**leg.variables,
                                                                "origination_uuid": u}))
            groups.append(legs)
        variables = {**self.wait.flow.caller_id_shown(), **dial.variables,
                     "intercept_unbridged_only": "true",
                     "originate_timeout": self.spec.agent_ring_seconds}
        return dataclasses.replace(dial, groups=groups, variables=variables), frozenset(uuids)

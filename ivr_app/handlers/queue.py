"""A caller waiting in a hold queue, as they live it:

    enter (full? -> on_full)
    music; now and every announce_every_seconds: "you are caller number 3, your expected
        waiting time is about 4 minutes" spoken over the music (uuid_displace ... mux)
    a key (voicemail, callback)          -> leave, that way
    max wait                             -> leave, on_max_wait
    an agent is free and it is our turn  -> the announcement stops at once, the music too,
        the agent's phones ring (follow-me) while the caller keeps hearing the music; no
        answer: back to waiting, in the same place; answer: the conversation
    hang up                              -> abandoned

The queue's state is in PostgreSQL (ivr_app/db/queues.py), so nodes share a queue. A database
outage never drops the caller: entering fails over to on_full's way (voicemail by default),
and a caller already waiting keeps waiting until max wait.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

import gevent
import gevent.event
import gevent.queue

from ivr_app.db import queues as qdb
from ivr_app.db.customers import CustomerCard
from ivr_app.db.employees import EmployeeRef
from ivr_app.esl.call import Call, Running
from ivr_app.esl.errors import CallEnded, CommandFailed, EslError
from ivr_app.esl.events import Event
from ivr_app.esl.quoting import file_string
from ivr_app.handlers.context import HandlerContext
from ivr_app.handlers.queue_added import AddedAgent
from ivr_app.outbox import ops
from ivr_app.presence.extlegs import ExternalLegs
from ivr_app.presence.model import Action as PresenceAction
from ivr_app.presence.model import Decision
from ivr_app.queue.order import expected_wait_minutes
from ivr_app.queue.say import number_files as say_number
from ivr_app.queue.spec import Exit, QueueSpec

ANSWERED = None  # what QueueWait.run returns when an agent took the call
# a burst of callers entering at once queues for connections: wait longer than for a lookup
# before sending a caller the on_full way
ENTER_WAIT_SECONDS = 5.0
MUSIC_SECONDS = 30  # the hold music plays in pieces this long (see start_music)
MUSIC_RETRY_SECONDS = 5.0


class Flow(Protocol):
    """What the queue needs from the IVR flow that sent the caller here."""

    call: Call
    ctx: HandlerContext
    card: CustomerCard | None
    language: str
    employee: EmployeeRef | None
    employee_answered: bool
    outcome: str
    legs: ExternalLegs

    @property
    def log(self) -> Any: ...
    def caller_number(self) -> str: ...
    def presence_decision(self, extension: str, employee: EmployeeRef | None,
                          on_call: bool | None = None) -> Decision: ...
    def dial_for(self, decision: Decision, extension: str) -> Any: ...
    def caller_id_shown(self) -> dict[str, str]: ...
    def offer_screen_pop(self, extension: str) -> None: ...


class QueueWait:
    def __init__(self, flow: Flow, spec: QueueSpec):
        self.flow, self.spec = flow, spec
        self.call, self.ctx = flow.call, flow.ctx
        self.log = flow.log.bind(queue=spec.name)
        self.entry: qdb.Entered | None = None
        self.music: Running | None = None
        self.music_started = 0.0
        self.announcement: str | None = None  # the file now displaced over the music

    # -- the call flow -------------------------------------------------------------------------

    def run(self) -> Exit | None:
        """Wait until an agent took the call (None) or the caller goes another way (an Exit)."""
        # the keys of the menu that sent the caller here (FreeSWITCH sends a DTMF event for
        # each, even those play_and_get_digits consumed) mean nothing here: a 2 for "account
        # manager" must not be taken for the queue's callback key
        self.call.flush_dtmf()
        self.entry = self.enter()
        if self.entry is None:
            return self.spec.on_full
        try:
            return self.wait()
        except CallEnded:
            self.leave("abandoned", "caller hung up")
            raise
        except Exception:  # a failing handler: the dialplan's fallback takes the caller
            self.leave("overflow", "ivr-app failed: to the dialplan's fallback")
            raise
        finally:
            self.stop_hold()

    def enter(self) -> qdb.Entered | None:
        card, spec = self.flow.card, self.spec
        failed = object()
        entered = self.ctx.db("queue enter", lambda c: qdb.enter(
            c, spec.name, spec.skills, call_uuid=self.call.uuid, node=self.ctx.config.node_name,
            caller_number=self.flow.caller_number(), customer_id=card.id if card else None,
            vip=bool(card and card.vip),
            manager_extension=card.manager_extension if card else None,
            max_length=spec.max_length), failed, self.log, wait=ENTER_WAIT_SECONDS)
        if entered is failed:
            self.log.error("queue unavailable (database): the caller goes the on_full way",
                           to=spec.on_full.action)
            # the history and the report still count them, once PostgreSQL is back
            self.ctx.write(ops.QueueUnavailable(
                queue=spec.name, call_uuid=self.call.uuid, node=self.ctx.config.node_name,
                caller_number=self.flow.caller_number(), customer_id=card.id if card else None,
                vip=bool(card and card.vip)), self.log)
            return None
        if entered is None:
            self.log.info("queue full", max_length=spec.max_length, to=spec.on_full.action)
            return None
        assert isinstance(entered, qdb.Entered)
        self.log.info("queued", position=entered.position, waiting=entered.waiting,
                      entry_id=entered.entry_id)
        return entered

    def wait(self) -> Exit | None:
        spec = self.spec
        interval = self.ctx.config.queue.dispatch_interval_seconds
        started = time.monotonic()
        deadline = started + spec.max_wait_seconds
        next_announcement = started  # the first one at once
        self.start_music()
        while True:
            if self.call.ended:
                raise CallEnded(self.call.uuid, self.call.hangup_cause)
            self.keep_music()
            key = self.key_pressed()
            if key is not None:
                self.stop_hold()
                self.leave("overflow", f"key {key}: {spec.keys[key]}")
                return Exit(spec.keys[key])
            now = time.monotonic()
            if now >= deadline:
                self.stop_hold()
                self.leave("overflow", "max wait")
                self.log.info("max wait reached", waited_s=round(now - started, 1),
                              to=spec.on_max_wait.action)
                return spec.on_max_wait
            if spec.announce_every_seconds and now >= next_announcement:
                self.announce()
                next_announcement = now + spec.announce_every_seconds
            offer = self.claim()
            if offer is not None:
                if self.connect(offer):
                    return ANSWERED
                self.start_music()
                continue
            pause = min(interval, max(0.0, deadline - time.monotonic()))
            if spec.announce_every_seconds:
                pause = min(pause, max(0.0, next_announcement - time.monotonic()))
            self.sleep(pause)

    # -- hold: music and announcements ---------------------------------------------------------

    def start_music(self) -> None:
        self.call.set("playback_terminators", "none")  # keys are read from the events
        # in pieces of MUSIC_SECONDS, started again while the caller waits: if ivr-app dies
        # (kill -9), FreeSWITCH cannot break an endless playback, and the caller would hear
        # the music for ever instead of the dialplan's fallback
        self.call.set("playback_timeout_sec", str(MUSIC_SECONDS))
        self.call.set("playback_timeout_as_success", "true")  # FILE PLAYED, not an error
        self.music_started = time.monotonic()
        self.music = self.call.start_playback(self.spec.music)

    def keep_music(self) -> None:
        """The music's piece ended while the caller still waits: the next one. (A file given
        as the queue's music starts again from its top: use a local_stream.) One that cannot
        play at all is tried again at most every MUSIC_RETRY_SECONDS, not on every turn."""
        if self.music is None or not self.music.ready() or self.call.ended:
            return
        now = time.monotonic()
        missing = self.music.done.successful() and \
            self.music.done.value.get("Application-Response") == "FILE NOT FOUND"
        if missing and now - self.music_started < MUSIC_RETRY_SECONDS:
            return  # it could not play (file not found): wait before the next try
        self.music_started = now
        self.music = self.call.start_playback(self.spec.music)

    def stop_hold(self) -> None:
        """The announcement first (a displace outlives a break and a bridge: left running, it
        would go on over the agent's voice), then the music."""
        if self.announcement is not None:
            with contextlib.suppress(CallEnded):
                self.call.stop_displace(self.announcement)
            self.announcement = None
        music, self.music = self.music, None
        if music is not None and not self.call.ended:
            with contextlib.suppress(CallEnded):
                if not self.call.stop(music):
                    self.log.error("hold music would not stop", queue=self.spec.name)
                self.call.set("playback_timeout_sec", "")  # later prompts play whole
                self.call.set("playback_timeout_as_success", "")

    def announce(self) -> None:
        spec = self.spec
        assert self.entry is not None
        entry_id = self.entry.entry_id
        pos, _waiting = self.ctx.db("queue position", lambda c: qdb.position(
            c, spec.name, entry_id), (0, 0), self.log)
        if pos <= 0:
            return
        minutes = None
        files: list[str] = []
        said = self.say(pos) if spec.announce_position else []
        if said:  # a number that cannot be spoken leaves its sentence out
            files += self.prompt_files("queue_position") + said
        if spec.announce_wait:
            agents, handle = self.ctx.db("queue expected wait", lambda c: (
                qdb.staffed_agents(c, spec.skills),
                qdb.average_handle_seconds(c, spec.name, spec.handle_seconds)),
                (0, float(spec.handle_seconds)), self.log)
            minutes = expected_wait_minutes(pos, agents, handle)
            said = self.say(minutes) if minutes is not None else []
            if said:
                files += self.prompt_files("queue_wait") + said + \
                    self.prompt_files("queue_minutes")
        if spec.keys:
            files += self.prompt_files("queue_options")
        if not files:
            return
        path = file_string(files, always=True)
        if self.announcement is not None:
            self.call.stop_displace(self.announcement)
            self.announcement = None
        try:
            self.call.displace(path, mux=True)
        except CommandFailed as exc:
            self.log.warning("announcement not played", error=str(exc))
            return
        self.announcement = path
        self.log.info("announced", position=pos, expected_minutes=minutes)

    def prompt_files(self, name: str) -> list[str]:
        menus = self.ctx.menus
        if menus is None or name not in menus.prompts:
            return []
        return [self.ctx.prompt(name, self.flow.language)]

    def say(self, number: int) -> list[str]:
        """The number in the caller's language, as files: FreeSWITCH's say module's, or the
        rendered number where it has none (ivr_app/queue/say.py); [] if neither can."""
        return say_number(self.call, self.ctx, self.flow.language, number, self.log)

    # -- keys and time -------------------------------------------------------------------------

    def key_pressed(self) -> str | None:
        """The first key the caller pressed that means something here (others are logged)."""
        while True:
            try:
                digit = self.call.dtmf.get_nowait()
            except gevent.queue.Empty:
                return None
            if digit in self.spec.keys:
                return digit
            self.log.info("key ignored while waiting", digit=digit)

    def sleep(self, seconds: float) -> None:
        """Wait up to ``seconds``; a key press ends the wait at once."""
        with contextlib.suppress(gevent.queue.Empty):
            self.call.dtmf.peek(timeout=seconds)

    # -- agents --------------------------------------------------------------------------------

    def claim(self) -> qdb.Offer | None:
        assert self.entry is not None
        entry_id, spec = self.entry.entry_id, self.spec
        busy = self.ctx.busy_extensions()
        return self.ctx.db("queue claim", lambda c: qdb.claim(
            c, spec.name, entry_id, spec.skills, busy), None, self.log)

    def connect(self, offer: qdb.Offer) -> bool:
        """Ring the offered agent's phones; True when they took the call (and it is over)."""
        spec, flow = self.spec, self.flow
        log = self.log.bind(agent=offer.extension, entry_id=offer.entry_id)
        self.stop_hold()  # at once: never a prompt under the agent's "hello"
        employee = EmployeeRef(offer.agent_id, offer.extension, offer.name,
                               f"user/{offer.extension}")
        # the claim found the agent free (not on a call by this node's channel events, whose
        # view may lag the database's by an event): their rules decide which phones ring
        decision = flow.presence_decision(offer.extension, employee, on_call=False)
        if decision.action is not PresenceAction.RING or not decision.devices:
            log.info("agent's presence does not ring for this call", why=decision.why)
            self.release(offer, qdb.REFUSED_PAUSE_SECONDS)
            return False
        dial = flow.dial_for(decision.ring_at_most(spec.agent_ring_seconds), offer.extension)
        if dial is None:  # every device refused (toll-fraud guard)
            self.release(offer, qdb.REFUSED_PAUSE_SECONDS)
            return False
        flow.offer_screen_pop(offer.extension)
        # the caller keeps hearing the queue's music while the agent's phones ring
        self.call.set("transfer_ringback", spec.music)
        # an agent who comes free meanwhile rings too (queue_added.py): the head keeps its place
        added = AddedAgent(self, offer, log)
        won: list[qdb.Offer] = []  # who answered
        marking: list[gevent.Greenlet] = []

        def on_bridge(_event: Event) -> None:  # the first agent answered our bridge
            # (an added agent's answer never shows here: FreeSWITCH's intercept makes the
            # added leg its bridge's A leg, whose events this call's socket does not get;
            # conversation_with_added sees it)
            if won:
                return
            won.append(offer)
            added.cancel()
            marking.append(gevent.spawn(self.ctx.write, ops.QueueAnswered.of(offer), log))

        self.call.on("CHANNEL_BRIDGE", on_bridge)
        log.info("offering the call to an agent")
        # while the agent's phones ring the entry stays "offered": keep saying this node is
        # alive, or another node would close it as lost and free the agent mid-ring
        beating = gevent.event.Event()
        gevent.spawn(self.heartbeat, offer.entry_id, beating)
        added.start()
        released = False
        try:
            outcome = self.call.bridge(dial)
            added.no_more()
            # PICKED_OFF: the added agent answered, their intercept cut this bridge
            rang_out = not outcome.answered and outcome.cause != "PICKED_OFF"
            if not outcome.answered and added.offer is not None and \
                    (not won or won[0] is added.offer):
                if rang_out:  # the first agent's ring is over, the added one's may not be
                    log.info("agent did not answer; the added agent's may", cause=outcome.cause,
                             pause_s=spec.no_answer_pause_seconds)
                    self.release(offer, spec.no_answer_pause_seconds)
                    released = True
                    if added.ringing:
                        self.start_music()
                self.conversation_with_added(added, won, log)
        except CallEnded:
            added.cancel()
            gevent.joinall(marking)
            if won:  # the caller hung up during the conversation: it was answered
                self.finish(won[0], log)
                raise
            self.release(offer, 0)  # the caller gave up while the agent's phones rang
            raise
        except Exception:  # a failing handler: the agent is free again, unpaused
            added.cancel()
            if not won:
                self.release(offer, 0)
            raise
        finally:
            added.cancel()  # (only stops phones still ringing)
            added.join(timeout=5.0)
            beating.set()  # never kill it: a greenlet killed inside a query spoils the
            # pooled connection it holds
            self.call.off("CHANNEL_BRIDGE", on_bridge)  # a later offer has its own
            flow.legs.release(offer.extension)  # rung out, or the conversation is over
        gevent.joinall(marking)
        if outcome.answered and not won:
            won.append(offer)
            self.ctx.write(ops.QueueAnswered.of(offer), log)
        if won:
            self.finish(won[0], log)
            flow.employee = added.employee() if won[0] is added.offer else employee
            flow.employee_answered = True
            flow.outcome = f"{spec.name} answered by {won[0].extension}"
            return True
        if not released:
            pause = spec.no_answer_pause_seconds if rang_out else 0
            log.info("agent did not answer", cause=outcome.cause, pause_s=pause)
            self.release(offer, pause)
        return False

    def conversation_with_added(self, added: AddedAgent, won: list[qdb.Offer],
                                log: Any) -> None:
        """The added agent's phones may still ring (the caller hears the music again). Once
        one answers, FreeSWITCH's intercept takes the caller out of the bridge (which returns
        PICKED_OFF) and bridges them to that leg. The bridge's events go to the added leg (the
        A leg of that bridge), not to this call's socket: so the answer is the added leg's
        (+OK from originate), and the conversation lasts while that leg exists."""
        deadline = time.monotonic() + self.spec.agent_ring_seconds + 35.0
        while not added.answered.wait(1.0) and time.monotonic() < deadline:
            if self.call.ended:  # the caller gave up: the added agent's phones stop
                raise CallEnded(self.call.uuid, self.call.hangup_cause)
        leg = added.answered.value
        if leg is None or added.offer is None:
            self.stop_hold()  # the wait goes on, with its own music
            return
        if not won:
            won.append(added.offer)
            self.ctx.write(ops.QueueAnswered.of(added.offer), log)
        self.music = None  # the intercept ended it
        control = self.ctx.control
        assert control is not None  # (an added agent was rung through it)
        while not self.call.ended:
            gevent.sleep(2.0)
            try:
                if not control.exists(leg):
                    return  # the added agent hung up: the conversation is over
            except EslError:
                continue  # the control connection is away: ask again

    def heartbeat(self, entry_id: int, stop: gevent.event.Event) -> None:
        while not stop.wait(qdb.STALE_SECONDS / 3):
            self.ctx.db("queue heartbeat", lambda c: qdb.touch(c, entry_id), None, self.log)

    def finish(self, offer: qdb.Offer, log: Any) -> None:
        wrap = self.spec.wrap_up_seconds
        self.ctx.write(ops.QueueFinished.of(offer, wrap_up_s=wrap), log)
        log.info("queue call over", wrap_up_s=wrap)

    def release(self, offer: qdb.Offer, pause_s: int) -> None:
        """The offer is off: the caller waits again, the agent is skipped for ``pause_s`` (an
        agent who let it ring out: no_answer_pause_seconds; one whose rules refused this
        caller: a few seconds, so the same caller is not offered to them on every poll)."""
        self.ctx.write(ops.QueueReleased.of(offer, pause_s=pause_s), self.log)

    def leave(self, status: str, reason: str) -> None:
        if self.entry is None:
            return
        entry_id = self.entry.entry_id
        self.ctx.write(ops.QueueLeft(entry_id=entry_id, status=status, reason=reason), self.log)
        self.log.info("left the queue", status=status, reason=reason)

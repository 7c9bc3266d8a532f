"""A simulated channel: states, variables, media timing, DTMF, and the events FreeSWITCH 1.10
emits for it, with the same header names, order and encoding as the captures show."""

from __future__ import annotations

import collections
import copy
import time
import uuid as uuid_mod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.queue

from ivr_app.testing.fakeswitch import fsstrings, meta
from ivr_app.testing.fakeswitch.meta import Meta

if TYPE_CHECKING:
    from ivr_app.testing.fakeswitch.switch import FakeSwitch

STATE_NUMBERS = {
    "CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
    "CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12,
}
Q850 = {"NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_USER_RESPONSE": 18, "NO_ANSWER": 19,
        "CALL_REJECTED": 21, "NO_ROUTE_DESTINATION": 3, "ORIGINATOR_CANCEL": 487,
        "LOSE_RACE": 502, "ALLOTTED_TIMEOUT": 602, "NORMAL_TEMPORARY_FAILURE": 41,
        "UNALLOCATED_NUMBER": 1, "SUBSCRIBER_ABSENT": 20, "MANAGER_REQUEST": 503,
        "NORMAL_CIRCUIT_CONGESTION": 34, "RECOVERY_ON_TIMER_EXPIRE": 102}

# Event-Calling-File / -Function / -Line-Number as FreeSWITCH 1.10.12 reports them
CALLING = {
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 628),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2095),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 313),
    "PRESENCE_IN": ("switch_channel.c", "switch_channel_perform_presence", 860),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3846),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered",
                               3647),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2944),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2967),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3416),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c",
                                "switch_core_session_reporting_state", 943),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1729),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1218),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1772),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1897),
    "CHANNEL_ORIGINATE": ("switch_core_session.c", "switch_core_session_outgoing_channel", 738),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 746),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1199),
    "RECORD_STOP": ("switch_ivr_async.c", "record_callback", 1325),
}

HANGUP_MESSAGE = "\x00hangup"  # a sendmsg hangup queued behind an event-locked application
BASIC_EVENTS = {"CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_OUTGOING", "CODEC"}


def uepoch() -> int:
    return int(time.time() * 1_000_000)


class Hangup(Exception):
    """The channel is gone: stop what you are doing."""


class Channel:
    def __init__(self, switch: FakeSwitch, *, name: str, direction: str = "inbound",
                 caller_id_name: str = "", caller_id_number: str = "0000000000",
                 destination: str = "", context: str = "public", source: str = "mod_sofia",
                 codec: tuple[str, int, int] = ("PCMU", 8000, 64000),
                 variables: dict[str, str] | None = None, uuid: str | None = None):
        self.switch = switch
        self.uuid = uuid or str(uuid_mod.uuid4())
        self.name = name
        self.direction = direction
        self.state = "CS_NEW"
        self.call_state = "DOWN"
        self.answer_state = "ringing"
        self.hangup_cause: str | None = None
        self.codec = codec
        self.source = source
        self.profile = {
            "caller_id_name": caller_id_name, "caller_id_number": caller_id_number,
            "destination": destination, "context": context,
        }
        now = uepoch()
        self.times = {"created": now, "answered": 0, "progress": 0, "progress_media": 0,
                      "hangup": 0, "transfer": 0, "resurrect": 0, "bridged": 0,
                      "last_hold": 0, "hold_accum": 0}
        self.vars: dict[str, str] = {"direction": direction, "uuid": self.uuid,
                                     "session_id": str(switch.next_session_id()),
                                     "channel_name": name}
        self.vars.update(variables or {})
        self.vars["call_uuid"] = self.uuid
        self.dtmf: collections.deque[str] = collections.deque()
        self.dtmf_arrived = gevent.event.Event()
        self.heard_dtmf = ""  # keys its bridge peer sent to this channel's phone
        self.meta: Meta | None = None  # bind_meta_app (meta.py)
        self.interrupt = gevent.event.Event()  # uuid_break
        self.intercepted = gevent.event.Event()  # another channel ran intercept on this one
        self.hungup = gevent.event.Event()
        self.destroyed = gevent.event.Event()
        self.exec_queue: gevent.queue.Queue[tuple[str, str, str | None]] = gevent.queue.Queue()
        self.exec_ready = gevent.event.Event()
        self.event_locked: set[str] = set()  # Event-UUIDs sent with event-lock: true
        self.running_locked = False
        self.transfer_pending = False  # a transfer leaves the running app and hunts again
        self.parked = False
        self.other: Channel | None = None  # the bridged peer
        self.partner: Channel | None = None  # the other half of a loopback pair
        # the leg shown as Other-Leg-* (originator / originatee); outlives the bridge
        self.other_leg: tuple[Channel, str] | None = None
        self.answered = gevent.event.Event()
        self.bridge_done = gevent.event.Event()
        self.recordings: dict[str, Any] = {}
        self.displacing: dict[str, Any] = {}  # uuid_displace media bugs by file (displace.py)
        self.digits_dialed = ""
        self.runner: gevent.Greenlet | None = None
        self.on_hangup: list[Callable[[Channel], None]] = []
        self.on_teardown: list[Callable[[Channel], None]] = []
        self.last_app: tuple[str, str] | None = None
        self._creating = False
        # a SIP call has no codecs until media is negotiated (early media or answer)
        self.media_ready = not (source == "mod_sofia" and direction == "inbound")

    # -- event building ------------------------------------------------------------------------

    def data_headers(self, with_vars: bool = True) -> list[tuple[str, str]]:
        number = STATE_NUMBERS[self.state]
        if self._creating:
            number = 2  # CHANNEL_CREATE says CS_INIT with state number 2 (captures)
        h = [("Channel-State", self.state), ("Channel-Call-State", self.call_state),
             ("Channel-State-Number", str(number)),
             ("Channel-Name", self.name), ("Unique-ID", self.uuid),
             ("Call-Direction", self.direction), ("Presence-Call-Direction", self.direction),
             ("Channel-HIT-Dialplan", "true" if self.direction == "inbound" else "false")]
        if self.vars.get("presence_id"):
            h.append(("Channel-Presence-ID", self.vars["presence_id"]))
        h += [("Channel-Call-UUID", self.uuid), ("Answer-State", self.answer_state)]
        if self.hangup_cause:
            h.append(("Hangup-Cause", self.hangup_cause))
        name, rate, bits = self.codec
        if self.media_ready:
            h += [("Channel-Read-Codec-Name", name), ("Channel-Read-Codec-Rate", str(rate)),
                  ("Channel-Read-Codec-Bit-Rate", str(bits)), ("Channel-Write-Codec-Name", name),
                  ("Channel-Write-Codec-Rate", str(rate)),
                  ("Channel-Write-Codec-Bit-Rate", str(bits))]
        h += self.profile_headers("Caller")
        if self.other_leg is not None:
            leg, kind = self.other_leg
            h.append(("Other-Type", kind))
            h += leg.profile_headers("Other-Leg")
        if with_vars:
            h += [(f"variable_{k}", v) for k, v in self.vars.items()]
        return h

    def profile_headers(self, prefix: str) -> list[tuple[str, str]]:
        p, t = self.profile, self.times
        other = prefix == "Other-Leg"
        h = [(f"{prefix}-Direction", self.direction),
             (f"{prefix}-Logical-Direction", "inbound" if other else self.direction)]
        if self.source == "mod_sofia" and self.direction == "inbound":
            h.append((f"{prefix}-Username", p["caller_id_number"]))
        h.append((f"{prefix}-Dialplan", "xml" if self.source == "mod_loopback" else "XML"))
        if p["caller_id_name"]:
            h.append((f"{prefix}-Caller-ID-Name", p["caller_id_name"]))
        h.append((f"{prefix}-Caller-ID-Number", p["caller_id_number"]))
        orig_name = p.get("orig_caller_id_name", p["caller_id_name"])
        if orig_name:
            h.append((f"{prefix}-Orig-Caller-ID-Name", orig_name))
        h += [(f"{prefix}-Orig-Caller-ID-Number",
               p.get("orig_caller_id_number", p["caller_id_number"]))]
        if p.get("callee_id_name"):
            h.append((f"{prefix}-Callee-ID-Name", p["callee_id_name"]))
        if p.get("callee_id_number"):
            h.append((f"{prefix}-Callee-ID-Number", p["callee_id_number"]))
        if self.source == "mod_sofia":
            h.append((f"{prefix}-Network-Addr", "127.0.0.1"))
        h += [(f"{prefix}-ANI", p.get("ani", p["caller_id_number"])),
              (f"{prefix}-Destination-Number", p["destination"]),
              (f"{prefix}-Unique-ID", self.uuid), (f"{prefix}-Source", self.source),
              (f"{prefix}-Context", p["context"]), (f"{prefix}-Channel-Name", self.name)]
        if not other:
            h.append((f"{prefix}-Profile-Index", "1"))
        h += [(f"{prefix}-Profile-Created-Time", str(t["created"])),
              (f"{prefix}-Channel-Created-Time", str(t["created"])),
              (f"{prefix}-Channel-Answered-Time", str(t["answered"])),
              (f"{prefix}-Channel-Progress-Time", str(t["progress"])),
              (f"{prefix}-Channel-Progress-Media-Time", str(t["progress_media"])),
              (f"{prefix}-Channel-Hangup-Time", str(t["hangup"])),
              (f"{prefix}-Channel-Transfer-Time", str(t["transfer"])),
              (f"{prefix}-Channel-Resurrect-Time", str(t["resurrect"])),
              (f"{prefix}-Channel-Bridged-Time", str(t["bridged"])),
              (f"{prefix}-Channel-Last-Hold", str(t["last_hold"])),
              (f"{prefix}-Channel-Hold-Accum", str(t["hold_accum"])),
              (f"{prefix}-Screen-Bit", "true"), (f"{prefix}-Privacy-Hide-Name", "false"),
              (f"{prefix}-Privacy-Hide-Number", "false")]
        return h

    def snapshot(self) -> Channel:
        """A frozen copy for Other-Leg-* headers (FreeSWITCH copies the caller profile)."""
        snap = copy.copy(self)
        snap.profile = dict(self.profile)
        snap.times = dict(self.times)
        return snap

    def fire(self, name: str, pre: list[tuple[str, str]] | None = None,
             post: list[tuple[str, str]] | None = None, body: str | None = None) -> None:
        self._creating = name == "CHANNEL_CREATE"
        headers = (pre or []) + self.data_headers(with_vars=name not in BASIC_EVENTS) + \
            (post or [])
        self._creating = False
        file, func, line = CALLING.get(name, ("switch_channel.c", "switch_channel_event", 1))
        self.switch.fire(name, headers, body=body, calling=(file, func, line))

    def set_state(self, state: str) -> None:
        self.state = state
        self.fire("CHANNEL_STATE")

    def presence(self, status: str) -> None:
        """switch_channel_perform_presence: a channel with a presence_id publishes its own
        state (CS_ROUTING, answered, CS_HANGUP), as the inbound-bridge-registered-user
        capture shows for a registered phone's leg; mod_sofia turns these into the lamp's
        Call / Talk / Available. Without a presence_id: nothing."""
        presence_id = self.vars.get("presence_id")
        if not presence_id:
            return
        info = {"CS_ROUTING": "progressing" if self.direction == "outbound" else "alerting",
                "answered": "active"}.get(status, "idle")
        self.fire("PRESENCE_IN", post=[
            ("proto", "any"), ("login", "src/switch_channel.c"), ("from", presence_id),
            ("rpid", "unknown"), ("status", status), ("event_type", "presence"),
            ("alt_event_type", "dialog"), ("presence-call-info-state", info),
            ("presence-call-direction", self.direction)])

    def set_call_state(self, state: str) -> None:
        old = self.call_state
        self.call_state = state
        self.fire("CHANNEL_CALLSTATE", pre=[("Original-Channel-Call-State", old),
                                             ("Channel-Call-State-Number", "0")])

    # -- media and timing ----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return not self.hungup.is_set()

    def check(self) -> None:
        if self.hungup.is_set():
            raise Hangup()

    def wait(self, seconds: float, *, dtmf: bool = False) -> str:
        """Let ``seconds`` of call time pass. Returns why it ended: "done", "dtmf", "break";
        raises Hangup if the channel goes down meanwhile."""
        self.check()
        if dtmf and self.dtmf:
            return "dtmf"
        events = [self.hungup, self.interrupt] + ([self.dtmf_arrived] if dtmf else [])
        if dtmf:
            self.dtmf_arrived.clear()
        timeout = None if seconds == float("inf") else max(0.0, seconds * self.switch.time_factor)
        fired = gevent.wait(events, timeout=timeout, count=1)
        self.check()
        if self.interrupt in fired and self.interrupt.is_set():
            if not self.transfer_pending:
                self.interrupt.clear()
            return "break"
        if dtmf and self.dtmf:
            return "dtmf"
        return "done"

    def queue_dtmf(self, digits: str, source: str = "INBAND_AUDIO") -> None:
        """Digits arrive on this channel (the caller pressed keys). Bridged, the bridge
        dequeues each one (its DTMF event) and sends it to the peer, whose send hooks
        (bind_meta_app ... b) may consume it before its phone hears it."""
        for d in digits:
            if not self.ready:
                return
            if not meta.passes(self, d, "recv"):
                continue  # consumed by a recv hook: never queued, no DTMF event
            self.dtmf.append(d)
            self.digits_dialed += d
            self.fire("DTMF", post=[("DTMF-Digit", d), ("DTMF-Duration", "2000"),
                                    ("DTMF-Source", source)])
            peer = self.other
            if peer is not None and peer.ready:
                self.dtmf.pop()
                if meta.passes(peer, d, "send", sender=self):
                    peer.heard_dtmf += d
        self.dtmf_arrived.set()

    # -- lifecycle -----------------------------------------------------------------------------

    def answer(self) -> None:
        if self.answer_state == "answered" or not self.ready:
            return
        if self.partner is not None and self.direction == "inbound":
            self.partner.answer()  # loopback: B answering answers A, whose event comes first
        if self.source == "mod_sofia" and self.direction == "inbound" and \
                self.answer_state == "ringing":
            self.pre_answer()  # sofia answers an inbound call with early media first (capture)
        self.times["answered"] = uepoch()
        self.media_ready = True
        self.answer_state = "answered"
        if self.source != "mod_loopback":
            self.call_state = "ACTIVE"
        self.vars.setdefault("endpoint_disposition", "ANSWER")
        self.answered.set()
        self.fire("CHANNEL_ANSWER")
        self.presence("answered")

    def pre_answer(self) -> None:
        if self.answer_state in ("answered", "early"):
            return
        self.times["progress_media"] = uepoch()
        self.media_ready = True
        self.answer_state = "early"
        self.call_state = "EARLY"
        self.fire("CHANNEL_PROGRESS_MEDIA")

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Tear the channel down: CHANNEL_HANGUP now, the rest when its application unwinds."""
        if self.hungup.is_set():
            return
        self.hangup_cause = cause
        self.answer_state = "hangup"
        self.call_state = "HANGUP"
        self.times["hangup"] = uepoch()
        self.vars["hangup_cause"] = cause
        self.vars["hangup_cause_q850"] = str(Q850.get(cause, 16))
        self.hungup.set()
        self.fire("CHANNEL_HANGUP")
        for fn in list(self.on_hangup):
            fn(self)
        if self.partner is not None and self.partner.ready:
            self.partner.hangup(cause)
        if self.runner is None or self.runner.dead:
            gevent.spawn(self.finish)

    def finish(self) -> None:
        """CS_HANGUP, CS_REPORTING, HANGUP_COMPLETE (with CDR variables), destroy."""
        if self.destroyed.is_set():
            return
        self.destroyed.set()
        self.state = "CS_HANGUP"
        self.fire("CHANNEL_STATE")
        self.presence("CS_HANGUP")
        for fn in list(self.on_teardown):  # media bugs close here (RECORD_STOP in CS_HANGUP)
            fn(self)
        self.state = "CS_REPORTING"
        self.fire("CHANNEL_STATE")
        self._cdr_vars()
        self.fire("CHANNEL_HANGUP_COMPLETE", pre=[("Hangup-Cause", self.hangup_cause or "")])
        self.switch.session_ended(self)
        self.state = "CS_DESTROY"
        self.fire("CHANNEL_STATE")
        self.fire("CHANNEL_DESTROY")
        self.switch.remove_channel(self)

    def _cdr_vars(self) -> None:
        t = self.times
        end = t["hangup"] or uepoch()

        def stamp(u: int) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(u / 1e6)) if u else ""

        v = self.vars
        if self.digits_dialed:
            v["digits_dialed"] = self.digits_dialed
        v["start_stamp"] = stamp(t["created"])
        if t["answered"]:
            v["answer_stamp"] = stamp(t["answered"])
        v["end_stamp"] = stamp(end)
        v["start_epoch"] = str(t["created"] // 1_000_000)
        v["start_uepoch"] = str(t["created"])
        v["answer_epoch"] = str(t["answered"] // 1_000_000)
        v["answer_uepoch"] = str(t["answered"])
        v["bridge_epoch"] = str(t["bridged"] // 1_000_000)
        v["bridge_uepoch"] = str(t["bridged"])
        v["end_epoch"] = str(end // 1_000_000)
        v["end_uepoch"] = str(end)
        if self.last_app:
            v["last_app"], v["last_arg"] = self.last_app
        v["caller_id"] = (f'"{self.profile["caller_id_name"]}" '
                          f'<{self.profile["caller_id_number"]}>'
                          if self.profile["caller_id_name"] else self.profile["caller_id_number"])
        dur = end - t["created"]
        bill = end - t["answered"] if t["answered"] else 0
        v["duration"] = str(dur // 1_000_000)
        v["billsec"] = str(bill // 1_000_000)
        v["mduration"] = str(dur // 1000)
        v["billmsec"] = str(bill // 1000)
        v["uduration"] = str(dur)
        v["billusec"] = str(bill)

    # -- applications --------------------------------------------------------------------------

    def enqueue(self, app: str, data: str, app_uuid: str | None = None, *,
                event_lock: bool = False) -> None:
        """An application sent with sendmsg / uuid_broadcast: run by whoever serves the queue
        (the socket application, or park). ``event_lock``: sendmsg's ``event-lock: true``, so
        the messages sent after it wait until it completes (CF_EVENT_LOCK)."""
        if event_lock and app_uuid:
            self.event_locked.add(app_uuid)
        self.exec_queue.put((app, data, app_uuid))
        self.exec_ready.set()

    def hangup_message(self, cause: str) -> None:
        """sendmsg ``call-command: hangup``: at once, unless an event-locked application is
        running or queued, in which case it waits behind it (captured:
        outbound-hangup-behind-locked-playback: 5 s behind endless moh, until uuid_kill)."""
        if self.running_locked or self.event_locked:
            self.exec_queue.put((HANGUP_MESSAGE, cause, None))
            self.exec_ready.set()
            return
        self.hangup(cause)

    def serve_queue(self, until: gevent.event.Event | None = None) -> None:
        """Run queued applications in order until the channel hangs up or ``until`` is set."""
        while self.ready and not self.transfer_pending and \
                not (until is not None and until.is_set()):
            if self.exec_queue.empty():
                self.exec_ready.clear()
                waits = [self.exec_ready, self.hungup] + ([until] if until is not None else [])
                gevent.wait(waits, count=1)
                if self.exec_ready.is_set() and self.switch.park_tick > 0:
                    self.hungup.wait(self.switch.park_tick)  # the next frame tick
                continue
            app, data, app_uuid = self.exec_queue.get_nowait()
            if app == HANGUP_MESSAGE:
                self.hangup(data)
                continue
            locked = app_uuid is not None and app_uuid in self.event_locked
            self.running_locked = locked
            try:
                self.execute(app, data, app_uuid)
            finally:
                self.running_locked = False
                self.event_locked.discard(app_uuid or "")

    def expand(self, data: str) -> str:
        if self.vars.get("app_disable_expand_variables") == "true":
            return data
        return fsstrings.expand(data, self.vars, self.switch.globals, self.switch.api_expand)

    def execute(self, app: str, data: str = "", app_uuid: str | None = None) -> str:
        """Run one application as switch_core_session_exec does, with its two events."""
        from ivr_app.testing.fakeswitch.apps import APPS

        self.check()
        app_uuid = app_uuid or str(uuid_mod.uuid4())
        expanded = self.expand(data) if data else ""
        self.vars["current_application_data"] = expanded
        if not expanded:
            self.vars.pop("current_application_data")
        self.vars["current_application"] = app
        post = [("Application", app)]
        if expanded:
            post.append(("Application-Data", expanded))
        self.fire("CHANNEL_EXECUTE", post=[*post, ("Application-UUID", app_uuid)])
        # switch_core_session_exec clears CF_BREAK right after CHANNEL_EXECUTE: a uuid_break
        # that came before the application started is lost (outbound-break-before-start)
        if not self.transfer_pending:
            self.interrupt.clear()
        self.last_app = (app, expanded)
        fn = APPS.get(app)
        response = "_none_"
        try:
            if fn is None:
                self.switch.log.warning("fakeswitch: no such application", app=app)
            else:
                response = fn(self, expanded) or "_none_"
        except Hangup:
            response = self.vars.get("current_application_response", "_none_")
            if app == "playback":
                response = "PLAYBACK ERROR"
        if response != "_none_":
            self.vars["current_application_response"] = response
        self.fire("CHANNEL_EXECUTE_COMPLETE",
                  post=[*post, ("Application-Response", response),
                        ("Application-UUID", app_uuid)])
        return response

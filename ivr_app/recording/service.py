"""Starting recordings and attaching them when they stop.

Start (from a call flow): the consent prompt plays to its end first, the call's metadata is set
as channel variables (a ``{var=value}`` prefix on the path sets nothing in FreeSWITCH 1.10, as
the inbound-record capture shows), then ``record_session`` to a path named by the call UUID and
date.

Attach (from the control connection, RECORD_STOP of any call): the file's size, sha256 and
length, the call, the customer (the channel's ``ivr_app_customer_id`` when it stopped, or the
calls row's), the employee; a recording FreeSWITCH discarded as too short is attached as
``discarded``, one ivr-app may not read as ``unreadable`` (logged: the group setup of
freeswitch/README.md is wrong). The control connection's dispatcher only queues the event: a
writer greenlet inspects the files in gevent's thread pool (an hour's sha256 never stalls the
events behind it) and attaches in batches through the outbox (ivr_app/outbox): when
PostgreSQL is away the batch waits in its fsync'd journal with the call's other writes and is
replayed after them, in order, exactly once. ``stop`` lets the writer finish and journals
whatever it could not write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent
import gevent.queue

from ivr_app import outbox as outbox_mod
from ivr_app import supervise
from ivr_app.config import Config
from ivr_app.db.recordings import RecordingMeta
from ivr_app.esl.call import Call
from ivr_app.esl.events import Event
from ivr_app.outbox import ops
from ivr_app.outbox.journal import Entry
from ivr_app.outbox.outbox import JOURNALED, WRITTEN, Outbox
from ivr_app.recording import files
from ivr_app.recording.policy import Policy


class RecordingService:
    def __init__(self, config: Config, pool: Any, log: Any, outbox: Outbox | None = None):
        self.cfg = config.recording
        self.directory = config.path(self.cfg.directory)
        self.policy = Policy.from_config(self.cfg)
        self.pool = pool
        self.log = log.bind(component="recording")
        self._own_prober: Any = None
        if outbox is None:  # on its own (tests, benchmarks): an outbox of its own
            outbox, self._own_prober = outbox_mod.start(config, pool, log)
        self.outbox = outbox
        self._queue: gevent.queue.Queue[Event | None] = gevent.queue.Queue()
        self._unwritten = 0  # stopped recordings queued or in a batch not yet submitted
        self._inflight: list[Event] = []  # the writer's current batch
        self._writer: gevent.Greenlet | None = None
        self.attached = 0  # in PostgreSQL at once
        self.spooled = 0  # journaled by the outbox (replayed when PostgreSQL is back)
        self.control: Any = None
        self.active: dict[str, str] = {}  # call uuid -> path being recorded
        self.masked: set[str] = set()
        self._keys: dict[str, str] = {}  # leg uuid -> the last keys pressed
        self.presses: dict[str, list[dict[str, str]]] = {}  # call uuid -> who pressed what
        self.start_key, self.mask_key = "*2", "*3"

    # -- lifecycle -----------------------------------------------------------------------------

    def reconfigure(self, config: Config) -> None:
        """A reload: the policy, consent, stereo and minimum length apply to the next
        recording (the directory needs a restart: RECORD_STOPs of files already being
        written there must still be ours)."""
        self.cfg = dataclasses.replace(config.recording, directory=self.cfg.directory)
        self.policy = Policy.from_config(self.cfg)

    def start(self, control: Any) -> RecordingService:
        self.control = control
        if control is not None:
            control.on("RECORD_START", self.on_record_start)
            control.on("RECORD_STOP", self.on_record_stop)
            control.on("DTMF", self.on_dtmf)
        self._writer = supervise.forever(self._write_loop, log=self.log,
                                         what="recording writer")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Drain: the writer attaches (or journals) everything queued, then ends. If it cannot
        within ``timeout`` (PostgreSQL hanging), what it holds is journaled, never dropped."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=timeout)
            if not self._writer.dead:
                self._writer.kill(timeout=2)
                self._journal_left()
        if self._own_prober is not None:
            self._own_prober.stop()

    def _journal_left(self) -> None:
        """The writer was stopped mid-batch: its batch and the queue go to the journal (the
        replay is idempotent, so a batch that did commit just before does no harm)."""
        left = list(self._inflight)
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                left.append(event)
        self._journal([self.meta_from(e) for e in left], "stopping: recordings journaled")

    def _journal(self, metas: list[RecordingMeta], why: str) -> None:
        """Straight into the outbox's journal (replayed, exactly once, when it next drains)."""
        if not metas:
            return
        entry = Entry.of(ops.RecordingsAttached(metas=[m.as_dict() for m in metas]))
        try:
            self.outbox.journal.append(entry)
        except OSError as exc:
            self.log.error("recordings lost: the journal cannot be written",
                           count=len(metas), error=str(exc))
            return
        self.spooled += len(metas)
        self.log.warning(why, count=len(metas))

    def flush(self, timeout: float) -> None:
        """Wait until every stopped recording so far is attached or journaled."""
        with gevent.Timeout(timeout, False):
            while self._unwritten:
                gevent.sleep(0.01)

    # -- starting ------------------------------------------------------------------------------

    def record(self, call: Call, reason: str, consent: str | None = None) -> str | None:
        """Record the rest of this call (once); returns the path, None if already recording."""
        if call.variable("ivr_app_recording") or getattr(call, "_ivr_app_recording", None):
            return None
        path = files.path_for(self.directory, call.uuid, dt.datetime.now(dt.UTC))
        if consent:
            call.playback(consent)  # to its end: recording never starts under the announcement
        call.set("RECORD_STEREO", "true" if self.cfg.stereo else "false")
        call.set("RECORD_MIN_SEC", str(self.cfg.min_seconds))
        call.set("ivr_app_record_reason", reason)
        call.record_session(str(path))
        call._ivr_app_recording = str(path)  # type: ignore[attr-defined]
        call.log.info("recording", reason=reason, path=str(path))
        return str(path)

    # -- on demand: an employee's keys during the conversation ---------------------------------

    def bind_keys(self, call: Call) -> None:
        """Make FreeSWITCH consume the employee's control keys instead of sending them on to
        the caller: ``bind_meta_app 2 b si ...`` on the caller's channel, before it is bridged
        to an employee. ``b`` hooks the keys its bridge peer sends *to* it (the peer's bridge
        thread has dequeued them already, so the DTMF event on_dtmf reads still fires); the
        ``*`` and the key after it never reach the caller's phone (switch_ivr_async.c
        meta_on_dtmf). The bound application only notes the key on the employee's leg."""
        from ivr_app.esl.quoting import app_args

        if getattr(call, "_ivr_app_keys_bound", False):
            return
        for keys in (self.start_key, self.mask_key):
            call.execute("bind_meta_app", app_args(keys[1:], "b", "si",
                                                   f"set::ivr_app_control_key={keys}"))
        call._ivr_app_keys_bound = True  # type: ignore[attr-defined]

    def ours(self, event: Event) -> bool:
        """A recording this service started: its file is under the recordings directory.
        FreeSWITCH fires RECORD_START / RECORD_STOP for every switch_ivr_record_file too,
        mod_voicemail's messages (msg_<uuid>.wav under its storage) included: those are
        voicemails, attached by the voicemail service, not recordings."""
        path = event.get("Record-File-Path") or ""
        return files.under(Path(path), self.directory)

    def on_record_start(self, event: Event) -> None:
        if not self.ours(event):
            return
        if event.unique_id:
            self.active[event.unique_id] = event.get("Record-File-Path") or ""

    def on_dtmf(self, event: Event) -> None:
        """*2 starts or stops recording the call, *3 pauses (masks) or resumes it. Only the
        employee's leg counts: the leg ivr-app originated (Other-Type: originator), so a
        caller cannot switch recording off."""
        if event.get("Other-Type") != "originator":
            return
        leg, call = event.unique_id or "", event.get("Other-Leg-Unique-ID") or ""
        keys = (self._keys.get(leg, "") + (event.get("DTMF-Digit") or ""))[-2:]
        self._keys[leg] = keys
        employee = (event.get("Caller-Destination-Number") or "").split("@")[0]
        if keys == self.start_key:
            self._keys[leg] = ""
            supervise.spawn(self._toggle, call, employee, log=self.log, what="*2 recording")
        elif keys == self.mask_key and call in self.active:
            self._keys[leg] = ""
            supervise.spawn(self._mask, call, employee, log=self.log, what="*3 mask")

    def _note_press(self, call: str, key: str, action: str, employee: str) -> None:
        """Who pressed what goes onto the channel before the command it causes, so the
        RECORD_STOP event carries it to the recordings row even across an ivr-app restart."""
        presses = self.presses.setdefault(call, [])
        presses.append({"key": key, "action": action, "by": employee,
                        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        self._api("uuid_setvar", call, "ivr_app_record_keys",
                  json.dumps(presses, separators=(",", ":")))

    def _api(self, *words: str) -> None:
        from ivr_app.esl.quoting import Target, quote

        try:
            self.control.api(" ".join(quote(w, Target.HEADER, "uuid_record argument")
                                      for w in words))
        except Exception as exc:  # noqa: BLE001 - a key press must never break anything
            self.log.warning("on-demand recording command failed", error=str(exc))

    def _toggle(self, call: str, employee: str) -> None:
        from ivr_app.esl.quoting import Target, quote

        call = quote(call, Target.UUID, "call uuid")
        if call in self.active:
            self._note_press(call, self.start_key, "stop", employee)
            self._api("uuid_record", call, "stop", self.active.pop(call))
            self.masked.discard(call)
            self.log.info("recording stopped on demand", call_uuid=call, employee=employee)
            return
        path = files.path_for(self.directory, call, dt.datetime.now(dt.UTC))
        n = 2
        while path.exists():
            path = files.path_for(self.directory, call, dt.datetime.now(dt.UTC), n)
            n += 1
        self.presses[call] = []
        self._note_press(call, self.start_key, "start", employee)
        self._api("uuid_setvar", call, "ivr_app_record_reason", f"on demand by {employee}")
        self._api("uuid_setvar", call, "ivr_app_employee", employee)
        self._api("uuid_setvar", call, "RECORD_STEREO", "true" if self.cfg.stereo else "false")
        self._api("uuid_setvar", call, "RECORD_MIN_SEC", str(self.cfg.min_seconds))
        self._api("uuid_record", call, "start", str(path))
        self.log.info("recording started on demand", call_uuid=call, employee=employee)

    def _mask(self, call: str, employee: str) -> None:
        action = "unmask" if call in self.masked else "mask"
        self.masked.symmetric_difference_update({call})
        self._note_press(call, self.mask_key, action, employee)
        self._api("uuid_record", call, action, self.active[call])
        self.log.info(f"recording {action}ed on demand", call_uuid=call)

    # -- attaching -----------------------------------------------------------------------------

    def on_record_stop(self, event: Event) -> None:
        if not self.ours(event):
            self.log.debug("not our recording", path=event.get("Record-File-Path"))
            return
        if event.unique_id:
            self.active.pop(event.unique_id, None)
            self.masked.discard(event.unique_id)
            self.presses.pop(event.unique_id, None)
        self._unwritten += 1
        self._queue.put(event)

    def meta_from(self, event: Event, inspect: Any = files.inspect) -> RecordingMeta:
        path = event.get("Record-File-Path") or ""
        cause = event.get("Record-Completion-Cause")
        discarded = event.variable("RECORD_DISCARDED") == "true"
        info = None if discarded else inspect(Path(path))
        status = "discarded" if discarded else (
            "missing" if info is None else "complete" if info.readable else "unreadable")
        if status == "unreadable":
            self.log.error("recording not readable by ivr-app: attached without its checksum; "
                           "check FreeSWITCH's umask and the shared group "
                           "(freeswitch/README.md)", path=path)
        stamp = event.get("Event-Date-Timestamp")
        stopped = dt.datetime.fromtimestamp(int(stamp) / 1e6, dt.UTC) if stamp and \
            stamp.isdigit() else dt.datetime.now(dt.UTC)
        started = stopped - dt.timedelta(milliseconds=info.duration_ms) \
            if info and info.duration_ms is not None else None
        customer = event.variable("ivr_app_customer_id")
        return RecordingMeta(
            call_uuid=event.unique_id or "", path=path, status=status,
            customer_id=int(customer) if customer and customer.isdigit() else None,
            employee_extension=event.variable("ivr_app_employee") or None,
            sha256=info.sha256 if info else None, bytes=info.bytes if info else None,
            duration_ms=info.duration_ms if info else None,
            started_at=started.isoformat() if started else None,
            stopped_at=stopped.isoformat(), completion_cause=cause,
            reason=event.variable("ivr_app_record_reason"),
            key_presses=self._presses_from(event))

    @staticmethod
    def _presses_from(event: Event) -> list[dict[str, str]]:
        raw = event.variable("ivr_app_record_keys")
        try:
            presses = json.loads(raw) if raw else []
        except ValueError:
            return []
        return presses if isinstance(presses, list) else []

    def attach(self, metas: Sequence[RecordingMeta]) -> None:
        """Into PostgreSQL now, or into the outbox's journal: never lost. Runs in the writer
        greenlet."""
        done = self.outbox.submit(ops.RecordingsAttached(metas=[m.as_dict() for m in metas]),
                                  self.log)
        if done.status == WRITTEN:
            self.attached += len(metas)
        elif done.status == JOURNALED:
            self.spooled += len(metas)
            self.log.warning("database unavailable: recordings journaled", count=len(metas))

    def _inspect(self, path: Path) -> files.FileInfo | None:
        return gevent.get_hub().threadpool.apply(files.inspect, (path,))

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            events = [self._queue.get()]
            while len(events) < 500 and not self._queue.empty():
                events.append(self._queue.get_nowait())
            stopping = None in events
            events = [e for e in events if e is not None]
            if not events:
                continue
            self._inflight = events
            metas: list[RecordingMeta] = []
            try:
                metas = [self.meta_from(event, self._inspect) for event in events]
                self.attach(metas)
            except Exception:  # the writer must outlive any one batch, and keep it
                self.log.exception("recordings not attached", count=len(events))
                self._journal(metas, "recordings journaled after an error")
            # not in a finally: killed mid-batch (stop), the batch stays for _journal_left
            self._inflight = []
            self._unwritten -= len(events)

"""The inbound control connection: one connection to FreeSWITCH's Event Socket (port 8021) for
events and api/bgapi, that keeps itself alive.

greenswitch's ``InboundESL`` connects once: when FreeSWITCH restarts, the object stays
disconnected forever and every ``send`` raises. Here a supervisor greenlet connects,
authenticates, subscribes, resyncs the live channels (``show channels as json``) and then
watches the connection; when it drops (or stops answering: no HEARTBEAT or api reply within
``liveness`` seconds) it reconnects with exponential backoff and does all of that again.
Subscribers learn about each (re)connection through ``on_connected``.

``bgapi`` jobs are correlated by a ``Job-UUID`` we choose and send with the command
(FreeSWITCH honours it), not by reply order.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
import uuid as uuid_mod
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import gevent.event
import gevent.queue

from ivr_app import supervise
from ivr_app.esl.connection import EslConnection
from ivr_app.esl.dialstring import DialString
from ivr_app.esl.errors import AuthFailed, CommandFailed, ConnectionLost, EslError
from ivr_app.esl.events import Event
from ivr_app.esl.quoting import Target, quote

EventHandler = Callable[[Event], None]


class ControlConnection:
    def __init__(self, host: str, port: int, password: str, log: Any, *,
                 events: Iterable[str] = ("HEARTBEAT", "BACKGROUND_JOB"),
                 event_format: str = "plain", connect_timeout: float = 5.0,
                 reconnect_min: float = 0.5, reconnect_max: float = 2.0,
                 liveness: float = 30.0, command_timeout: float = 10.0):
        self.host, self.port, self.password = host, port, password
        self.log = log.bind(component="esl-control")
        self.events = {"BACKGROUND_JOB", "HEARTBEAT", *events}
        self.event_format = event_format
        self.connect_timeout = connect_timeout
        self.reconnect_min, self.reconnect_max = reconnect_min, reconnect_max
        self.liveness = liveness
        self.command_timeout = command_timeout
        self.connected = gevent.event.Event()
        self.connections = 0  # how many times we have connected (1 = first connect)
        self.channels: dict[str, dict[str, str]] = {}  # live channels as of the last resync
        self.on_connected: list[Callable[[ControlConnection], None]] = []
        self._conn: EslConnection | None = None
        self._handlers: dict[str, list[EventHandler]] = {}
        self._jobs: dict[str, gevent.event.AsyncResult] = {}
        self._queue: gevent.queue.Queue[Event] = gevent.queue.Queue()
        self._last_seen = 0.0
        self._stopping = False
        self._supervisor: gevent.Greenlet | None = None
        self._dispatcher: gevent.Greenlet | None = None

    # -- public --------------------------------------------------------------------------------

    def start(self) -> ControlConnection:
        self._dispatcher = supervise.forever(self._dispatch_loop, log=self.log,
                                             what="control event dispatch")
        self._supervisor = supervise.forever(self._supervise, log=self.log,
                                             what="control connection")
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._conn is not None:
            with contextlib.suppress(EslError):
                self._conn.command("exit", timeout=2.0)
            self._conn.close("stopping")
        for g in (self._supervisor, self._dispatcher):
            if g is not None:
                g.kill(block=True, timeout=2)

    def on(self, event_name: str, handler: EventHandler) -> None:
        """Call ``handler(event)`` for every event named so ("*": all; CUSTOM: by subclass).
        Handlers run one at a time, in order, in the dispatcher greenlet."""
        self._handlers.setdefault(event_name, []).append(handler)

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def api(self, command: str, timeout: float | None = None) -> str:
        """Run an API command; returns its body. ``-ERR ...`` raises CommandFailed."""
        conn = self._require()
        reply = conn.command(f"api {quote(command, Target.HEADER, 'api command')}",
                             timeout=timeout or self.command_timeout)
        self._last_seen = time.monotonic()
        text = reply.body.decode("utf-8", "replace")
        if text.startswith("-ERR"):
            raise CommandFailed(command.split(" ")[0], text.strip())
        return text

    def bgapi(self, command: str, timeout: float = 60.0) -> str:
        """Run an API command in the background; returns the BACKGROUND_JOB body."""
        conn = self._require()
        job = str(uuid_mod.uuid4())
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self._jobs[job] = result
        try:
            reply = conn.command(f"bgapi {quote(command, Target.HEADER, 'bgapi command')}"
                                 f"\nJob-UUID: {job}", timeout=self.command_timeout)
            if not reply.reply_text.startswith("+OK"):
                raise CommandFailed(command.split(" ")[0], reply.reply_text)
            text = result.get(timeout=timeout)
        except gevent.Timeout:
            raise EslError(f"bgapi {command.split(' ')[0]}: no result within {timeout} s") \
                from None
        finally:
            self._jobs.pop(job, None)
        if text.startswith("-ERR"):
            raise CommandFailed(command.split(" ")[0], text.strip())
        return text

    def originate(self, dial: DialString, then_bridge: DialString, timeout: float) -> str:
        """``originate <dial> &bridge(<then_bridge>)`` as a background job: ring ``dial``, and
        when a leg answers, bridge it to ``then_bridge``. Returns the answered leg's UUID;
        nobody answering raises CommandFailed with FreeSWITCH's cause (``-ERR NO_ANSWER``)."""
        target = quote(then_bridge.render(), Target.APP_ARG, "bridge target")
        return self._originate(dial, f"&bridge({target})", timeout)

    def originate_intercept(self, dial: DialString, call_uuid: str, timeout: float) -> str:
        """``originate <dial> &intercept(<call_uuid>)``: ring ``dial``, and when a leg answers,
        take the call ``call_uuid`` over from whatever it is doing (a bridge still ringing
        other phones: they stop) and bridge it to that leg. Returns the answered leg's UUID;
        nobody answering raises CommandFailed (``-ERR NO_ANSWER``). With
        ``intercept_unbridged_only=true`` among the dial's variables, a call already talking
        to someone is left alone (the answered leg then hangs up)."""
        target = quote(call_uuid, Target.UUID, "call to intercept")
        return self._originate(dial, f"&intercept({target})", timeout)

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        """``uuid_kill <uuid> <cause>``; False when the channel is already gone (FreeSWITCH's
        ``-ERR No such channel!``), which is no error for whoever wanted it down."""
        target = quote(uuid, Target.UUID, "channel to kill")
        try:
            self.api(f"uuid_kill {target} {quote(cause, Target.VAR_NAME, 'hangup cause')}")
        except CommandFailed:
            return False
        return True

    def exists(self, uuid: str) -> bool:
        """``uuid_exists <uuid>``: is the channel still up?"""
        return self.api(f"uuid_exists {quote(uuid, Target.UUID, 'channel')}").strip() == "true"

    def _originate(self, dial: DialString, then: str, timeout: float) -> str:
        body = self.bgapi(f"originate {dial.render()} {then}", timeout=timeout)
        words = body.split()
        if len(words) < 2 or words[0] != "+OK":
            raise CommandFailed("originate", body.strip())
        return quote(words[1], Target.UUID, "originated leg")

    def sendevent(self, name: str, headers: Iterable[tuple[str, str]], body: str = "") -> str:
        """Fire an event into FreeSWITCH (PRESENCE_IN, CUSTOM ...); returns its Event-UUID."""
        conn = self._require()
        lines = [f"sendevent {quote(name, Target.VAR_NAME, 'event name')}"]
        lines += [f"{quote(k, Target.HEADER, 'header')}: {quote(v, Target.HEADER, k)}"
                  for k, v in headers]
        reply = conn.command("\n".join(lines), body=body.encode() if body else None,
                             timeout=self.command_timeout)
        if not reply.reply_text.startswith("+OK"):
            raise CommandFailed(f"sendevent {name}", reply.reply_text)
        return reply.reply_text[4:].strip()

    # -- internals -----------------------------------------------------------------------------

    def _require(self) -> EslConnection:
        conn = self._conn
        if conn is None or conn.closed.is_set() or not self.connected.is_set():
            raise ConnectionLost("control connection to FreeSWITCH is down")
        return conn

    def _supervise(self) -> None:
        delay = self.reconnect_min
        while not self._stopping:
            try:
                self._connect_once()
                delay = self.reconnect_min
                self._watch()
            except AuthFailed as exc:
                self.log.error("FreeSWITCH refused the ESL password", error=str(exc))
            except (OSError, EslError) as exc:
                if not self._stopping:
                    self.log.warning("control connection failed", error=str(exc),
                                     retry_in=round(delay, 2))
            except Exception:  # a bug (in a resync, an on_connected hook): never stop retrying
                self.log.exception("control connection failed unexpectedly",
                                   retry_in=round(delay, 2))
            finally:
                self.connected.clear()
                if self._conn is not None:
                    self._conn.close("reconnecting")
                    self._fail_jobs()
            if self._stopping:
                break
            gevent.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
            delay = min(self.reconnect_max, delay * 2)

    def _connect_once(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = EslConnection(sock, self.log, name="control")
        conn.on_event = self._on_event
        self._conn = conn
        conn.start()
        if not conn.auth_requested.wait(self.connect_timeout):
            raise ConnectionLost("no auth/request from FreeSWITCH")
        reply = conn.command(f"auth {quote(self.password, Target.HEADER, 'esl.password')}",
                             timeout=self.command_timeout)
        if reply.reply_text != "+OK accepted":
            raise AuthFailed(reply.reply_text or "no reply")
        reply = conn.command(f"event {self.event_format} {subscription(self.events)}",
                             timeout=self.command_timeout)
        if not reply.reply_text.startswith("+OK"):
            raise CommandFailed("event", reply.reply_text)
        self._last_seen = time.monotonic()
        self.connected.set()
        self.connections += 1
        self._resync()
        self.log.info("control connection up", host=self.host, port=self.port,
                      connections=self.connections, live_channels=len(self.channels))
        for cb in list(self.on_connected):
            try:
                cb(self)
            except Exception:
                self.log.exception("on_connected callback failed")

    def _resync(self) -> None:
        text = self.api("show channels as json")
        data = json.loads(text) if text.strip() else {}
        self.channels = {row["uuid"]: row for row in data.get("rows", [])}

    def _watch(self) -> None:
        """Until the connection drops or stops answering."""
        conn = self._conn
        assert conn is not None
        check_every = max(0.05, self.liveness / 3.0)
        while not conn.closed.wait(check_every):
            if time.monotonic() - self._last_seen > self.liveness:
                try:
                    self.api("status", timeout=min(self.command_timeout, self.liveness))
                except EslError as exc:
                    raise ConnectionLost(f"FreeSWITCH stopped answering: {exc}") from exc
        raise ConnectionLost(conn.close_reason or "closed")

    def _fail_jobs(self) -> None:
        jobs, self._jobs = self._jobs, {}
        for r in jobs.values():
            if not r.ready():
                r.set_exception(ConnectionLost("control connection lost during a bgapi job"))

    def _on_event(self, event: Event) -> None:
        self._last_seen = time.monotonic()
        if event.name == "BACKGROUND_JOB":
            job = self._jobs.get(event.get("Job-UUID") or "")
            if job is not None:
                job.set(event.body)
        self._queue.put(event)

    def _dispatch_loop(self) -> None:
        while True:
            event = self._queue.get()
            name = event.name
            key = event.subclass if name == "CUSTOM" and event.subclass else name
            for h in self._handlers.get(key, []) + self._handlers.get("*", []):
                try:
                    h(event)
                except Exception:
                    self.log.exception("event handler failed", event_name=key)


def subscription(events: Iterable[str]) -> str:
    """The word list of an ``event`` command: plain event names first, then ``CUSTOM`` and its
    subclasses. mod_event_socket treats every word after CUSTOM as a subclass name, so a
    plain name sorted after it (DTMF, RECORD_STOP) would silently never arrive."""
    names = set(events)
    subclasses = sorted(n for n in names if "::" in n)
    plain = sorted(n for n in names if "::" not in n and n != "CUSTOM")
    if subclasses or "CUSTOM" in names:
        plain += ["CUSTOM", *subclasses]
    return " ".join(plain)

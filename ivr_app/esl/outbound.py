"""The outbound-socket listener: FreeSWITCH's ``socket`` application connects here, one TCP
connection per call, and each gets a greenlet running the call handler.

greenswitch's ``OutboundESLServer`` polls a non-blocking ``accept()`` every 100 ms, adding up to
100 ms to every call's setup, and calls ``sys.exit()`` from a library when it cannot bind.
This is a ``gevent.server.StreamServer`` instead: accept is event-driven, TCP_NODELAY is set
(commands are small writes; Nagle plus delayed ACKs would add 40 ms stalls), a bind failure
is an exception, and a call over ``max_calls`` gets an explicit busy hangup, never silence.
A handler that fails hands the call back to the dialplan's fallback (``_hand_back``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import gevent
import gevent.pool
from gevent.server import StreamServer

from ivr_app.esl.call import Call
from ivr_app.esl.connection import EslConnection
from ivr_app.esl.errors import CallEnded, EslError

CallHandler = Callable[[Call], None]


class OutboundServer:
    def __init__(self, host: str, port: int, handler: CallHandler, log: Any, *,
                 max_calls: int = 500, calls: gevent.pool.Group | None = None,
                 command_timeout: float = 10.0, over_capacity_cause: str = "USER_BUSY",
                 event_format: str = "plain",
                 on_failure: Callable[[Call], None] | None = None):
        self.handler = handler
        self.on_failure = on_failure
        self.log = log
        self.max_calls = max_calls
        self.calls = calls if calls is not None else gevent.pool.Group()
        self.command_timeout = command_timeout
        self.over_capacity_cause = over_capacity_cause
        self.event_format = event_format
        self.live: dict[str, Call] = {}
        self.rejected = 0
        self._server = StreamServer((host, port), self._accept, spawn=self.calls.spawn)

    def start(self) -> OutboundServer:
        self._server.start()  # raises OSError when the port is taken
        self.log.info("outbound socket listening", host=self._server.server_host,
                      port=self._server.server_port)
        return self

    @property
    def port(self) -> int:
        return self._server.server_port

    def close(self) -> None:
        """Stop accepting; live calls go on (the App's shutdown waits for them)."""
        self._server.close()

    def _accept(self, sock: socket.socket, address: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = EslConnection(sock, self.log, name="outbound").start()
        try:
            reply = conn.command("connect", timeout=self.command_timeout)
        except EslError as exc:
            self.log.warning("outbound connect failed", error=str(exc))
            conn.close("connect failed")
            return
        call = Call(conn, reply, self.log, command_timeout=self.command_timeout)
        if len(self.live) >= self.max_calls:
            self.rejected += 1
            call.log.warning("over capacity, rejecting call", live=len(self.live),
                             max_calls=self.max_calls, cause=self.over_capacity_cause)
            call.hangup(self.over_capacity_cause)
            call.finish(timeout=2.0)
            return
        self.live[call.uuid] = call
        try:
            self._run(call)
        finally:
            self.live.pop(call.uuid, None)

    def _hand_back(self, call: Call, log: Any) -> None:
        """A handler that failed (a bug, a lost database mid-step) never strands the caller:
        what plays is stopped, ``on_failure`` tells the caller (an apology), and the socket
        is closed without a hangup, so FreeSWITCH goes on with the dialplan's own fallback
        after the ``socket`` application (the operator, then voicemail), as when ivr-app is
        down. The handler's own ``finally`` blocks have already closed its rows."""
        if call.ended:
            return
        try:
            with gevent.Timeout(10):
                call.break_(all_queued=True)
                if self.on_failure is not None:
                    self.on_failure(call)
        except (Exception, gevent.Timeout) as exc:  # noqa: BLE001 - the hand-back goes on
            log.warning("apology not played", error=repr(exc))
        call.conn.close("handler failed: handed back to the dialplan")

    def _run(self, call: Call) -> None:
        log = call.log.bind(caller=call.caller_id_number, destination=call.destination_number)
        call.log = log
        log.info("call handed over")
        try:
            fmt = "" if self.event_format == "plain" else f" {self.event_format}"
            call.conn.command(f"myevents{fmt}", timeout=self.command_timeout)
            # myevents' fixed list (mod_event_socket.c) has no PLAYBACK_START: the caller's
            # wait after a menu key ends there (handlers/menu_entry.KeyWait); an `event`
            # after myevents keeps the filter to this channel
            call.conn.command(f"event {self.event_format} PLAYBACK_START",
                              timeout=self.command_timeout)
            call.conn.command("linger", timeout=self.command_timeout)
            call.load_exact_caller_id()
            self.handler(call)
        except CallEnded as ended:
            log.info("caller hung up", cause=ended.cause)
        except gevent.GreenletExit:
            log.warning("call cut by shutdown")
            call.hangup("SYSTEM_SHUTDOWN")
            raise
        except Exception:
            log.exception("call handler failed: back to the dialplan's fallback")
            self._hand_back(call, log)
        finally:
            final = call.finish()
            log.info("call ended", hangup_cause=call.hangup_cause,
                     billsec=final.variable("billsec") if final else None)

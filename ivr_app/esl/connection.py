"""One Event Socket TCP connection, either direction (inbound control or per-call outbound).

greenswitch defects fixed here (tests/esl/test_greenswitch_defects.py):

* ``ESLProtocol.send`` appends the waiter and writes the socket with no lock, and waits for the
  reply with no timeout: two greenlets sending at once can register in one order and write in
  the other, and a lost reply blocks forever. Here registering the waiter and ``sendall`` happen
  under one lock, every wait has a deadline, and a timeout closes the connection (the reply
  FIFO would otherwise be out of step).
* On disconnect greenswitch leaves pending command waiters hanging (inbound) and its event
  processor polls a queue once a second. Here every pending reply fails with ConnectionLost
  the moment the socket closes, and events are dispatched from the reader as they are framed.
"""

from __future__ import annotations

import collections
import contextlib
import socket
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock

from ivr_app.esl.errors import CommandTimeout, ConnectionLost
from ivr_app.esl.events import Event, PlainEvent, event_from_message
from ivr_app.esl.wire import Framer, Message, ProtocolError

READ_SIZE = 65536


class EslConnection:
    """Frames what arrives, matches replies to commands in order, hands events on.

    ``on_event(event)`` and ``on_notice(message)`` run in the reader greenlet: they must not
    block (put the event somewhere, set a result, spawn).
    """

    def __init__(self, sock: socket.socket, log: Any, name: str = "esl"):
        self._sock = sock
        self._framer = Framer()
        self._pending: collections.deque[gevent.event.AsyncResult] = collections.deque()
        self._send_lock = gevent.lock.Semaphore()
        self._reader: gevent.Greenlet | None = None
        self.log = log
        self.name = name
        self.closed = gevent.event.Event()
        self.close_reason: str | None = None
        self.auth_requested = gevent.event.Event()
        self.on_event: Callable[[Event], None] = lambda event: None
        self.on_notice: Callable[[Message], None] = lambda message: None
        self.on_close: Callable[[], None] = lambda: None

    def start(self) -> EslConnection:
        self._reader = gevent.spawn(self._read_loop)
        return self

    # -- receiving ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reason = "closed by peer"
        recv, feed, dispatch = self._sock.recv, self._framer.feed_fast, self._dispatch
        try:
            while True:
                data = recv(READ_SIZE)
                if not data:
                    break
                on_event = self.on_event
                for item in feed(data):
                    if type(item) is bytes:  # a plain event's payload: the hot path
                        on_event(PlainEvent(item))
                    else:
                        dispatch(item)
                        on_event = self.on_event  # a reply may have released a new owner
        except ProtocolError as exc:
            reason = f"protocol error: {exc}"
            self.log.error("esl protocol error, closing", error=str(exc), conn=self.name)
        except OSError as exc:
            reason = f"socket error: {exc}"
        except Exception as exc:  # a bug of ours, not the peer: say so, with the traceback
            reason = f"internal error: {exc!r}"
            self.log.exception("esl reader failed, closing", conn=self.name)
        finally:
            self._shutdown(reason)

    def _dispatch(self, msg: Message) -> None:
        ct = msg.content_type
        if ct.startswith("text/event-"):
            event = event_from_message(msg)
            if event is not None:
                self.on_event(event)
        elif ct in ("command/reply", "api/response"):
            if self._pending:
                self._pending.popleft().set(msg)
            else:
                self.log.warning("esl reply nobody waited for", conn=self.name,
                                 reply=msg.reply_text or msg.body[:80])
        elif ct == "auth/request":
            self.auth_requested.set()
        elif ct in ("text/disconnect-notice", "text/rude-rejection"):
            self.on_notice(msg)
        # log/data and anything else: not ours to act on

    def _shutdown(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        first = not self.closed.is_set()
        failure = ConnectionLost(f"{self.name}: {self.close_reason}")
        while self._pending:
            self._pending.popleft().set_exception(failure)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.closed.set()
        if first:
            try:
                self.on_close()
            except Exception:
                self.log.exception("on_close callback failed", conn=self.name)

    # -- sending -----------------------------------------------------------------------------

    def command(self, text: str, body: bytes | None = None, timeout: float = 10.0) -> Message:
        """Send one command (its header lines, no blank line) and wait for its reply."""
        if "\n\n" in text or text.endswith("\n"):
            raise ValueError("a command must not contain an empty line")
        wire = text.encode("utf-8") + b"\n\n"
        if body:
            wire = text.encode("utf-8") + f"\nContent-Length: {len(body)}\n\n".encode() + body
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        with self._send_lock:
            if self.closed.is_set():
                raise ConnectionLost(f"{self.name}: {self.close_reason}")
            self._pending.append(result)
            try:
                self._send(wire, timeout)
            except OSError as exc:
                self._pending.remove(result)
                self.close(f"send failed: {exc}")
                raise ConnectionLost(f"{self.name}: send failed: {exc}") from exc
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            self.close(f"no reply to {text.splitlines()[0]!r} within {timeout} s")
            raise CommandTimeout(f"{self.name}: no reply to {text.splitlines()[0]!r} "
                                 f"within {timeout} s") from None

    def _send(self, wire: bytes, timeout: float) -> None:
        """``sendall`` with a deadline: a peer that stops reading (a stuck FreeSWITCH, a full
        socket buffer) would otherwise hold the send lock, and every command behind it,
        forever. Past the deadline the connection is closed (OSError for the caller)."""
        try:
            with gevent.Timeout(timeout):
                self._sock.sendall(wire)
        except gevent.Timeout:
            raise TimeoutError(f"send not done within {timeout} s") from None

    def send_raw(self, data: bytes, timeout: float = 10.0) -> None:
        """Write bytes that expect no reply (used by tests to act as a broken peer)."""
        with self._send_lock:
            self._send(data, timeout)

    def close(self, reason: str = "closed locally") -> None:
        if self.close_reason is None:
            self.close_reason = reason
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._shutdown(reason)

    def wait_closed(self, timeout: float) -> bool:
        return self.closed.wait(timeout)

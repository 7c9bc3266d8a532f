"""Faults inside the ESL layer (issue 13): a bad predicate, a bug in a hook, a peer that stops
reading. None of them may stop event intake, reconnection or every command behind it."""

from __future__ import annotations

import socket

import gevent
import gevent.event
import pytest
import structlog
import structlog.testing

from ivr_app.esl.call import Call
from ivr_app.esl.connection import EslConnection
from ivr_app.esl.control import ControlConnection
from ivr_app.esl.errors import ConnectionLost
from ivr_app.esl.wire import Message
from ivr_app.testing.fakeswitch import serialize
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until

REAL = "11111111-1111-4111-8111-111111111111"


def frame(*headers: tuple[str, str]) -> bytes:
    return b"".join(serialize.event_frame("plain", [*headers, ("Unique-ID", REAL)]))


def dtmf(digit: str) -> bytes:
    return frame(("Event-Name", "DTMF"), ("DTMF-Digit", digit))


def test_a_predicate_that_raises_fails_its_own_wait_and_nothing_else():
    ours, fs = socket.socketpair()
    conn = EslConnection(ours, structlog.get_logger()).start()
    call = Call(conn, Message(f"Event-Name: CHANNEL_DATA\nUnique-ID: {REAL}".encode()),
                structlog.get_logger())
    bad = gevent.spawn(call.wait_for_event, lambda e: e.get("DTMF-Digit").upper() == "X", 5)
    good = gevent.spawn(call.wait_for_event, lambda e: e.get("DTMF-Digit") == "5", 5)
    gevent.sleep(0.01)
    fs.sendall(frame(("Event-Name", "CHANNEL_PROGRESS")))  # no DTMF-Digit: None
    with pytest.raises(AttributeError):
        bad.get(timeout=2)
    fs.sendall(dtmf("5"))
    assert good.get(timeout=2).get("DTMF-Digit") == "5"
    assert not conn.closed.is_set()
    conn.close()
    fs.close()


def test_a_bug_in_the_reader_is_reported_as_ours_not_as_the_peer_closing():
    ours, fs = socket.socketpair()
    conn = EslConnection(ours, structlog.get_logger())

    def broken(event):
        raise KeyError("a bug")

    conn.on_event = broken
    with structlog.testing.capture_logs() as logged:
        conn.start()
        fs.sendall(dtmf("1"))
        assert conn.wait_closed(2)
    assert conn.close_reason == "internal error: KeyError('a bug')"
    failed = [x for x in logged if x["event"] == "esl reader failed, closing"]
    assert failed[0]["exc_info"] is True  # logged with its traceback
    fs.close()


def test_a_peer_that_stops_reading_costs_a_command_its_deadline_not_forever():
    """FreeSWITCH stuck: its socket buffer full, sendall would block under the send lock."""
    ours, fs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    conn = EslConnection(ours, structlog.get_logger()).start()
    big = "x" * 1_000_000  # more than both socket buffers hold
    with pytest.raises(ConnectionLost, match=r"send failed: send not done within 0\.3 s"):
        conn.command("sendmsg\ncall-command: execute", body=big.encode(), timeout=0.3)
    assert conn.closed.is_set()
    fs.close()


def test_a_failing_on_connected_hook_or_resync_never_stops_reconnecting(monkeypatch):
    """A ValueError in the resync (FreeSWITCH answered something that is no JSON) used to end
    the supervisor for good: no control connection until a restart of ivr-app."""
    fs = FakeSwitch().start()
    control = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                reconnect_min=0.05, reconnect_max=0.1)
    failures = []
    real = ControlConnection._resync

    def flaky(self):
        if len(failures) < 2:
            failures.append(1)
            raise ValueError("Expecting value: line 1 column 1 (char 0)")
        real(self)

    monkeypatch.setattr(ControlConnection, "_resync", flaky)
    try:
        control.start()
        wait_until(lambda: control.connected.is_set() and len(failures) == 2, timeout=10,
                   what="connected after two failed resyncs")
        assert control.api("status").startswith("UP ")
    finally:
        control.stop()
        fs.stop()


def test_a_listener_that_stops_reading_loses_events_then_is_killed_and_comes_back():
    """mod_event_socket.c: an event that finds a listener's queue full (MAX_QUEUE_LEN) is
    lost; past MAX_MISSED lost events FreeSWITCH kills the listener. The simulator does the
    same; ivr-app's control connection then reconnects and resyncs by itself."""
    fs = FakeSwitch().start()
    fs.event_queue_max, fs.event_queue_max_missed = 20, 10
    control = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                events=["CUSTOM", "ivr_app::test"], reconnect_min=0.05,
                                reconnect_max=0.1)
    try:
        control.start()
        assert control.wait_connected(5)
        stuck = gevent.event.Event()
        real = control._on_event
        # the reader stalls for 2 s (a consumer far too slow), then goes on: it reads what
        # was sent before the kill, then the end of the connection
        control._conn.on_event = lambda event: (stuck.wait(), real(event))
        gevent.spawn_later(2.0, stuck.set)
        filler = "x" * 16000
        with structlog.testing.capture_logs() as logged:
            for n in range(2000):  # more than the socket buffers hold, then than the queue
                fs.fire("CUSTOM", [("Event-Subclass", "ivr_app::test"), ("n", str(n))],
                        body=filler)
                gevent.sleep(0)
            wait_until(lambda: control.connections == 2 and control.connected.is_set(),
                       timeout=10, what="killed, then connected again")
        kills = [x for x in logged
                 if x["event"] == "fakeswitch: killing listener because of too many lost events"]
        assert len(kills) == 1
        assert kills[0]["lost"] == 11
        assert control.api("status").startswith("UP ")
    finally:
        control.stop()
        fs.stop()

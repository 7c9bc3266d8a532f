"""The five greenswitch defects this project must not inherit.

Each test runs the same input through stock greenswitch (showing the defect, so the test
would fail if ivr_app used it) and through ivr_app.esl (showing the fix).
"""

from __future__ import annotations

import socket
import statistics
import time

import gevent
import structlog
from greenswitch import esl as stock

from ivr_app.esl.call import Call
from ivr_app.esl.connection import EslConnection
from ivr_app.esl.control import ControlConnection
from ivr_app.esl.events import PlainEvent, event_from_message
from ivr_app.esl.outbound import OutboundServer
from ivr_app.esl.wire import Framer, Message
from ivr_app.testing import captures
from ivr_app.testing.fakeswitch import serialize
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until

REAL = "11111111-1111-4111-8111-111111111111"
FORGED = "22222222-2222-4222-8222-222222222222"


def injected_event() -> bytes:
    """A DTMF event whose caller-ID name tries to forge its Unique-ID (encoded as FreeSWITCH
    encodes it: the line break arrives as %0A)."""
    return serialize.plain([("Event-Name", "DTMF"), ("Unique-ID", REAL),
                            ("Caller-Caller-ID-Name", f"Evil\nUnique-ID: {FORGED}"),
                            ("DTMF-Digit", "5")])


def test_1_header_injection_through_an_encoded_line_break():
    payload = injected_event()
    assert b"Evil%0AUnique-ID%3A%20" + FORGED.encode() in payload
    assert stock.ESLEvent(payload.decode()).headers["Unique-ID"] == FORGED  # the defect
    ours = PlainEvent(payload)
    assert ours.unique_id == REAL
    assert ours.headers["Unique-ID"] == REAL
    assert ours.get("Caller-Caller-ID-Name") == f"Evil\nUnique-ID: {FORGED}"


def test_2_event_body_is_not_folded_into_the_last_header():
    t = captures.load(captures.CAPTURES / "inbound-bgapi" / "transcript.jsonl")
    framer = Framer()
    msgs = [m for c in t.rx() for m in framer.feed(c)]
    job_msg = next(m for m in msgs if b"Event-Name: BACKGROUND_JOB" in m.body)
    theirs = stock.ESLEvent(job_msg.body.decode())
    # the defect: the job's result is glued onto the inner Content-Length header
    assert theirs.headers["Content-Length"].startswith("368\n\nUP 0 years")
    ours = event_from_message(job_msg)
    assert ours is not None
    assert ours.body.split(" ")[0] in ("UP", "-ERR", "+OK")
    assert all(ours.body not in v for v in ours.headers.values())


def _outbound_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    return a, b


def _complete(app: str, app_uuid: str) -> bytes:
    return serialize.event_frame("plain", [("Event-Name", "CHANNEL_EXECUTE_COMPLETE"),
                                           ("Unique-ID", REAL), ("Application", app),
                                           ("Application-Response", "FILE PLAYED"),
                                           ("Application-UUID", app_uuid),
                                           ("variable_current_application", app)])


def test_3_completion_is_matched_by_application_uuid_not_name():
    """A playback someone else started (uuid_broadcast, a second execute) completes first."""
    # stock: the waiter of "our" playback is released by the other playback's completion
    ours_sock, fs_sock = _outbound_pair()
    session = stock.OutboundSession(("127.0.0.1", 0), ours_sock)
    waiter = gevent.event.AsyncResult()
    session.register_expected_event("CHANNEL_EXECUTE_COMPLETE", "current_application",
                                    "playback", waiter)
    for part in _complete("playback", "other-playback"):
        fs_sock.sendall(part)
    released = waiter.get(timeout=2)
    assert released.headers["Application-UUID"] == "other-playback"  # the defect
    session._run = False
    fs_sock.close()

    # ivr_app: the Call waits for the completion carrying its own Event-UUID
    ours_sock, fs_sock = _outbound_pair()
    conn = EslConnection(ours_sock, structlog.get_logger()).start()
    call = Call(conn, Message(f"Event-Name: CHANNEL_DATA\nUnique-ID: {REAL}".encode()),
                structlog.get_logger())
    result = gevent.spawn(call.playback, "tone_stream://%(1000,0,440)")
    framer = Framer()
    sent = []
    while not sent:
        sent = framer.feed(fs_sock.recv(4096))
    my_uuid = sent[0].headers["Event-UUID"]
    fs_sock.sendall(serialize.reply("+OK"))
    for part in _complete("playback", "other-playback"):
        fs_sock.sendall(part)
    gevent.sleep(0.05)
    assert not result.ready()  # not fooled
    for part in _complete("playback", my_uuid):
        fs_sock.sendall(part)
    assert result.get(timeout=2) == "FILE PLAYED"
    conn.close()
    fs_sock.close()


def _connect_latencies(port: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        t0 = time.monotonic()
        data = b""
        while b"connect" not in data:
            data += s.recv(100)
        out.append(time.monotonic() - t0)
        s.close()
        gevent.sleep(0.001)
    return out


def test_4_outbound_accept_is_not_polled():
    """Stock accept() is polled every 100 ms: ~50 ms median before the first command."""

    class App:
        def __init__(self, session):
            self.session = session

        def run(self):
            pass

    stock_server = stock.OutboundESLServer("127.0.0.1", 0, application=App)
    stock_server.bind_port = [0]
    # greenswitch cannot listen on port 0 and report it; find a free port for it
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    stock_server.bind_port = [port]
    g = gevent.spawn(stock_server.listen)
    wait_until(lambda: stock_server._running, what="stock server up")
    theirs = _connect_latencies(port, 15)
    stock_server.stop()
    g.kill()

    ours = OutboundServer("127.0.0.1", 0, lambda call: None, structlog.get_logger()).start()
    mine = _connect_latencies(ours.port, 15)
    ours.close()
    # generous margins on both sides: this checks the mechanism, the benchmark measures it
    assert statistics.median(theirs) > 0.015
    assert statistics.median(mine) < 0.015


def test_5_inbound_connection_comes_back_after_freeswitch_restarts():
    first = FakeSwitch().start()
    port = first.esl_port
    theirs = stock.InboundESL("127.0.0.1", port, "ClueCon")
    theirs.connect()
    ours = ControlConnection("127.0.0.1", port, "ClueCon", structlog.get_logger(),
                             reconnect_min=0.05, reconnect_max=0.1).start()
    assert ours.wait_connected(5)
    first.stop()
    wait_until(lambda: not theirs.connected and not ours.connected.is_set())
    second = FakeSwitch().start(port=port)
    try:
        wait_until(lambda: ours.connected.is_set(), timeout=5, what="our reconnect")
        assert ours.api("status").startswith("UP ")
        gevent.sleep(0.3)
        assert not theirs.connected  # stock greenswitch never comes back
        try:
            theirs.send("api status")
            raise AssertionError("stock greenswitch answered after a restart")
        except stock.NotConnectedError:
            pass
    finally:
        ours.stop()
        second.stop()

"""Replay a capture's client side against the simulator and compare what comes back.

For every connection of a scenario the client bytes (``tx``) are sent in the capture's global
time order. Before a chunk is sent, every connection must have received the messages the
real FreeSWITCH had sent it by that moment (happens-before across connections, so an
``uuid_send_dtmf`` from ``ctl/`` goes out only after the IVR leg's prompt started). The
simulator runs with a time factor, so the replay waits on messages, never on the clock.

Comparison (``compare``), per connection:

* non-event messages: the same Content-Type sequence;
* events: for every channel (keyed by Channel-Name; jobs and other channel-less events under
  ``-``) the same sequence of Event-Names, and for each pair of events the same header names
  in the same order, ``variable_*`` excepted (those depend on the endpoint and configuration).
  Events of different channels interleave in whatever order threads ran in FreeSWITCH
  (README of the captures, fact 8), so their relative order is not compared.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import gevent.event
from gevent.server import StreamServer

from ivr_app.esl.events import event_from_message
from ivr_app.esl.wire import Framer, Message
from ivr_app.testing import captures
from ivr_app.testing.fakeswitch.channel import Channel
from ivr_app.testing.fakeswitch.dialplan import Dialplan
from ivr_app.testing.fakeswitch.switch import FakeSwitch

CAPTURE_PORT = "8084"  # the port the capture dialplan's `socket` application used


@dataclass
class Conn:
    name: str
    transcript: captures.Transcript
    expected: list[tuple[float, Message]] = field(default_factory=list)
    received: list[Message] = field(default_factory=list)
    sock: socket.socket | None = None
    eof: gevent.event.Event = field(default_factory=gevent.event.Event)
    arrived: gevent.event.Event = field(default_factory=gevent.event.Event)

    def __post_init__(self) -> None:
        framer = Framer()
        for c in self.transcript.chunks:
            if c.direction == "rx" and c.data:
                self.expected += [(c.t, m) for m in framer.feed(c.data)]

    def expected_before(self, t: float) -> int:
        return sum(1 for when, _ in self.expected if when < t)

    def attach(self, sock: socket.socket) -> None:
        self.sock = sock
        gevent.spawn(self._read)

    def _read(self) -> None:
        framer = Framer()
        assert self.sock is not None
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.received += framer.feed(data)
                self.arrived.set()
        except OSError:
            pass
        self.eof.set()
        self.arrived.set()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and not self.eof.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.arrived.clear()
            self.arrived.wait(min(left, 0.05))


def scenario_transcripts(scenario: str) -> dict[str, captures.Transcript]:
    base = captures.CAPTURES / scenario
    out = {}
    for p in sorted(base.rglob("transcript.jsonl")):
        rel = str(p.parent.relative_to(base))
        out["" if rel == "." else rel] = captures.load(p)
    return out


def _outbound_sip_stimuli() -> list[tuple[float, Callable[[FakeSwitch], None]]]:
    """outbound-sip: sipp's INVITE and its DTMF (SIP INFO), at the capture's moments."""
    calls: list[Channel] = []

    def invite(fs: FakeSwitch) -> None:
        calls.append(fs.place_call("7100", caller_id_number="5551000",
                                   caller_id_name="ESL Capture", remote="127.0.0.1:5071",
                                   variables={"sip_h_X-CRM-Ticket": "CRM-4711"}))

    def key(digit: str) -> Callable[[FakeSwitch], None]:
        return lambda fs: fs.press(calls[0].uuid, digit)

    return [(0.1, invite), (3.17, key("4")), (3.39, key("7")), (3.59, key("#"))]


# what happened outside the Event Socket in a scenario (a SIP phone), replayed as stimuli
STIMULI: dict[str, Callable[[], list[tuple[float, Callable[[FakeSwitch], None]]]]] = {
    "outbound-sip": _outbound_sip_stimuli,
    # sipp REGISTERs user 1000 with digest auth, then un-REGISTERs it
    "inbound-presence": lambda: [
        (0.14, lambda fs: fs.register("1000", user_agent="sipp-esl-capture")),
        (2.14, lambda fs: fs.unregister("1000"))],
}


def replay(scenario: str, fs: FakeSwitch, wait: float = 3.0) -> dict[str, Conn]:
    conns = {name: Conn(name, t) for name, t in scenario_transcripts(scenario).items()}
    outbound = scenario.startswith("outbound")
    listener = None
    if outbound:
        primary = conns[""]

        def accept(sock: socket.socket, addr: object) -> None:
            primary.attach(sock)
            primary.eof.wait()

        listener = StreamServer(("127.0.0.1", 0), accept)
        listener.start()
    fs.dialplan = Dialplan()
    fs.dialplan.load_xml(capture_dialplan(listener.server_port if listener else 8084))
    # every tx chunk of every connection, in the capture's time order
    schedule: list[tuple[float, str, object]] = sorted(
        [(c.t, name, c.data) for name, conn in conns.items()
         for c in conn.transcript.chunks if c.direction == "tx"]
        + [(t, "<stimulus>", fn) for t, fn in STIMULI.get(scenario, lambda: [])()],
        key=lambda item: item[0])
    opened: set[str] = set()
    try:
        for t, name, data in schedule:
            if name == "<stimulus>":
                for other in conns.values():
                    if other.sock is not None:
                        other.wait_for(other.expected_before(t), wait)
                data(fs)  # type: ignore[operator]
                continue
            conn = conns[name]
            if name not in opened and not (outbound and name == ""):
                sock = socket.create_connection(("127.0.0.1", fs.esl_port))
                conn.attach(sock)
                opened.add(name)
            if outbound and name == "" and conn.sock is None:
                deadline = time.monotonic() + wait
                while conn.sock is None and time.monotonic() < deadline:
                    gevent.sleep(0.005)
            for other in conns.values():
                if other.sock is not None:
                    other.wait_for(other.expected_before(t), wait)
            if conn.sock is None:
                continue
            if data:
                conn.sock.sendall(_map_uuids(data, uuids(conns)))  # type: ignore[arg-type]
            else:
                conn.sock.close()
        for conn in conns.values():
            if conn.sock is not None:
                conn.wait_for(len(conn.expected), wait)
                conn.eof.wait(wait)
    finally:
        for conn in conns.values():
            if conn.sock is not None:
                conn.sock.close()
        if listener is not None:
            listener.stop()
    return conns


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def uuids(conns: dict[str, Conn]) -> dict[str, str]:
    """The capture's channel UUIDs that FreeSWITCH chose itself, mapped to the simulator's:
    an outbound socket's connect reply names the controlled channel (a loopback B leg, whose
    UUID no client sets), so a ctl/ command naming it is sent with the simulator's UUID."""
    primary = conns.get("")
    if primary is None or not primary.received or not primary.expected:
        return {}
    want = primary.expected[0][1].get("Unique-ID")
    got = primary.received[0].get("Unique-ID")
    return {want: got} if want and got and want != got else {}


def _map_uuids(data: object, mapping: dict[str, str]) -> object:
    if not mapping or not isinstance(data, bytes):
        return data
    for want, got in mapping.items():
        data = data.replace(want.encode(), got.encode())
    return data


def _shape(messages: list[Message]) -> tuple[list[str], dict[str, list[tuple[str, tuple]]]]:
    other: list[str] = []
    per_channel: dict[str, list[tuple[str, tuple]]] = {}
    for m in messages:
        ev = event_from_message(m)
        if ev is None:
            text = _UUID.sub("<uuid>", m.reply_text) if m.content_type == "command/reply" \
                else ""
            other.append(f"{m.content_type} {text}".rstrip())
            continue
        key = ev.get("Channel-Name") or "-"
        name = f"CUSTOM {ev.subclass}" if ev.name == "CUSTOM" else ev.name
        names = tuple(k for k, _ in (ev.all_headers() if hasattr(ev, "all_headers")
                                     else ev.headers.items())
                      if not k.startswith("variable_"))
        per_channel.setdefault(key, []).append((name, names))
    return other, per_channel


def _drop_leading_park(per_channel: dict[str, list[tuple[str, tuple]]]) -> None:
    for events in per_channel.values():
        if events and events[0][0] == "CHANNEL_PARK":
            del events[0]


def compare(conn: Conn, outbound: bool = False) -> list[str]:
    """Differences between what the capture received and what the simulator sent.

    On an outbound socket a leading CHANNEL_PARK races with ``myevents`` in FreeSWITCH
    itself (captures show it both ways), so it is not compared there."""
    problems = []
    want_other, want_ch = _shape([m for _, m in conn.expected])
    got_other, got_ch = _shape(conn.received)
    if outbound and conn.name == "":
        _drop_leading_park(want_ch)
        _drop_leading_park(got_ch)
    label = conn.name or "primary"
    if want_other != got_other:
        problems.append(f"{label}: non-event messages differ:\n  capture {want_other}\n"
                        f"  simulator {got_other}")
    for ch in sorted(set(want_ch) | set(got_ch)):
        want = [n for n, _ in want_ch.get(ch, [])]
        got = [n for n, _ in got_ch.get(ch, [])]
        if want != got:
            problems.append(f"{label}: events of {ch} differ:\n  capture   {want}\n"
                            f"  simulator {got}")
            continue
        for i, ((name, w), (_, g)) in enumerate(zip(want_ch[ch], got_ch[ch], strict=True)):
            if w != g:
                missing = [h for h in w if h not in g]
                extra = [h for h in g if h not in w]
                problems.append(f"{label}: {ch} event #{i} {name}: header names differ "
                                f"(missing {missing}, extra {extra}, order "
                                f"{'differs' if not missing and not extra else 'n/a'})")
    return problems


def capture_dialplan(socket_port: int) -> str:
    """The dialplan FreeSWITCH ran for the captures (freeswitch-setup.md), socket port adapted."""
    text = (Path(__file__).parent / "fakeswitch" / "capture_dialplan.xml").read_text()
    return text.replace(f"127.0.0.1:{CAPTURE_PORT}", f"127.0.0.1:{socket_port}")

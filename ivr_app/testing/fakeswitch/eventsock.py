"""mod_event_socket: the inbound listener and the outbound ``socket`` application.

One ``EslSession`` per TCP connection, in either direction. Commands are framed like any ESL
message (a header block, optionally a body). Replies and texts are FreeSWITCH 1.10.12's, as
the captures in tests/fixtures/fs-captures show them.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
import uuid as uuid_mod
from typing import TYPE_CHECKING

import gevent
import gevent.event
import gevent.queue
from gevent.server import StreamServer

from ivr_app.esl.wire import Framer, Message, ProtocolError
from ivr_app.testing.fakeswitch import serialize
from ivr_app.testing.fakeswitch.channel import Channel, Hangup

if TYPE_CHECKING:
    from ivr_app.testing.fakeswitch.switch import FakeSwitch

# the events `myevents` subscribes to (mod_event_socket.c)
MYEVENTS = {"CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE",
            "CHANNEL_DATA", "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID",
            "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
            "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK", "DETECTED_SPEECH", "DTMF",
            "NOTALK", "TALK"}


class EslServer:
    def __init__(self, switch: FakeSwitch):
        self.switch = switch
        self._server: StreamServer | None = None
        self.sessions: set[EslSession] = set()

    def start(self, host: str, port: int) -> None:
        self._server = StreamServer((host, port), self._handle)
        self._server.start()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
        for s in list(self.sessions):
            s.close()

    def _handle(self, sock: socket.socket, addr: object) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = EslSession(self.switch, sock, outbound=False)
        self.sessions.add(session)
        try:
            session.send(b"Content-Type: auth/request\n\n")
            session.serve()
        finally:
            self.sessions.discard(session)


class EslSession:
    def __init__(self, switch: FakeSwitch, sock: socket.socket, *, outbound: bool,
                 channel: Channel | None = None):
        self.switch = switch
        self.sock = sock
        self.outbound = outbound
        self.channel = channel  # the controlled session (outbound, or inbound myevents <uuid>)
        self.authed = outbound
        self.format = "plain"
        self.events: set[str] = set()
        self.subclasses: set[str] = set()
        self.all_events = False
        self.myevents = False
        self.filters: list[tuple[str, str]] = []
        self.linger: int | None = None
        self.connected = not outbound  # outbound: after `connect`
        self.session_over = False
        self.log_level: int | None = None
        self._queue: gevent.queue.Queue[bytes | tuple[bytes, bytes] | None] = \
            gevent.queue.Queue()
        self.lost_events = 0
        self._writer = gevent.spawn(self._write_loop)
        self.closed = gevent.event.Event()
        self.exited = gevent.event.Event()

    # -- output --------------------------------------------------------------------------------

    def send(self, data: bytes | tuple[bytes, bytes]) -> None:
        if not self.closed.is_set():
            self._queue.put(data)

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            try:
                if isinstance(item, tuple):
                    # mod_event_socket writes the frame header and the event with two writes
                    self.sock.sendall(item[0])
                    self.sock.sendall(item[1])
                else:
                    self.sock.sendall(item)
            except OSError:
                break
        self._close_socket()

    def close(self) -> None:
        """Flush what is queued, then close."""
        self._queue.put(None)

    def _close_socket(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.switch.unsubscribe(self)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- events --------------------------------------------------------------------------------

    def wants(self, name: str, subclass: str | None, headers: list[tuple[str, str]]) -> bool:
        if not self.all_events:
            if name not in self.events:
                return False
            if name == "CUSTOM" and subclass and subclass not in self.subclasses:
                return False
        if self.filters:
            send = False
            for fname, fvalue in self.filters:
                value = next((v for k, v in headers if k.lower() == fname.lower()), None)
                if value is None:
                    continue
                ok = bool(re.search(fvalue[1:], value)) if fvalue.startswith("/") \
                    else value.lower() == fvalue.lower()
                if ok:
                    send = True
            if not send:
                return False
        if self.myevents:
            uid = next((v for k, v in headers if k == "Unique-ID"), None)
            if uid is None or (self.channel is not None and uid != self.channel.uuid):
                return False
        return True

    def log(self, level: int, text: str, file: str, func: str, line: int) -> None:
        if self.log_level is None or level > self.log_level:
            return
        self.send(serialize.log_data(level, text, file, func, line))

    def deliver(self, name: str, subclass: str | None, headers: list[tuple[str, str]],
                body: str | None) -> None:
        if self.closed.is_set() or self.session_over or \
                not self.wants(name, subclass, headers):
            return
        if self._queue.qsize() >= self.switch.event_queue_max:
            # mod_event_socket.c: switch_queue_trypush fails on a full listener queue, the
            # event is lost; past MAX_MISSED lost events the listener is killed
            self.lost_events += 1
            if self.lost_events > self.switch.event_queue_max_missed:
                self.switch.log.info("fakeswitch: killing listener because of too many lost "
                                     "events", lost=self.lost_events)
                self._queue = gevent.queue.Queue()  # what was queued is never sent
                self._close_socket()
            return
        self.lost_events = 0
        self.send(serialize.event_frame(self.format, headers, body))
        if name == "CHANNEL_HANGUP" and not self.outbound and self.channel is not None:
            # an inbound `myevents <uuid>` socket is closed when its channel hangs up
            self.session_over = True
            self._disconnect()

    def channel_gone(self, ch: Channel) -> None:
        """The controlled channel fired HANGUP_COMPLETE: linger notice or disconnect."""
        if self.channel is not ch:
            return
        self.session_over = True  # the session is released: no more of its events
        if self.linger is not None:
            self.send(serialize.linger_notice(ch.uuid, ch.name, self.linger))
            if self.linger >= 0:
                gevent.spawn_later(self.linger, self._disconnect)
        elif self.outbound or self.myevents:
            self._disconnect()

    def _disconnect(self) -> None:
        sid = self.channel.uuid if self.channel is not None else None
        self.send(serialize.disconnect_notice(sid))
        self.close()

    # -- input ---------------------------------------------------------------------------------

    def serve(self) -> None:
        framer = Framer()
        try:
            while not self.closed.is_set():
                data = self.sock.recv(65536)
                if not data:
                    break
                for msg in framer.feed(data):
                    self.command(msg)
        except (OSError, ProtocolError):
            pass
        finally:
            self.exited.set()
            self.switch.unsubscribe(self)
            self.close()

    def command(self, msg: Message) -> None:
        head = msg.head.decode("utf-8", "replace")
        line, _, rest = head.partition("\n")
        cmd, _, arg = line.strip().partition(" ")
        headers = dict(h.split(": ", 1) for h in rest.split("\n") if ": " in h)
        if not self.authed:
            if cmd == "auth":
                if arg == self.switch.password:
                    self.authed = True
                    self.send(serialize.reply("+OK accepted"))
                else:
                    self.send(serialize.reply("-ERR invalid"))
                    self._disconnect()
            elif cmd == "exit":
                self.send(serialize.reply("+OK bye"))
                self._disconnect()
            else:
                self.send(serialize.reply("-ERR command not found"))
            return
        if self.outbound and not self.connected and cmd not in ("connect", "exit"):
            self.send(serialize.reply("-ERR command not found"))
            return
        if cmd == "connect" and self.outbound:
            self.connected = True
            assert self.channel is not None
            base = self.switch.base_headers("CHANNEL_DATA",
                                            ("mod_event_socket.c", "parse_command", 2021))
            self.send(serialize.connect_reply(base + self.channel.data_headers()))
        elif cmd == "api":
            self.send(serialize.api_response(self.switch.api(arg)))
        elif cmd == "bgapi":
            job = headers.get("Job-UUID") or str(uuid_mod.uuid4())
            self.send(serialize.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)]))
            gevent.spawn(self._bgapi, arg, job)
        elif cmd == "event":
            self._event(arg)
        elif cmd == "myevents":
            self._myevents(arg)
        elif cmd == "nixevent":
            for name in arg.split():
                self.events.discard(name)
            self.send(serialize.reply("+OK events nixed"))
        elif cmd == "noevents" and not (self.events or self.all_events):
            self.send(serialize.reply("-ERR not listening for events"))
        elif cmd == "noevents":
            self.events.clear()
            self.all_events = False
            self.switch.unsubscribe(self)
            self.send(serialize.reply("+OK no longer listening for events"))
        elif cmd == "filter":
            self._filter(arg)
        elif cmd == "linger":
            secs = arg.strip()
            self.linger = int(secs) if secs.isdigit() else -1
            self.send(serialize.reply(f"+OK will linger {secs} seconds" if secs.isdigit()
                                      else "+OK will linger"))
        elif cmd == "nolinger":
            self.linger = None
            self.send(serialize.reply("+OK will not linger"))
        elif cmd == "sendmsg":
            self._sendmsg(arg.strip(), headers, msg.body)
        elif cmd == "sendevent":
            self._sendevent(arg.strip(), rest, msg.body)
        elif cmd == "log":
            level = int(arg) if arg.strip().isdigit() else 7
            self.log_level = level
            if self not in self.switch.log_listeners:
                self.switch.log_listeners.append(self)
            self.send(serialize.reply(f"+OK log level {level} [{level}]"))
        elif cmd == "nolog":
            if self.log_level is None:
                self.send(serialize.reply("-ERR not loging"))  # sic, FreeSWITCH 1.10.12
            else:
                self.log_level = None
                self.switch.log_listeners.remove(self)
                self.send(serialize.reply("+OK no longer logging"))
        elif cmd == "exit":
            self.send(serialize.reply("+OK bye"))
            self._disconnect()
        elif cmd == "divert_events":
            on = arg.strip().lower() == "on"
            self.send(serialize.reply("-ERR not controlling a session." if self.channel is None
                                      else "+OK events diverted" if on
                                      else "+OK events not diverted"))
        else:
            self.send(serialize.reply("-ERR command not found"))

    def _bgapi(self, line: str, job: str) -> None:
        result = self.switch.api(line)
        cmd, _, arg = line.partition(" ")
        headers = [("Job-UUID", job), ("Job-Command", cmd)]
        if arg:
            headers.append(("Job-Command-Arg", arg))
        self.switch.fire("BACKGROUND_JOB", headers, body=result,
                         calling=("mod_event_socket.c", "api_exec", 1572))

    def _event(self, arg: str) -> None:
        words = arg.split()
        fmt = "plain"
        if words and words[0] in ("plain", "json", "xml"):
            fmt = words.pop(0)
        self.format = fmt
        custom = False
        for w in words:
            if w == "ALL":
                self.all_events = True
            elif w == "CUSTOM":
                custom = True
                self.events.add("CUSTOM")
            elif custom or "::" in w:
                self.subclasses.add(w)
                self.events.add("CUSTOM")
            else:
                self.events.add(w)
        self.switch.subscribe(self)
        self.send(serialize.reply(f"+OK event listener enabled {fmt}"))

    def _myevents(self, arg: str) -> None:
        if self.myevents:
            self.send(serialize.reply("-ERR aready enabled."))
            return
        if self.channel is None:
            uuid = arg.split(" ")[0]
            ch = self.switch.channel(uuid)
            if ch is None:
                self.send(serialize.reply("-ERR invalid uuid"))
                return
            self.channel = ch
            self.switch.control(self, ch)
            # FreeSWITCH cuts the format word off before checking it: always plain here
        elif "json" in arg.lower():
            self.format = "json"
        elif "xml" in arg.lower():
            self.format = "xml"
        self.events |= MYEVENTS
        self.myevents = True
        self.switch.subscribe(self)
        self.send(serialize.reply("+OK Events Enabled"))

    def _filter(self, arg: str) -> None:
        words = arg.split(" ", 1)
        if words[0] == "delete":
            rest = words[1] if len(words) > 1 else ""
            if rest in ("", "all"):
                self.filters.clear()
                self.send(serialize.reply("+OK filter deleted. [all][]"))
                return
            name, _, value = rest.partition(" ")
            self.filters = [f for f in self.filters if not (f[0] == name and
                                                             (not value or f[1] == value))]
            self.send(serialize.reply(f"+OK filter deleted. [{name}][{value}]"))
            return
        if len(words) < 2:
            self.send(serialize.reply("-ERR invalid syntax"))
            return
        self.filters.append((words[0], words[1]))
        self.send(serialize.reply(f"+OK filter added. [{words[0]}]=[{words[1]}]"))

    def _sendmsg(self, uuid: str, headers: dict[str, str], body: bytes) -> None:
        ch = self.switch.channel(uuid) if uuid else self.channel
        if ch is None:
            self.send(serialize.reply(f"-ERR invalid session id [{uuid}]" if uuid else
                                      "-ERR invalid session id []"))
            return
        kind = headers.get("call-command", "")
        if kind == "execute":
            app = headers.get("execute-app-name", "")
            data = headers.get("execute-app-arg", "")
            if not data and body:
                data = body.decode("utf-8", "replace")
            loops = int(headers.get("loops", "1") or 1)
            self.send(serialize.reply("+OK"))
            lock = headers.get("event-lock", "").lower() == "true"
            for _ in range(max(1, loops)):
                ch.enqueue(app, data, headers.get("Event-UUID"), event_lock=lock)
        elif kind == "hangup":
            self.send(serialize.reply("+OK"))
            ch.hangup_message(headers.get("hangup-cause", "NORMAL_CLEARING"))
        elif kind == "unicast" or kind == "nomedia":
            self.send(serialize.reply("+OK"))
        else:
            self.send(serialize.reply("-ERR invalid command"))

    def _sendevent(self, name: str, rest: str, body: bytes) -> None:
        event_uuid = str(uuid_mod.uuid4())
        client = [tuple(h.split(": ", 1)) for h in rest.split("\n") if ": " in h]
        client = [(k, v) for k, v in client if k not in ("Content-Length",)]
        prefix = [("Command", f"sendevent {name}"), *client, ("Event-UUID", event_uuid)]
        self.send(serialize.reply(f"+OK {event_uuid}"))
        self.switch.fire(name, [], body=body.decode() if body else None, prefix=prefix,
                         calling=("mod_event_socket.c", "parse_command", 2339))


def run_outbound_socket(ch: Channel, data: str) -> str:
    """The ``socket host:port async full`` application: connect to the app and obey it."""
    target = data.split()[0] if data.split() else ""
    host, _, port = target.rpartition(":")
    try:
        sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=5)
    except (OSError, ValueError):
        ch.switch.log.info("fakeswitch: socket app could not connect", target=target)
        return "_none_"
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ch.vars["socket_host"] = host or "127.0.0.1"
    session = EslSession(ch.switch, sock, outbound=True, channel=ch)
    ch.switch.control(session, ch)
    reader = gevent.spawn(session.serve)
    ch.parked = True
    try:
        # switch_ivr_park runs in the channel thread while the listener thread answers
        # connect/myevents: whether the app sees CHANNEL_PARK is a race (captures show both).
        # Here it is fired once the app has subscribed, or after a 20 ms timer tick.
        deadline = time.monotonic() + 0.02
        while not session.myevents and time.monotonic() < deadline and ch.ready:
            gevent.sleep(0.002)
        ch.fire("CHANNEL_PARK")
        ch.serve_queue(until=session.exited)  # async mode: run what the app sends, else park
    except Hangup:
        pass
    finally:
        ch.parked = False
        ch.fire("CHANNEL_UNPARK")
    if not ch.hungup.is_set():
        # the channel left the socket (transfer, or the app said exit): the app is told
        if not session.exited.is_set():
            session.send(serialize.disconnect_notice(ch.uuid))
        session.close()
        reader.kill(block=False)
    return ch.vars.get("current_application_response", "_none_")

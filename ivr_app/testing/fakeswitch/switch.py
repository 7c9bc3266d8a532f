"""FakeSwitch: the core of the simulator. Channels, the event bus, API commands, the dialplan,
and the knobs a test turns: place a call, press keys, hang up, script far ends.

It runs inside the test's (or the demo's) gevent process and is reached only over TCP: the
inbound Event Socket on ``esl_port`` and, for calls routed to ``socket``, a TCP connection to
the application's outbound listener.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid as uuid_mod
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import gevent
import structlog

from ivr_app.testing.fakeswitch.channel import Channel, Hangup, uepoch
from ivr_app.testing.fakeswitch.dialplan import Dialplan

VERSION = ("FreeSWITCH Version 1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit "
           "(git a88d069 2024-08-02 21:02:27Z 64bit)")


class FakeSwitch:
    def __init__(self, *, password: str = "ClueCon",  # noqa: S107 - FreeSWITCH's default
 time_factor: float = 1.0,
                 dialplan: Dialplan | None = None, sound_dirs: tuple[Path, ...] = (),
                 hostname: str = "fakeswitch", max_sessions: int = 1000,
                 sessions_per_second: int = 30, log: Any = None,
                 recordings_dir: Path | None = None):
        from ivr_app.testing.fakeswitch.eventsock import EslServer
        from ivr_app.testing.fakeswitch.originate import Originator
        from ivr_app.testing.fakeswitch.recording import Recorder

        self.password = password
        self.time_factor = time_factor
        # A parked channel (the socket application, park) reads a frame every 20 ms and only
        # then looks at the messages sent to it: an execute sent to an idle channel starts at
        # the next tick (captured: CHANNEL_EXECUTE 20 ms after the +OK, so a uuid_break sent
        # in between is lost). Off by default (a replay's happens-before counts messages, not
        # ticks); a test that needs the window sets it, in seconds.
        self.park_tick = 0.0
        self.dialplan = dialplan or Dialplan()
        self.sound_dirs = tuple(Path(d) for d in sound_dirs)
        # relative recording paths land here, as under FreeSWITCH's $${recordings_dir}
        self.recordings_dir = Path(recordings_dir) if recordings_dir else \
            Path(tempfile.gettempdir()) / "fakeswitch-recordings"
        self.hostname = hostname
        self.max_sessions = max_sessions
        self.sessions_per_second = sessions_per_second
        self.log = log or structlog.get_logger().bind(component="fakeswitch")
        self.core_uuid = str(uuid_mod.uuid4())
        self.started = time.time()
        self.channels: dict[str, Channel] = {}
        self.globals: dict[str, str] = {"hostname": hostname, "domain": "127.0.0.1",
                                        "local_ip_v4": "127.0.0.1",
                                        "recordings_dir": str(self.recordings_dir)}
        self.sessions_since_startup = 0
        self._session_id = 0
        self._sequence = 0
        self._recent_creates: list[float] = []
        self.played: list[tuple[str, str]] = []  # (channel uuid, path) of everything played
        self.meta_apps: list[tuple[str, str, str]] = []  # (uuid, app, args) bind_meta_app ran
        self.listeners: list[Any] = []  # EslSession objects with events enabled
        # sessions with `myevents` bound to one channel, by its UUID: an event is offered
        # only to the sessions that can want it (10,000 outbound sockets must not each be
        # asked about every event)
        self.bound: dict[str, list[Any]] = {}
        # sessions controlling a channel (outbound socket, inbound `myevents <uuid>`)
        self.controlling: dict[str, list[Any]] = {}
        self.log_listeners: list[Any] = []  # EslSession objects with `log N` on
        self.server = EslServer(self)
        self.recorder = Recorder(self)
        self.originator = Originator(self)
        self.reloadxml_hook: Callable[[], str] | None = None
        self.dialplan_dir: Path | None = None  # reloadxml re-reads it, like conf/dialplan
        self.registrations: dict[str, dict[str, str]] = {}
        # the presence_id the directory gives the phones' channels: None, as a stock
        # directory does (a phone's own call: its From user@host, set by sofia; a call to
        # it: <user>@<domain> from the dial-string); `ivr-app freeswitch install` makes it
        # ivr-app-calls@<domain> (ivr_app/fsconf.py, step 7)
        self.phone_presence_id: str | None = None
        # mod_event_socket.c: each listener's event queue holds MAX_QUEUE_LEN events; an
        # event that finds it full is lost, and past MAX_MISSED lost the listener is killed
        self.event_queue_max, self.event_queue_max_missed = 100_000, 500
        # the directory (conf/directory): domain -> user ids; the vanilla one has 1000-1019
        self.directory: dict[str, set[str]] = {"127.0.0.1": {str(n) for n in range(1000, 1020)}}
        self.voicemail_dir = Path(tempfile.mkdtemp(prefix="fakeswitch-vm-"))
        # the global sound_prefix (vars.xml): say files (digits/...) resolve here
        from ivr_app.testing.fakeswitch.displace import make_say_sounds
        self.sound_prefix = make_say_sounds(Path(tempfile.gettempdir()) / "fakeswitch-sounds")
        self.globals["sound_prefix"] = str(self.sound_prefix)
        # the say modules loaded (languages): a stock modules.conf.xml loads mod_say_en only;
        # say_string for any other language answers -ERR Usage (displace.py)
        self.say_modules: set[str] = {"en"}
        self.displaced: list[Any] = []  # every uuid_displace (displace.Displaced)
        # what a real caller would have suffered (an announcement over a bridged call ...)
        self.faults: list[str] = []
        self.voicemails: list[tuple[str, str, Path]] = []  # (box, call uuid, file)
        # in-process watchers of every event (the demo's narration); not on the wire
        self.observers: list[Callable[[str, list[tuple[str, str]]], None]] = []
        self.play_observers: list[Callable[[Channel, str], None]] = []  # every file played

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSwitch:
        self.server.start(host, port)
        return self

    @property
    def esl_port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        for ch in list(self.channels.values()):
            ch.hangup("SYSTEM_SHUTDOWN")
        self.server.stop()

    def next_session_id(self) -> int:
        self._session_id += 1
        return self._session_id

    # -- events --------------------------------------------------------------------------------

    def base_headers(self, name: str, calling: tuple[str, str, int]) -> list[tuple[str, str]]:
        self._sequence += 1
        now = time.time()
        return [("Event-Name", name), ("Core-UUID", self.core_uuid),
                ("FreeSWITCH-Hostname", self.hostname), ("FreeSWITCH-Switchname", self.hostname),
                ("FreeSWITCH-IPv4", "127.0.0.1"), ("FreeSWITCH-IPv6", "::1"),
                ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))),
                ("Event-Date-GMT", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))),
                ("Event-Date-Timestamp", str(int(now * 1_000_000))),
                ("Event-Calling-File", calling[0]), ("Event-Calling-Function", calling[1]),
                ("Event-Calling-Line-Number", str(calling[2])),
                ("Event-Sequence", str(self._sequence))]

    def fire(self, name: str, headers: list[tuple[str, str]], body: str | None = None,
             calling: tuple[str, str, int] = ("switch_event.c", "switch_event_fire", 1),
             prefix: list[tuple[str, str]] | None = None) -> None:
        full = (prefix or []) + self.base_headers(name, calling) + headers
        subclass = next((v for k, v in full if k == "Event-Subclass"), None)
        for observe in self.observers:
            observe(name, full)
        targets = list(self.listeners)
        if self.bound:
            uid = next((v for k, v in headers if k == "Unique-ID"), None)
            if uid is not None and uid in self.bound:
                targets += self.bound[uid]
        for listener in targets:
            listener.deliver(name, subclass, full, body)

    def subscribe(self, session: Any) -> None:
        """(Re)file an event-enabled session where fire() will find it."""
        self.unsubscribe(session)
        if session.myevents and session.channel is not None:
            self.bound.setdefault(session.channel.uuid, []).append(session)
        else:
            self.listeners.append(session)

    def unsubscribe(self, session: Any) -> None:
        if session in self.listeners:
            self.listeners.remove(session)
        for uuid, sessions in list(self.bound.items()):
            if session in sessions:
                sessions.remove(session)
                if not sessions:
                    del self.bound[uuid]

    def control(self, session: Any, channel: Channel) -> None:
        self.controlling.setdefault(channel.uuid, []).append(session)

    # -- channels ------------------------------------------------------------------------------

    def add_channel(self, ch: Channel) -> None:
        self.channels[ch.uuid] = ch
        self.sessions_since_startup += 1

    def remove_channel(self, ch: Channel) -> None:
        self.channels.pop(ch.uuid, None)

    def session_ended(self, ch: Channel) -> None:
        """HANGUP_COMPLETE was fired: session-bound sockets get their disconnect/linger."""
        for session in self.controlling.pop(ch.uuid, []):
            session.channel_gone(ch)

    def admit(self) -> str | None:
        """None if a new session may start, else the hangup cause (max-sessions / sps)."""
        if len(self.channels) >= self.max_sessions:
            return "SWITCH_CONGESTION"
        now = time.monotonic()
        self._recent_creates = [t for t in self._recent_creates if now - t < 1.0]
        if len(self._recent_creates) >= self.sessions_per_second:
            return "SWITCH_CONGESTION"
        self._recent_creates.append(now)
        return None

    def place_call(self, destination: str, *, caller_id_number: str = "0000000000",
                   caller_id_name: str = "", context: str = "public",
                   variables: dict[str, str] | None = None,
                   remote: str = "127.0.0.1:5080") -> Channel:
        """A call arrives from outside (as a SIP INVITE on the external profile would).

        ``caller_id_name`` is the From's display name as sent: sofia keeps it verbatim in
        ``sip_from_display`` and url-decodes it into the caller profile (a real run: display
        ``Bob%0AEvil`` gives caller_id_name ``Bob<newline>Evil``)."""
        sip = {"sip_from_display": caller_id_name} if caller_id_name else {}
        ch = Channel(self, name=f"sofia/external/{caller_id_number}@{remote}",
                     caller_id_name=unquote(caller_id_name), caller_id_number=caller_id_number,
                     destination=destination, context=context,
                     variables={"sofia_profile_name": "external", **sip, **(variables or {})})
        refused = self.admit()
        self.add_channel(ch)
        ch.runner = gevent.spawn(self.run_channel, ch, refused)
        return ch

    def phone_call(self, user: str, destination: str, *, from_number: str | None = None,
                   name: str = "", variables: dict[str, str] | None = None) -> Channel:
        """A call from a registered phone on the internal profile, which challenged the
        INVITE and the phone answered with ``user``'s digest: sofia names the channel after
        the From (``from_number``, the phone's own choice, ``user`` by default), sets
        ``sip_authorized=true`` and the directory user's params and variables (``user_name``
        among them), and routes it in the user's context, ``default``."""
        number = from_number or user
        ch = Channel(self, name=f"sofia/internal/{number}@127.0.0.1", caller_id_name=name,
                     caller_id_number=number, destination=destination, context="default",
                          variables={"sofia_profile_name": "internal", "sip_authorized": "true",
                                **dict(self._user_vars(user)),
                                "presence_id": self.phone_presence_id or f"{number}@127.0.0.1",
                                **(variables or {})})
        refused = self.admit()
        self.add_channel(ch)
        ch.runner = gevent.spawn(self.run_channel, ch, refused)
        return ch

    def run_channel(self, ch: Channel, refused: str | None = None) -> None:
        """An inbound channel's life: created, routed through the dialplan, torn down."""
        try:
            ch.fire("CHANNEL_CREATE")
            if refused:
                ch.hangup(refused)
                return
            ch.set_state("CS_INIT")
            ch.set_state("CS_ROUTING")
            ch.presence("CS_ROUTING")
            self.route(ch)
        finally:
            if not ch.hungup.is_set():
                ch.hangup("NORMAL_CLEARING")
            ch.finish()

    def route(self, ch: Channel) -> None:
        """Hunt the dialplan and run the actions; a transfer hunts again (CS_ROUTING)."""
        while True:
            self._route_once(ch)
            if not (ch.transfer_pending and ch.ready):
                return
            ch.transfer_pending = False
            ch.interrupt.clear()
            ch.set_state("CS_ROUTING")

    def _route_once(self, ch: Channel) -> None:
        """Hunt the dialplan and run the actions; no route: NO_ROUTE_DESTINATION."""
        fields = {"destination_number": ch.profile["destination"],
                  "caller_id_number": ch.profile["caller_id_number"],
                  "caller_id_name": ch.profile["caller_id_name"],
                  "context": ch.profile["context"], "network_addr": "127.0.0.1",
                  "ani": ch.profile["caller_id_number"], "uuid": ch.uuid}
        actions = self.dialplan.hunt(ch.profile["context"], fields, ch.vars)
        if not actions:
            ch.hangup("NO_ROUTE_DESTINATION")
            return
        ch.state = "CS_EXECUTE"
        ch.fire("CHANNEL_STATE")
        ch.call_state = "RINGING"
        try:
            for app_name, data in actions:
                if not ch.ready or ch.transfer_pending:
                    break
                ch.execute(app_name, data)
        except Hangup:
            pass

    def transfer(self, ch: Channel, destination: str, context: str) -> None:
        """Leave whatever the channel runs (socket app, park, playback) and hunt again."""
        ch.times["transfer"] = uepoch()
        ch.profile["destination"] = destination
        ch.profile["context"] = context
        ch.transfer_pending = True
        ch.interrupt.set()
        ch.exec_ready.set()

    def channel(self, uuid: str) -> Channel | None:
        return self.channels.get(uuid)

    # -- the test's hands ----------------------------------------------------------------------

    def press(self, uuid: str, digits: str, gap: float = 0.0) -> None:
        """The caller on channel ``uuid`` presses keys (``gap``: seconds between keys)."""
        ch = self.channels.get(uuid)
        if ch is None:
            raise KeyError(f"no channel {uuid}")
        if not gap:
            ch.queue_dtmf(digits)
            return
        for d in digits:
            ch.queue_dtmf(d)
            gevent.sleep(gap * self.time_factor)

    def register(self, user: str, *, port: int = 5072, user_agent: str = "fakeswitch-phone",
                 call_id: str | None = None) -> None:
        """A SIP phone registers ``user`` on the internal profile (CUSTOM sofia::register)."""
        self.registrations[user] = {"port": str(port), "user_agent": user_agent,
                                    "call_id": call_id or f"{uuid_mod.uuid4().hex}@127.0.0.1"}
        reg = self.registrations[user]
        self.fire("CUSTOM", [
            ("profile-name", "internal"), ("from-user", user), ("from-host", "127.0.0.1"),
            ("presence-hosts", "127.0.0.1,127.0.0.1"),
            ("contact", f'"" <sip:{user}@127.0.0.1:{port}>'), ("call-id", reg["call_id"]),
            ("rpid", "unknown"), ("status", "Registered(UDP)"), ("expires", "60"),
            ("to-user", user), ("to-host", "127.0.0.1"), ("network-ip", "127.0.0.1"),
            ("network-port", str(port)), ("username", user), ("realm", "127.0.0.1"),
            ("user-agent", user_agent), *self._user_vars(user)],
            prefix=[("Event-Subclass", "sofia::register")],
            calling=("sofia_reg.c", "sofia_reg_handle_register_token", 2018))

    def unregister(self, user: str) -> None:
        reg = self.registrations.pop(user, None)
        if reg is None:
            return
        self.fire("PRESENCE_IN", [
            ("proto", "sip"), ("rpid", "unknown"), ("login", "sip:mod_sofia@127.0.0.1:5060"),
            ("user-agent", reg["user_agent"]), ("from", f"{user}@127.0.0.1"),
            ("status", "Unregistered"), ("presence-source", "register"),
            ("event_type", "presence")],
            calling=("sofia_reg.c", "sofia_reg_handle_register_token", 1742))
        self.fire("CUSTOM", [
            ("profile-name", "internal"), ("username", user), ("from-user", user),
            ("from-host", "127.0.0.1"), ("contact", f'"" <sip:{user}@127.0.0.1:{reg["port"]}>'),
            ("call-id", reg["call_id"]), ("rpid", "unknown"), ("realm", "127.0.0.1"),
            ("network-ip", "127.0.0.1"), ("network-port", reg["port"]),
            ("user-agent", reg["user_agent"]), ("expires", "0"), *self._user_vars(user)],
            prefix=[("Event-Subclass", "sofia::unregister")],
            calling=("sofia_reg.c", "sofia_reg_handle_register_token", 1755))

    @staticmethod
    def _user_vars(user: str) -> list[tuple[str, str]]:
        """The vanilla directory's parameters and variables of a user 10xx."""
        return [("sip_number_alias", user), ("sip_auth_username", user),
                ("sip_auth_realm", "127.0.0.1"), ("number_alias", user), ("user_name", user),
                ("domain_name", "127.0.0.1"), ("record_stereo", "true"),
                ("default_gateway", "example.com"), ("default_areacode", "918"),
                ("transfer_fallback_extension", "operator"),
                ("toll_allow", "domestic,international,local"), ("accountcode", user),
                ("user_context", "default"), ("effective_caller_id_name", f"Extension {user}"),
                ("effective_caller_id_number", user),
                ("outbound_caller_id_name", "FreeSWITCH"),
                ("outbound_caller_id_number", "0000000000"), ("callgroup", "techsupport")]

    def caller_hangs_up(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        ch = self.channels.get(uuid)
        if ch is not None:
            ch.hangup(cause)

    # -- API -----------------------------------------------------------------------------------

    def log_line(self, level: int, text: str, file: str, func: str, line: int) -> None:
        for s in list(self.log_listeners):
            s.log(level, text, file, func, line)

    def api_expand(self, command: str, arg: str) -> str:
        """``${cmd arg}`` inside an expanded string runs an API command, as in FreeSWITCH."""
        return self.api(f"{command} {arg}").rstrip("\n")

    def api(self, line: str, job_owner: str | None = None) -> str:
        from ivr_app.testing.fakeswitch.api import API

        cmd, _, arg = line.strip().partition(" ")
        fn = API.get(cmd)
        if fn is None:
            return f"-ERR {cmd} Command not found!\n"
        try:
            return fn(self, arg.strip())
        except Hangup:
            return "-ERR channel hung up\n"

    def status_text(self) -> str:
        up = int(time.time() - self.started)
        d, rem = divmod(up, 86400)
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return (f"UP 0 years, {d} days, {h} hours, {m} minute{'s' if m != 1 else ''}, "
                f"{s} seconds, 0 milliseconds, 0 microseconds\n"
                "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) "
                "is ready\n"
                f"{self.sessions_since_startup} session(s) since startup\n"
                f"{len(self.channels)} session(s) - peak {len(self.channels)}, last 5min 0 \n"
                f"0 session(s) per Sec out of max {self.sessions_per_second}, peak 0, "
                "last 5min 0 \n"
                f"{self.max_sessions} session(s) max\nmin idle cpu 0.00/99.00\n"
                "Current Stack Size/Max 240K/8192K\n")

    def channels_json(self) -> str:
        rows = []
        for ch in self.channels.values():
            if ch.hungup.is_set():
                continue
            rows.append({
                "uuid": ch.uuid, "direction": ch.direction,
                "created": time.strftime("%Y-%m-%d %H:%M:%S",
                                         time.localtime(ch.times["created"] / 1e6)),
                "created_epoch": str(ch.times["created"] // 1_000_000), "name": ch.name,
                "state": ch.state, "cid_name": ch.profile["caller_id_name"],
                "cid_num": ch.profile["caller_id_number"], "ip_addr": "",
                "dest": ch.profile["destination"],
                "application": ch.vars.get("current_application", ""),
                "application_data": ch.vars.get("current_application_data", ""),
                "dialplan": "XML", "context": ch.profile["context"],
                "read_codec": ch.codec[0], "read_rate": str(ch.codec[1]),
                "read_bit_rate": str(ch.codec[2]), "write_codec": ch.codec[0],
                "write_rate": str(ch.codec[1]), "write_bit_rate": str(ch.codec[2]),
                "secure": "", "hostname": self.hostname, "presence_id": "",
                "presence_data": "", "accountcode": "", "callstate": ch.call_state,
                "callee_name": "", "callee_num": "", "callee_direction": "",
                "call_uuid": ch.uuid, "sent_callee_name": "", "sent_callee_num": "",
                "initial_cid_name": ch.profile["caller_id_name"],
                "initial_cid_num": ch.profile["caller_id_number"], "initial_ip_addr": "",
                "initial_dest": ch.profile["destination"], "initial_dialplan": "XML",
                "initial_context": ch.profile["context"]})
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))

    def heartbeat(self) -> None:
        """Fire HEARTBEAT as FreeSWITCH does every 20 s (tests call it when they need one)."""
        up = int(time.time() - self.started)
        self.fire("HEARTBEAT", [
            ("Event-Info", "System Ready"), ("Up-Time", f"0 years, 0 days, {up} seconds"),
            ("FreeSWITCH-Version", "1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"),
            ("Uptime-msec", str(up * 1000)), ("Session-Count", str(len(self.channels))),
            ("Max-Sessions", str(self.max_sessions)),
            ("Session-Per-Sec", str(self.sessions_per_second)),
            ("Session-Per-Sec-Last", "0"), ("Session-Per-Sec-Max", "0"),
            ("Session-Per-Sec-FiveMin", "0"),
            ("Session-Since-Startup", str(self.sessions_since_startup)),
            ("Session-Peak-Max", "0"), ("Session-Peak-FiveMin", "0"), ("Idle-CPU", "99.000000")],
            calling=("switch_core.c", "send_heartbeat", 84))


def now_uepoch() -> int:
    return uepoch()

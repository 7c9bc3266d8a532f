"""The Call: one thin object per call handed to us over the outbound socket.

Its methods look blocking and return results, so a handler reads like the call flow::

    call.answer()
    digits = call.play_and_get_digits("menu.wav", invalid="invalid.wav", max_digits=4)
    outcome = call.bridge(DialString.simultaneous([Leg("user/1001")]))

Every application is sent with its own ``Event-UUID`` and completes when the
CHANNEL_EXECUTE_COMPLETE whose ``Application-UUID`` equals it arrives. greenswitch instead waits
for the next completion *with the same application name*, so two playbacks in a row (or a
playback started by someone else) are confused (tests/esl/test_greenswitch_defects.py).

Every value from outside passes :mod:`ivr_app.esl.quoting`. A caller hanging up makes the next
command or wait raise :class:`CallEnded`; the final events (hangup cause, CDR variables) are
still read by :meth:`finish`.
"""

from __future__ import annotations

import contextlib
import uuid as uuid_mod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import gevent.queue

from ivr_app.esl.callerid import exact_caller_id
from ivr_app.esl.connection import EslConnection
from ivr_app.esl.dialstring import DialString
from ivr_app.esl.errors import CallEnded, CommandFailed, EslError
from ivr_app.esl.events import Event
from ivr_app.esl.quoting import Regex, Target, app_args, quote
from ivr_app.esl.running import Running, stop_running
from ivr_app.esl.wire import Message

DEFAULT_APP_TIMEOUT = 600.0  # seconds a single application may run (playback, digits, ...)
BRIDGE_TIMEOUT = 4 * 3600.0  # a bridged conversation


@dataclass(frozen=True)
class BridgeOutcome:
    """What a bridge came to. ``answered``: someone took the call (and the conversation is over
    when this returns); otherwise ``cause`` says why not (NO_ANSWER, USER_BUSY, ...)."""

    answered: bool
    cause: str
    peer_uuid: str | None
    dial_status: str | None


class Call:
    def __init__(self, conn: EslConnection, channel_data: Message, log: Any,
                 command_timeout: float = 10.0):
        self.conn = conn
        self.data = dict(channel_data.headers)
        self._connect_head = channel_data.head  # raw, for load_exact_caller_id
        self.uuid: str = self.data.get("Unique-ID") or self.data.get("Channel-Unique-ID") or ""
        self.log = log.bind(call_uuid=self.uuid)
        self.command_timeout = command_timeout
        self.hangup_cause: str | None = None
        self.final_event: Event | None = None
        self._hung_up = gevent.event.Event()
        self._complete = gevent.event.Event()
        self._lingering = False
        self._waiters: dict[str, gevent.event.AsyncResult] = {}
        self._starting: dict[str, gevent.event.Event] = {}  # Application-UUID -> started
        self._event_waiters: list[tuple[Callable[[Event], bool], gevent.event.AsyncResult]] = []
        self._listeners: dict[str, list[Callable[[Event], None]]] = {}
        self.dtmf: gevent.queue.Queue[str] = gevent.queue.Queue()
        self._continue_on_fail = False
        conn.on_event = self._on_event
        conn.on_notice = self._on_notice
        conn.on_close = self._on_close

    # -- what FreeSWITCH told us at connect ----------------------------------------------------

    def load_exact_caller_id(self) -> None:
        """Make the caller's name and number exactly what the caller sent
        (ivr_app/esl/callerid.py)."""
        self.data.update(exact_caller_id(self.data, self._connect_head, self._getvar))

    def _getvar(self, name: str) -> str | None:
        try:
            value = self.api("uuid_getvar", self.uuid, name)
        except EslError as exc:
            self.log.warning("caller id not re-read", variable=name, error=str(exc))
            return None
        return None if value == "_undef_" else value

    @property
    def caller_id_number(self) -> str:
        return self.data.get("Caller-Caller-ID-Number", "")

    @property
    def caller_id_name(self) -> str:
        return self.data.get("Caller-Caller-ID-Name", "")

    @property
    def destination_number(self) -> str:
        return self.data.get("Caller-Destination-Number", "")

    @property
    def authenticated_user(self) -> str | None:
        """The directory user FreeSWITCH authenticated this call as, or None: sofia sets
        ``sip_authorized=true`` and the user's ``user_name`` once the INVITE's digest (or an
        ACL naming the user) passed. Unlike the caller ID, the From a phone chooses itself,
        no caller can claim another user here."""
        if self.data.get("variable_sip_authorized") != "true":
            return None
        return self.data.get("variable_user_name") or None

    def variable(self, name: str) -> str | None:
        """A channel variable as it was at connect time (see :meth:`get` for the live value)."""
        return self.data.get("variable_" + name)

    def final_cause(self, wait: float = 2.0) -> str | None:
        """The hangup cause once the call is over. The linger notice can arrive before
        CHANNEL_HANGUP (outbound-hangup-behind-locked-playback; a real queue call showed it),
        so the call may look ended before its cause is known: wait a little for it."""
        if self.hangup_cause is None and self.ended:
            self._complete.wait(wait)
        return self.hangup_cause

    @property
    def ended(self) -> bool:
        return self._hung_up.is_set() or self.conn.closed.is_set()

    # -- event intake (runs in the connection's reader greenlet: never blocks) -----------------

    def _on_event(self, event: Event) -> None:
        name = event.name
        if name == "CHANNEL_EXECUTE":
            started = self._starting.pop(event.get("Application-UUID") or "", None)
            if started is not None:
                started.set()
        elif name == "CHANNEL_EXECUTE_COMPLETE":
            app_uuid = event.get("Application-UUID") or ""
            started = self._starting.pop(app_uuid, None)
            if started is not None:
                started.set()
            waiter = self._waiters.pop(app_uuid, None)
            if waiter is not None:
                waiter.set(event)
        elif name == "DTMF":
            digit = event.get("DTMF-Digit")
            if digit:
                self.dtmf.put(digit)
        elif name == "CHANNEL_HANGUP":
            self._mark_hung_up(event.get("Hangup-Cause"))
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self.final_event = event
            self._mark_hung_up(event.get("Hangup-Cause"))
            self._complete.set()
            gevent.spawn(self._fail_waiters, CallEnded(self.uuid, self.hangup_cause))
        for listener in [*self._listeners.get(name, ()), *self._listeners.get("*", ())]:
            try:
                listener(event)
            except Exception:
                self.log.exception("event listener failed", event_name=name)
        for pred, result in list(self._event_waiters):
            try:
                matched = pred(event)
            except Exception as exc:  # noqa: BLE001 - the waiter gets its own fault; reading goes on
                self._event_waiters.remove((pred, result))
                result.set_exception(exc)
                continue
            if matched:
                self._event_waiters.remove((pred, result))
                result.set(event)

    def _on_close(self) -> None:
        self._mark_hung_up(self.hangup_cause)
        self._fail_waiters(CallEnded(self.uuid, self.hangup_cause))

    def _on_notice(self, msg: Message) -> None:
        if msg.get("Content-Disposition") == "linger":
            self._lingering = True
            self._mark_hung_up(self.hangup_cause)

    def _mark_hung_up(self, cause: str | None) -> None:
        if cause and not self.hangup_cause:
            self.hangup_cause = cause
        if self._hung_up.is_set():
            return
        self._hung_up.set()
        ended = CallEnded(self.uuid, self.hangup_cause)
        # An application still running is over with the channel: its waiter gets CallEnded
        # unless its EXECUTE_COMPLETE arrives first (FreeSWITCH sends it right after HANGUP).
        gevent.spawn_later(0.5, self._fail_waiters, ended)

    def _fail_waiters(self, exc: Exception) -> None:
        waiters, self._waiters = self._waiters, {}
        for w in waiters.values():
            if not w.ready():
                w.set_exception(exc)
        self._starting.clear()
        ev_waiters, self._event_waiters = self._event_waiters, []
        for _pred, r in ev_waiters:
            if not r.ready():
                r.set_exception(exc)

    def _raise_if_ended(self) -> None:
        if self.ended:
            raise CallEnded(self.uuid, self.hangup_cause)

    def on(self, event_name: str, listener: Callable[[Event], None]) -> None:
        """Call ``listener(event)`` for each of this call's ``event_name`` events ("*": all)."""
        self._listeners.setdefault(event_name, []).append(listener)

    def off(self, event_name: str, listener: Callable[[Event], None]) -> None:
        """Stop calling a listener added with :meth:`on`."""
        listeners = self._listeners.get(event_name, [])
        if listener in listeners:
            listeners.remove(listener)

    def wait_for_event(self, predicate: Callable[[Event], bool], timeout: float) -> Event:
        """The next event of this call for which ``predicate`` holds; CallEnded or Timeout."""
        self._raise_if_ended()
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self._event_waiters.append((predicate, result))
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            self._event_waiters = [w for w in self._event_waiters if w[1] is not result]
            raise

    # -- commands ------------------------------------------------------------------------------

    def _command(self, text: str, body: bytes | None = None) -> Message:
        reply = self.conn.command(text, body=body, timeout=self.command_timeout)
        if reply.reply_text.startswith("-ERR"):
            raise CommandFailed(text.splitlines()[0], reply.reply_text)
        return reply

    def execute(self, app: str, arg: str | None = None, *, wait: bool = True,
                timeout: float = DEFAULT_APP_TIMEOUT) -> Event | None:
        """Run a dialplan application on this call; with ``wait``, until it completes.

        ``arg`` must already have passed the quoting gate (the typed methods below do that)."""
        running = self.start(app, arg, track=wait)
        if not wait:
            return None
        try:
            return running.get(timeout=timeout)
        except gevent.Timeout:
            self._waiters.pop(running.app_uuid, None)
            self._starting.pop(running.app_uuid, None)
            raise EslError(f"{app} did not complete within {timeout} s") from None

    def start(self, app: str, arg: str | None = None, *, track: bool = True) -> Running:
        """Start an application and return at once (see :class:`Running`). Music on hold
        runs like this while the flow goes on, and :meth:`stop` ends it."""
        self._raise_if_ended()
        app = quote(app, Target.VAR_NAME, "application")
        running = Running(app, str(uuid_mod.uuid4()))
        lines = ["sendmsg", "call-command: execute", f"execute-app-name: {app}"]
        if arg:
            lines.append(f"execute-app-arg: {quote(arg, Target.HEADER, app + ' argument')}")
        lines += [f"Event-UUID: {running.app_uuid}", "event-lock: true"]
        if track:
            self._waiters[running.app_uuid] = running.done
            self._starting[running.app_uuid] = running.started
        try:
            self._command("\n".join(lines))
        except Exception:
            self._waiters.pop(running.app_uuid, None)
            self._starting.pop(running.app_uuid, None)
            raise
        return running

    def api(self, command: str, *args: str) -> str:
        """An API command over this call's socket; returns the body (``-ERR ...`` raises)."""
        line = " ".join([quote(command, Target.VAR_NAME, "api command"),
                         *(quote(a, Target.HEADER, "api argument") for a in args)])
        reply = self.conn.command(f"api {line}", timeout=self.command_timeout)
        text = reply.body.decode("utf-8", "replace")
        if text.startswith("-ERR"):
            raise CommandFailed(f"api {command}", text.strip())
        return text

    # -- the verbs handlers use ----------------------------------------------------------------

    def answer(self) -> None:
        self.execute("answer")

    def pre_answer(self) -> None:
        self.execute("pre_answer")

    def hangup(self, cause: str = "NORMAL_CLEARING", timeout: float = 5.0) -> None:
        """Hang up with ``cause`` and wait for the channel to be down. Never raises CallEnded.

        ``uuid_kill``, not ``sendmsg call-command: hangup``: a sendmsg hangup is queued behind
        an application started with event-lock (endless hold music: the caller would never
        be hung up; captured in outbound-hangup-behind-locked-playback), uuid_kill acts at
        once."""
        if self.ended:
            return
        cause = quote(cause, Target.VAR_NAME, "hangup cause")
        try:
            self.api("uuid_kill", self.uuid, cause)
        except EslError:
            return
        self._hung_up.wait(timeout)

    def playback(self, path: str, timeout: float = DEFAULT_APP_TIMEOUT) -> str:
        """Play a file or tone; returns FreeSWITCH's response (``FILE PLAYED``, ...)."""
        ev = self.execute("playback", quote(path, Target.APP_ARG, "playback path"),
                          timeout=timeout)
        response = ev.get("Application-Response", "") if ev else ""
        if response and response != "FILE PLAYED":
            self.log.warning("playback did not play", path=path, response=response)
        return response or ""

    def play_and_get_digits(
        self,
        prompt: str,
        *,
        invalid: str = "silence_stream://250",
        min_digits: int = 1,
        max_digits: int = 1,
        tries: int = 3,
        timeout_ms: int = 5000,
        terminators: str = "#",
        regex: str | None = None,
        digit_timeout_ms: int | None = None,
        variable: str = "ivr_app_digits",
        app_timeout: float | None = None,
    ) -> str | None:
        """Prompt, collect digits, retry on timeout or invalid entry (playing ``invalid``).

        Returns the digits (terminator stripped) or None when every try failed."""
        if not 1 <= min_digits <= max_digits <= 128:
            raise ValueError("need 1 <= min_digits <= max_digits <= 128")
        regex = regex or rf"^[0-9*#]{{{min_digits},{max_digits}}}$"
        words: list[object] = [min_digits, max_digits, tries, timeout_ms, terminators or "none",
                               prompt, invalid, variable, Regex(regex)]
        if digit_timeout_ms is not None:
            words.append(digit_timeout_ms)
        quote(variable, Target.VAR_NAME, "digits variable")
        if app_timeout is None:
            per_try = timeout_ms + (digit_timeout_ms or timeout_ms) * max_digits
            app_timeout = tries * (per_try / 1000.0 + 60.0)
        ev = self.execute("play_and_get_digits", app_args(*words, what="play_and_get_digits"),
                          timeout=app_timeout)
        digits = ev.variable(variable) if ev else None
        return digits or None

    def say(self, text: str, *, language: str = "en", kind: str = "number",
            method: str = "pronounced", gender: str | None = None) -> None:
        words: list[object] = [language, kind, method]
        if gender:
            words.append(gender)
        words.append(text)
        self.execute("say", app_args(*words, what="say"))

    def set(self, name: str, value: str) -> None:
        """Set a channel variable (the value is taken literally, never expanded)."""
        name = quote(name, Target.VAR_NAME, "variable name")
        self.execute("set", f"{name}={quote(value, Target.SET_VALUE, name)}")

    def get(self, name: str) -> str | None:
        """The live value of a channel variable, or None if it is not set."""
        self._raise_if_ended()
        value = self.api("uuid_getvar", self.uuid, quote(name, Target.VAR_NAME, "variable"))
        return None if value == "_undef_" else value

    def bridge(self, dial: DialString, timeout: float = BRIDGE_TIMEOUT) -> BridgeOutcome:
        """Bridge to the dial string; returns when the bridge attempt or conversation is over.

        ``continue_on_fail`` is set first: without it FreeSWITCH hangs the caller up when the
        bridge fails with most causes (switch_channel_handle_cause), and no fallback could run."""
        if not self._continue_on_fail:
            self.set("continue_on_fail", "true")
            self._continue_on_fail = True
        ev = self.execute("bridge", quote(dial.render(), Target.APP_ARG, "dial string"),
                          timeout=timeout)
        assert ev is not None
        peer = ev.variable("last_bridge_to") or ev.variable("bridge_to")
        disposition = ev.variable("originate_disposition") or ""
        answered = bool(peer) and disposition.upper() in ("SUCCESS", "CALL ACCEPTED")
        if answered:
            # last_bridge_hangup_cause is set by whichever leg hung up last: on a real
            # FreeSWITCH that can be a ring-all loser (LOSE_RACE) after the winner talked,
            # which never says how a conversation ended
            cause = ev.variable("last_bridge_hangup_cause") or "NORMAL_CLEARING"
            if cause == "LOSE_RACE":
                cause = "NORMAL_CLEARING"
        else:
            cause = disposition or ev.get("Application-Response") or "UNKNOWN"
        return BridgeOutcome(answered, cause, peer, ev.variable("DIALSTATUS"))

    def record_session(self, path: str) -> None:
        """Start recording the whole call to ``path`` (stops at hangup or stop_record_session)."""
        self.execute("record_session", quote(path, Target.APP_ARG, "recording path"))

    def stop_record_session(self, path: str) -> None:
        self.execute("stop_record_session", quote(path, Target.APP_ARG, "recording path"))

    def park(self) -> None:
        """Park the call (it stays up, silent, until someone acts on it)."""
        self.execute("park", wait=False)

    def transfer(self, destination: str, dialplan: str = "XML", context: str = "default") -> None:
        """Transfer to another extension; the call leaves this socket."""
        arg = app_args(quote(destination, Target.DIAL_TARGET, "transfer destination"),
                       dialplan, context, what="transfer")
        self.execute("transfer", arg, wait=False)

    def sleep(self, ms: int) -> None:
        self.execute("sleep", str(int(ms)))

    def break_(self, all_queued: bool = False) -> None:
        """Stop what is playing now (from another greenlet than the one running the flow).
        FreeSWITCH loses a break that arrives before the next application starts (it clears
        CF_BREAK as each one starts): to stop something you started, use :meth:`stop`."""
        self._raise_if_ended()
        args = [self.uuid, "all"] if all_queued else [self.uuid]
        self.api("uuid_break", *args)

    def stop(self, running: Running, *, start_wait: float = 2.0, end_wait: float = 2.0,
             tries: int = 3) -> bool:
        """End an application started with :meth:`start` (hold music); True once it is over
        (ivr_app/esl/running.py: it waits for the start, since FreeSWITCH loses a break sent
        before; never raises Timeout)."""
        return stop_running(self, running, start_wait=start_wait, end_wait=end_wait,
                            tries=tries)

    def start_playback(self, path: str) -> Running:
        """Start playing (music on hold: an endless stream) without waiting; stop it with
        :meth:`stop`. Its ``done`` is set when the playback ends."""
        return self.start("playback", quote(path, Target.APP_ARG, "playback path"))

    def flush_dtmf(self) -> None:
        """Forget every key pressed so far, here and in FreeSWITCH: a step that reads keys of
        its own starts clean. FreeSWITCH sends a DTMF event for every key, including the ones
        play_and_get_digits consumed, and keys pressed between applications wait in the
        channel's queue for the next reader (``flush_dtmf`` empties that). The events go
        first: a key pressed while flush_dtmf runs is a key for the new step, and its event
        (sent after the ones already here, on the same socket) is kept."""
        self.clear_dtmf_events()
        self.execute("flush_dtmf")

    def clear_dtmf_events(self) -> None:
        """Forget the DTMF events received so far (the keys a finished step already used)."""
        while True:
            try:
                self.dtmf.get_nowait()
            except gevent.queue.Empty:
                return

    def displace(self, path: str, *, mux: bool = True, limit_s: int = 0) -> None:
        """Play ``path`` over whatever the caller hears (``uuid_displace ... mux``): the music
        goes on underneath. It ends by itself at the end of the file, or with
        :meth:`stop_displace`. A displace is a media bug on the channel: it outlives
        ``uuid_break`` and a bridge, so stop it before connecting the caller to anyone."""
        self._raise_if_ended()
        args = [self.uuid, "start", quote(path, Target.APP_ARG, "displace path"),
                str(int(limit_s))]
        if mux:
            args.append("mux")
        self.api("uuid_displace", *args)

    def stop_displace(self, path: str) -> bool:
        """Stop a displace started with :meth:`displace`; False when it had already ended."""
        if self.ended:
            return False
        try:
            self.api("uuid_displace", self.uuid, "stop",
                     quote(path, Target.APP_ARG, "displace path"))
        except CommandFailed:
            return False
        return True

    def say_string(self, text: str, *, language: str = "en", kind: str = "number",
                   method: str = "pronounced", ext: str = "wav") -> list[str]:
        """The files FreeSWITCH's say module would play for ``text`` (``say_string``), in
        order, as FreeSWITCH returned them (sound paths relative to its sounds directory).
        Used to speak numbers over music with :meth:`displace`, where ``say`` cannot run."""
        words = [quote(w, Target.ARG_TOKEN, "say_string argument")
                 for w in (f"{language}.{ext}", language, kind, method, text)]
        result = self.api("say_string", *words).strip()
        prefix = "file_string://"
        body = result[len(prefix):] if result.startswith(prefix) else result
        return [part for part in body.split("!") if part]

    def user_exists(self, user: str, domain: str, key: str = "id") -> bool:
        """Is ``user`` in FreeSWITCH's own directory? ``user_exists id <user> <domain>``:
        mod_commands.c (_find_user with tf) answers exactly ``true`` or ``false``, also
        ``false`` for missing arguments; it never says -ERR."""
        words = [quote(w, Target.ARG_TOKEN, "user_exists argument") for w in (key, user, domain)]
        return self.api("user_exists", *words).strip() == "true"

    def send_dtmf(self, digits: str) -> None:
        self.execute("send_dtmf", quote(digits, Target.DTMF, "dtmf"))

    def wait_until_ended(self, timeout: float = BRIDGE_TIMEOUT) -> bool:
        """Hold the flow until the call is over (parked, queued elsewhere); True if it ended."""
        return bool(gevent.wait([self._hung_up, self.conn.closed], count=1, timeout=timeout))

    # -- the end ------------------------------------------------------------------------------

    def finish(self, timeout: float = 5.0) -> Event | None:
        """Make sure the call is down, read its final events, say goodbye to the socket.

        Returns CHANNEL_HANGUP_COMPLETE (hangup cause, CDR variables) if it arrived in time;
        None at once for a call handed back to the dialplan (the socket closed, the channel
        going on without us)."""
        if self.conn.closed.is_set() and not self._hung_up.is_set():
            return None
        if not self.ended:
            self.hangup()
        self._complete.wait(timeout)
        if not self.conn.closed.is_set():
            with contextlib.suppress(EslError):
                self.conn.command("exit", timeout=2.0)
            self.conn.wait_closed(2.0)
            self.conn.close("call finished")
        if self.final_event is None:
            self.log.warning("no CHANNEL_HANGUP_COMPLETE before the socket closed")
        return self.final_event

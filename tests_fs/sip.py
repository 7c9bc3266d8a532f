"""Real SIP for the real-FreeSWITCH layer, with SIPp (Debian's sip-tester):

* :meth:`Sip.phone`: a SIP phone registered to the internal profile with digest auth (a
  REGISTER run, then a UAS that rings and answers, or never answers, or presses keys after
  answering); unregistered, it is a far end behind the test's PSTN gateway;
* :meth:`Sip.call`: one call into a profile with a caller ID and name, pressing keys as SIP
  INFO (application/dtmf-relay) or RFC 2833 (telephone-event RTP from sip-tester's pcaps) at
  given moments, then hanging up or waiting for FreeSWITCH to.

Each scenario is written from Python into a temporary directory; each SIPp is its own process
on its own loopback port, stopped by the harness.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr_app.testing.waiting import wait_until

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
PCAPS = Path("/usr/share/sip-tester")
_ports = itertools.count(15100, 2)


def rtp_port(sip_port: int) -> int:
    """SIPp's RTP port for the scenario on SIP port ``sip_port``. SIPp binds that port and
    the next three (RTCP, video), and scenarios' SIP ports are 2 apart: 4 apart here, and
    above FreeSWITCH's own RTP range (switch.conf.xml rtp-start-port / rtp-end-port,
    16384-32768). Before, p + 10000 let a caller's media port be one FreeSWITCH, or the
    scenario 2 ports below, already held: SIPp stopped at once ("Unable to bind audio RTP
    socket ... Address already in use") without sending its INVITE."""
    return 40000 + 2 * (sip_port - 15100)

SDP = """v=0
o=sipp 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv"""

REPLY = "[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]"
TAG = ";tag=[pid]SIPpTag01[call_number]"


def _scenario(name: str, body: str) -> str:
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
            '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<scenario name="{name}">\n{body}\n</scenario>\n')


def _send(text: str, retrans: bool = False, after: str = "") -> str:
    lines = "\n".join(line.strip() for line in text.strip().splitlines())
    attrs = (' retrans="500"' if retrans else "") + (f' next="{after}"' if after else "")
    return f"<send{attrs}><![CDATA[\n{lines}\n\n]]></send>"


class _Requests:
    """In-dialog requests of one side: CSeq numbers and the dialog's headers."""

    def __init__(self, dialog: str, uri: str):
        self.dialog, self.uri, self.cseq = dialog, uri, 1

    def request(self, method: str, extra: str = "", body: str = "") -> str:
        self.cseq += 1
        head = (f"{method} {self.uri} SIP/2.0\n"
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
                f"{self.dialog}\nCSeq: {self.cseq} {method}\nMax-Forwards: 70\n{extra}")
        length = "Content-Length: [len]\n\n" + body if body else "Content-Length: 0"
        return _send(head + length, retrans=True) + '\n<recv response="200"/>'

    def keys(self, steps: list[tuple[float, str, str]]) -> str:
        """(seconds after the previous step, "info" | "rfc2833", digits)."""
        out = []
        for delay, how, digits in steps:
            out.append(f'<pause milliseconds="{int(delay * 1000)}"/>')
            for d in digits:
                if how == "rfc2833" and d.isdigit():
                    pcap = PCAPS / f"dtmf_2833_{d}.pcap"
                    out.append(f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
                    out.append('<pause milliseconds="400"/>')
                else:
                    out.append(self.request("INFO", "Content-Type: application/dtmf-relay\n",
                                            f"Signal={d}\nDuration=160"))
                    out.append('<pause milliseconds="150"/>')
        return "\n".join(out)


@dataclass(frozen=True)
class FarEnd:
    answer_after: float | None = 0.5  # None: rings until cancelled
    press: str = ""  # keys pressed (SIP INFO) after answering
    press_after: float = 1.0
    talk: float = 3.0  # then it hangs up
    then: tuple[tuple[float, str], ...] = ()  # more keys: (seconds after the previous, keys)


_INVITE = "\n".join([
    '<recv request="INVITE" crlf="true"><action>',
    '  <ereg regexp=".*" search_in="hdr" header="Via:" assign_to="via"/>',
    '  <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>',
    '  <ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>',
    '  <ereg regexp=".*" search_in="hdr" header="Call-ID:" assign_to="callid"/>',
    '  <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>',
    '  <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseqn"/>',
    "</action></recv>"])


def _answer(p: str, far: FarEnd) -> str:
    """After the INVITE: ring, then answer (or be cancelled), press keys, talk, hang up or
    be hung up; every way ends at label ``done``. Labels are prefixed with ``p``."""
    ours = "Contact: <sip:[service]@[local_ip]:[local_port]>"
    dialog = _Requests(f"From: [$to]{TAG}\nTo: [$from]\nCall-ID: [$callid]", "[$contact]")
    wait = "" if far.answer_after is None else \
        f' timeout="{int(far.answer_after * 1000)}" ontimeout="{p}answer"'
    steps = [(far.press_after, "info", far.press)] if far.press else []
    keys = dialog.keys(steps + [(after, "info", k) for after, k in far.then])
    return "\n".join([
        _send("SIP/2.0 180 Ringing\n[last_Via:]\n[last_From:]\n[last_To:]" + TAG +
              "\n[last_Call-ID:]\n[last_CSeq:]\n" + ours + "\nContent-Length: 0"),
        f'<recv request="CANCEL"{wait} next="{p}cancelled"/>',
        f'<label id="{p}answer"/>',
        _send("SIP/2.0 200 OK\nVia: [$via]\nFrom: [$from]\nTo: [$to]" + TAG +
              "\nCall-ID: [$callid]\nCSeq: [$cseqn] INVITE\n" + ours +
              "\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + SDP,
              retrans=True),
        '<recv request="ACK"/>',
        keys,
        f'<recv request="BYE" timeout="{int(far.talk * 1000)}" ontimeout="{p}hangup" '
        f'next="{p}bye"/>',
        f'<label id="{p}hangup"/>',
        dialog.request("BYE").replace('<recv response="200"/>',
                                      '<recv response="200" next="done"/>'),
        f'<label id="{p}bye"/>',
        _send("SIP/2.0 200 OK\n" + REPLY + "\nContent-Length: 0", after="done"),
        f'<label id="{p}cancelled"/>',
        _send("SIP/2.0 200 OK\n" + REPLY + "\nContent-Length: 0"),
        _send("SIP/2.0 487 Request Terminated\nVia: [$via]\nFrom: [$from]\nTo: [$to]" + TAG +
              "\nCall-ID: [$callid]\nCSeq: [$cseqn] INVITE\nContent-Length: 0"),
        '<recv request="ACK" next="done"/>',
    ])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def messages(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Sip:
    """Where the switch's profiles listen, the phones' SIP password, and a directory for the
    scenarios and SIPp's message logs."""

    def __init__(self, internal: str, external: str, password: str):
        self.internal, self.external, self.password = internal, external, password
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-app-sipp-"))
        self.procs: list[Proc] = []
        self.registered: list[tuple[str, int]] = []

    def close(self) -> None:
        for p in self.procs:
            p.stop()
        for user, port in self.registered:
            with contextlib.suppress(AssertionError):
                self.register(user, port, 0)  # un-REGISTER: the next test's phone is alone

    def _run(self, name: str, xml: str, args: list[str], port: int) -> Proc:
        path = self.dir / f"{name}.xml"
        path.write_text(xml)
        log = self.dir / f"{name}.msg"
        cmd = [SIPP, "-sf", str(path), "-nostdin", "-trace_msg", "-message_file", str(log),
               "-trace_err", "-error_file", str(self.dir / f"{name}.err"), *args]
        popen = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=self.dir)
        proc = Proc(name, popen, log, port)
        self.procs.append(proc)
        return proc

    # -- phones --------------------------------------------------------------------------------

    def phone(self, user: str, *, answer_after: float | None = 0.5, press: str = "",
              press_after: float = 1.0, talk: float = 3.0, calls: int = 50,
              then: tuple[tuple[float, str], ...] = ()) -> Proc:
        """A SIP phone registered as ``user`` on the internal profile (digest auth).
        ``answer_after`` None: it rings until cancelled. After answering it presses
        ``press`` (SIP INFO), then each of ``then`` (seconds after the previous keys, keys),
        and hangs up after ``talk`` seconds (unless hung up first)."""
        port = next(_ports)
        far = FarEnd(answer_after, press, press_after, talk, then)
        body = "\n".join([_INVITE, _answer("a", far),
                          '<label id="done"/>'])
        uas = self._run(f"phone-{user}-{port}", _scenario(f"phone-{user}", body),
                        ["-s", user, "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
                         "-mp", str(rtp_port(port)), "-m", str(calls), "-rtp_echo"], port)
        self.register(user, port, 300)
        self.registered.append((user, port))
        return uas

    def pstn(self, port: int, far_ends: dict[str, FarEnd], calls: int = 200) -> Proc:
        """The stand-in for the carrier behind the gateway: one UAS on ``port`` that acts as
        the far end of each number dialled through it (a mobile that answers at once and
        never presses the confirm key, one that presses it, ...); other numbers: 404."""
        branches, blocks = [], []
        for i, far in enumerate(far_ends.values()):
            branches.append(f'<nop test="n{i}" next="b{i}"/>')
            blocks.append(f'<label id="b{i}"/>\n' + _answer(f"b{i}", far))
        checks = "\n".join(
            f'  <ereg regexp="^INVITE sip:\\+?{n.lstrip("+")}@" search_in="msg" '
            f'check_it="false" assign_to="n{i}"/>' for i, n in enumerate(far_ends))
        invite = _INVITE.replace("</action></recv>", checks + "\n</action></recv>")
        body = "\n".join([invite, *branches,
                          _send("SIP/2.0 404 Not Found\n[last_Via:]\n[last_From:]\n"
                                "[last_To:]" + TAG + "\n[last_Call-ID:]\n[last_CSeq:]\n"
                                "Content-Length: 0"),
                          '<recv request="ACK" next="done"/>', *blocks, '<label id="done"/>'])
        proc = self._run(f"pstn-{port}", _scenario("pstn", body),
                         ["-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
                          "-mp", str(rtp_port(port)), "-m", str(calls), "-rtp_echo"], port)
        return proc

    def register(self, user: str, contact_port: int, expires: int) -> None:
        """REGISTER ``user`` (digest auth) with its Contact on ``contact_port``."""
        port = next(_ports)
        req = ("REGISTER sip:[remote_ip]:[remote_port] SIP/2.0\n"
               "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
               "From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]\n"
               "To: <sip:[service]@[remote_ip]>\nCall-ID: [call_id]\nCSeq: {cseq} REGISTER\n"
               f"Contact: <sip:[service]@[local_ip]:{contact_port}>\n{{auth}}"
               f"Expires: {expires}\nMax-Forwards: 70\nUser-Agent: ivr-app-test-fs\n"
               "Content-Length: 0")
        xml = _scenario("register", "\n".join([
            _send(req.format(cseq=1, auth=""), True),
            '<recv response="401" auth="true"/>',
            _send(req.format(cseq=2, auth="[authentication]\n"), True),
            '<recv response="200"/>']))
        proc = self._run(f"register-{user}-{port}", xml,
                         [self.internal, "-s", user, "-i", "127.0.0.1", "-p", str(port),
                          "-au", user, "-ap", self.password, "-m", "1"], port)
        if proc.wait(15) != 0:
            proc.stop()
            raise AssertionError(f"REGISTER {user} failed:\n{proc.messages()[-3000:]}")

    def subscribe(self, user: str, to: str, *, event: str = "presence",
                  accept: str = "application/pidf+xml", expires: int = 120,
                  quiet: float = 60.0) -> Proc:
        """A phone ``user`` SUBSCRIBEs (digest auth) to ``to``'s ``event`` on the internal
        profile, then answers every NOTIFY with 200 OK until none came for ``quiet`` seconds.
        The NOTIFYs it got: :func:`received` of its message log."""
        port = next(_ports)
        req = ("SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
               "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
               f"From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag00[call_number]\n"
               "To: <sip:[service]@[remote_ip]>\nCall-ID: [call_id]\nCSeq: {cseq} SUBSCRIBE\n"
               f"Contact: <sip:{user}@[local_ip]:[local_port]>\n{{auth}}Event: {event}\n"
               f"Accept: {accept}\nExpires: {expires}\nMax-Forwards: 70\n"
               "User-Agent: ivr-app-test-fs\nContent-Length: 0")
        notify_ok = _send("SIP/2.0 200 OK\n" + REPLY + "\nContent-Length: 0", after="notify")
        xml = _scenario("subscribe", "\n".join([
            _send(req.format(cseq=1, auth=""), True),
            # sofia challenges a SUBSCRIBE with 401 or 407 depending on the path it takes
            '<recv response="401" auth="true" optional="true" next="auth"/>',
            '<recv response="407" auth="true"/>',
            '<label id="auth"/>',
            _send(req.format(cseq=2, auth="[authentication]\n"), True),
            '<recv response="202" optional="true" next="notify"/>',
            '<recv response="200"/>',
            '<label id="notify"/>',
            f'<recv request="NOTIFY" timeout="{int(quiet * 1000)}" ontimeout="done"/>',
            notify_ok,
            '<label id="done"/>']))
        return self._run(f"subscribe-{user}-{to}-{port}", xml,
                         [self.internal, "-s", to, "-i", "127.0.0.1", "-p", str(port),
                          "-au", user, "-ap", self.password, "-m", "1"], port)

    # -- callers -------------------------------------------------------------------------------

    def call(self, to: str, *, number: str, name: str = "", profile: str = "external",
             keys: list[tuple[float, str, str]] | None = None,
             hangup_after: float | None = None, max_seconds: float = 120,
             auth_user: str | None = None, speak: Path | None = None,
             media_port: int | None = None, count: int = 1, rate: int = 1) -> Proc:
        """Call ``to`` from ``number`` ("name"). ``keys``: (seconds after the previous step,
        "info" | "rfc2833", digits), counted from the answer. Then hang up ``hangup_after``
        seconds later, or (None) wait for FreeSWITCH to hang up. ``speak``: audio the caller
        sends from the answer on (a message for voicemail; silence would be cut short).
        ``media_port``: the SDP offers that port on 127.0.0.1 instead of SIPp's own, so the
        test reads the RTP FreeSWITCH sends the caller (audio, RFC 2833 telephone-events).
        ``count`` calls like it, started ``rate`` per second (one SIPp; keys as SIP INFO,
        since the calls share SIPp's media port)."""
        port = next(_ports)
        sdp = SDP.replace("[media_port]", str(media_port)) if media_port else SDP
        display = f'"{name}" ' if name else ""
        me = f"{display}<sip:{number}@[local_ip]>;tag=[pid]SIPpTag00[call_number]"
        # the To of FreeSWITCH's 200 OK, tag included (after a 407 challenge SIPp's
        # [peer_tag_param] would still hold the 407's tag, and the BYE would get a 481)
        dialog = _Requests(f"From: {me}\nTo: [$peer_to]\nCall-ID: [call_id]", "[next_url]")
        invite = _send(
            "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            f"From: {me}\nTo: <sip:[service]@[remote_ip]:[remote_port]>\nCall-ID: [call_id]\n"
            f"CSeq: 1 INVITE\nContact: <sip:{number}@[local_ip]:[local_port]>\n"
            "Max-Forwards: 70\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + sdp,
            retrans=True)
        ack = _send("ACK [next_url] SIP/2.0\n"
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
                    f"{dialog.dialog}\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0")
        challenge = []
        if auth_user:
            # the internal profile challenges a phone's INVITE: ACK the 407, INVITE again
            challenge = ['<recv response="100" optional="true"/>',
                         '<recv response="407" auth="true"/>',
                         _send("ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
                               "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
                               f"\nFrom: {me}\nTo: <sip:[service]@[remote_ip]:[remote_port]>"
                               "[peer_tag_param]\nCall-ID: [call_id]\nCSeq: 1 ACK\n"
                               "Max-Forwards: 70\nContent-Length: 0"),
                         invite.replace("CSeq: 1 INVITE", "CSeq: 2 INVITE").replace(
                             "Max-Forwards: 70", "[authentication]\nMax-Forwards: 70")]
            ack = ack.replace("CSeq: 1 ACK", "CSeq: 2 ACK")
            dialog.cseq = 2
        keys_xml = dialog.keys(keys or [])
        if speak is not None:  # the caller talks (a G.711 u-law WAV streamed as RTP)
            keys_xml = f'<nop><action><exec rtp_stream="{speak},1,0"/></action></nop>\n' + \
                keys_xml
        if hangup_after is not None:
            ending = f'<pause milliseconds="{int(hangup_after * 1000)}"/>\n' + \
                dialog.request("BYE")
        else:
            ending = (f'<recv request="BYE" timeout="{int(max_seconds * 1000)}"/>\n' +
                      _send("SIP/2.0 200 OK\n" + REPLY + "\nContent-Length: 0"))
        body = "\n".join([invite, *challenge, '<recv response="100" optional="true"/>',
                          '<recv response="180" optional="true"/>',
                          '<recv response="183" optional="true"/>',
                          '<recv response="200" rrs="true"><action><ereg regexp=".*" '
                          'search_in="hdr" header="To:" assign_to="peer_to"/></action></recv>',
                          ack, keys_xml, ending])
        remote = self.external if profile == "external" else self.internal
        return self._run(f"call-{number}-{port}", _scenario("caller", body),
                         [remote, "-s", to, "-i", "127.0.0.1", "-p", str(port),
                          "-mi", "127.0.0.1", "-mp", str(rtp_port(port)), "-m", str(count),
                          *(["-r", str(rate), "-l", str(count)] if count > 1 else []),
                          "-timeout", str(int(max_seconds)), "-timeout_error",
                          *(["-au", auth_user, "-ap", self.password] if auth_user else [])],
                         port)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """ivr_app.testing.waiting.wait_until, polling at the pace of SIP and FreeSWITCH."""
    return wait_until(condition, timeout=timeout, interval=0.05, what=what)


def received(proc: Proc, method: str) -> list[tuple[dt.datetime, str]]:
    """The ``method`` requests SIPp logged as received (-trace_msg): (when, whole message)."""
    out = []
    for block in ("\n" + proc.messages()).split("\n" + "-" * 47 + " ")[1:]:
        stamp, _, rest = block.partition("\n")
        if "message received" not in rest.split("\n", 1)[0]:
            continue
        message = rest.split("\n", 1)[1].lstrip("\n")
        if message.startswith(f"{method} "):
            when = dt.datetime.strptime(stamp.strip()[:26], "%Y-%m-%d %H:%M:%S.%f")
            out.append((when, message))
    return out

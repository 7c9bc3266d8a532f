"""``uuid_displace`` and ``say_string``, as FreeSWITCH 1.10 does them (switch_ivr_async.c,
mod_commands.c, mod_say_en.c).

A displace is a media bug on the channel: it plays its file over (``mux``) or instead of what
the channel hears, whatever application runs, and it ends at the end of the file (unless
``loop``), at its time limit, with ``uuid_displace <uuid> stop <file>`` or with the channel.
``uuid_break`` does not touch it, and neither does a bridge: an announcement still running
when the caller is bridged to an agent goes on over the conversation. The simulator notes that
in ``FakeSwitch.faults`` so a test can prove a flow never lets it happen.

``say_string <module>[.<ext>] <lang> <type> <method> [<gender>] <text>`` answers the files
mod_say would play, as ``file_string://a!b``, relative to the sounds directory (numbers only,
pronounced, the English way; enough for queue positions and minutes), for the languages whose
say module is loaded (``FakeSwitch.say_modules``, ``en`` as in a stock modules.conf.xml); any
other answers ``-ERR Usage: ...`` as FreeSWITCH 1.10.12 does (switch_ivr.c,
``switch_ivr_say_string``: the interface is chosen by the language argument).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gevent

from ivr_app.testing.fakeswitch import media
from ivr_app.testing.fakeswitch.channel import Channel

# modules a stock FreeSWITCH 1.10 has loaded that the simulator stands in for (module_exists)
LOADED_MODULES = frozenset({
    "mod_commands", "mod_dptools", "mod_event_socket", "mod_sofia", "mod_loopback",
    "mod_dialplan_xml", "mod_voicemail", "mod_local_stream", "mod_tone_stream",
    "mod_sndfile", "mod_native_file"})

SAY_WORDS = [str(n) for n in range(20)] + [str(n) for n in range(20, 100, 10)] + \
    ["hundred", "thousand"]


@dataclass
class Displaced:
    uuid: str
    path: str
    mux: bool
    started: float
    ended: float | None = None
    how: str | None = None  # "end" (the file played out), "stop", "limit", "hangup"


def start(ch: Channel, path: str, limit_s: int, flags: str) -> bool:
    if not ch.ready or path in ch.displacing:
        return False  # "Only 1 of the same file per channel please!"
    seconds = media.duration(path, ch.switch.sound_dirs, ch.switch.sound_prefix)
    if seconds is None:
        return False  # the file does not open
    loop = "l" in flags
    if loop:
        seconds = media.FOREVER
    if limit_s:
        seconds = min(seconds, float(limit_s))
    record = Displaced(ch.uuid, path, "m" in flags, time.monotonic())
    ch.switch.displaced.append(record)

    def run() -> None:
        how = "end" if not limit_s or seconds < limit_s else "limit"
        try:
            if seconds != media.FOREVER:
                gevent.sleep(seconds * ch.switch.time_factor)
            else:
                gevent.sleep(10**9)
        except gevent.GreenletExit:
            return
        _end(ch, path, how)

    ch.displacing[path] = (record, gevent.spawn(run))
    for observe in ch.switch.play_observers:  # in-process narration, never on the wire
        observe(ch, path)
    if not ch.on_teardown.count(_teardown):
        ch.on_teardown.append(_teardown)
    return True


def stop(ch: Channel, path: str) -> bool:
    if path not in ch.displacing:
        return False
    _, g = ch.displacing[path]
    _end(ch, path, "stop")
    g.kill(block=False)
    return True


def _end(ch: Channel, path: str, how: str) -> None:
    entry = ch.displacing.pop(path, None)
    if entry is not None and entry[0].ended is None:
        entry[0].ended = time.monotonic()
        entry[0].how = how


def _teardown(ch: Channel) -> None:
    for path in list(ch.displacing):
        _, g = ch.displacing[path]
        _end(ch, path, "hangup")
        g.kill(block=False)


def on_bridge(ch: Channel, peer: Channel) -> None:
    """A bridge does not remove media bugs: a displace still running is heard by both."""
    for path in ch.displacing:
        ch.switch.faults.append(f"{ch.uuid} bridged to {peer.uuid} while {path} still played "
                                "over the call")


def say_files(text: str, ext: str) -> list[str]:
    """mod_say_en, number / pronounced: 21 -> digits/20, digits/1; 300 -> digits/3, hundred."""
    n = int(text)
    out: list[str] = []

    def below_thousand(v: int) -> None:
        if v >= 100:
            out.extend([f"digits/{v // 100}", "digits/hundred"])
            v %= 100
            if not v:
                return
        if v < 20:
            out.append(f"digits/{v}")
        else:
            out.append(f"digits/{v // 10 * 10}")
            if v % 10:
                out.append(f"digits/{v % 10}")

    if n >= 1000:
        below_thousand(n // 1000)
        out.append("digits/thousand")
        n %= 1000
        if n:
            below_thousand(n)
    else:
        below_thousand(n)
    return [f"{f}.{ext}" for f in out]


def make_say_sounds(directory: Path) -> Path:
    """The say files a FreeSWITCH sound package has (digits/*), as short real WAV files."""
    for word in SAY_WORDS:
        path = directory / "digits" / f"{word}.wav"
        if not path.exists():
            media.write_wav(path, 0.4, tone_hz=300.0 + 20 * len(word))
    return directory

"""The dialplan applications the simulator knows, with FreeSWITCH 1.10's semantics for what the
app can observe: responses, variables set, timing, interruption by DTMF, break and hangup."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import gevent

from ivr_app.testing.fakeswitch import fsstrings, media, meta
from ivr_app.testing.fakeswitch.channel import Channel, Hangup

App = Callable[[Channel, str], str | None]
APPS: dict[str, App] = {}


def app(name: str) -> Callable[[App], App]:
    def register(fn: App) -> App:
        APPS[name] = fn
        return fn
    return register


@app("answer")
def answer(ch: Channel, data: str) -> None:
    ch.answer()


@app("pre_answer")
def pre_answer(ch: Channel, data: str) -> None:
    ch.pre_answer()


@app("ring_ready")
def ring_ready(ch: Channel, data: str) -> None:
    if ch.answer_state == "ringing":
        ch.fire("CHANNEL_PROGRESS")


@app("echo")
def echo(ch: Channel, data: str) -> None:
    ch.wait(media.FOREVER)


@app("hangup")
def hangup(ch: Channel, data: str) -> None:
    ch.hangup(data.strip() or "NORMAL_CLEARING")


def _set(ch: Channel, data: str) -> None:
    name, sep, value = data.partition("=")
    if not sep:
        name, _, value = data.partition(",")
    value = ch.expand(value)  # mod_dptools base_set expands the value once more
    if value:
        ch.vars[name] = value
    else:
        ch.vars.pop(name, None)


@app("set")
def set_(ch: Channel, data: str) -> None:
    _set(ch, data)


@app("export")
def export(ch: Channel, data: str) -> None:
    _set(ch, data)
    name = data.partition("=")[0]
    ch.vars["export_vars"] = ",".join(filter(None, [ch.vars.get("export_vars"), name]))


@app("unset")
def unset(ch: Channel, data: str) -> None:
    ch.vars.pop(data.strip(), None)


@app("sleep")
def sleep(ch: Channel, data: str) -> None:
    ch.wait(int(data or 0) / 1000.0)


def play(ch: Channel, path: str, *, dtmf_stops: bool = False,
         eats_digits: bool = False) -> str:
    """Play one file; returns the playback response.

    With ``dtmf_stops`` (play_and_get_digits' prompt) a key ends the prompt and stays queued
    for the read: type-ahead. Without either flag (switch_ivr_play_file with no input args,
    as play_and_get_digits plays its invalid file) keys stay queued and do not interrupt.
    With ``eats_digits`` (the ``playback`` and ``say`` apps: mod_dptools on_dtmf) it dequeues
    every key that arrives while it plays, and discards it unless it is one of the
    ``playback_terminators`` (default ``*``), which ends the playback and is stored in
    ``playback_terminator_used`` (captured: outbound-dtmf-during-playback)."""
    seconds = media.duration(path, ch.switch.sound_dirs, ch.switch.sound_prefix)
    if seconds is None:
        ch.switch.log.info("fakeswitch: file not found", path=path)
        return "FILE NOT FOUND"
    limit = ch.vars.get("playback_timeout_sec", "")
    timed_out = False
    if limit.isdigit() and int(limit) > 1 and seconds > int(limit):
        # switch_ivr_play_file stops after that long: SWITCH_STATUS_TIMEOUT, which playback
        # reports as PLAYBACK ERROR unless playback_timeout_as_success is true
        seconds, timed_out = float(limit), True
    # file_string://a!b plays a, then b: what was played (and observed) is each part
    parts = [p for p in path[len("file_string://"):].split("!") if p] \
        if path.startswith("file_string://") else [path]
    for part in parts:
        ch.switch.played.append((ch.uuid, part))
        for observe in ch.switch.play_observers:
            observe(ch, part)
    # switch_ivr_play_file fires PLAYBACK_START / _STOP once per file it opens (file_string://
    # is one file: mod_dptools' file interface); Playback-File-Type only for the two streams
    kind = [("Playback-File-Type", t) for t in ("local_stream", "tone_stream")
            if path.lower().startswith(t + ":")]
    ch.fire("PLAYBACK_START", post=[*kind, ("Playback-File-Path", path)])
    why = _play_eating_digits(ch, seconds) if eats_digits else ch.wait(seconds, dtmf=dtmf_stops)
    if ch.ready:
        ch.fire("PLAYBACK_STOP", post=[*kind, ("Playback-File-Path", path),
                                       ("Playback-Status", "done" if why == "done" else "break")])
    played = seconds if why == "done" else 0.0
    samples = int(played * 8000) if played != media.FOREVER else 0
    ch.vars.update({"playback_last_offset_pos": str(samples),
                    "playback_seconds": str(int(played)) if played != media.FOREVER else "0",
                    "playback_ms": str(int(played * 1000)) if played != media.FOREVER else "0",
                    "playback_samples": str(samples)})
    if timed_out and why == "done" and ch.vars.get("playback_timeout_as_success") != "true":
        return "PLAYBACK ERROR"
    return "FILE PLAYED"


def _play_eating_digits(ch: Channel, seconds: float) -> str:
    terminators = ch.vars.get("playback_terminators", "*")
    if terminators.lower() == "any":
        terminators = "1234567890*#"
    elif terminators.lower() == "none":
        terminators = ""
    ch.vars["playback_terminator_used"] = ""
    deadline = None if seconds == media.FOREVER else \
        time.monotonic() + seconds * ch.switch.time_factor
    while True:
        while ch.dtmf:
            digit = ch.dtmf.popleft()
            if digit in terminators:
                ch.vars["playback_terminator_used"] = digit
                return "terminator"
        left = media.FOREVER if deadline is None else \
            max(0.0, deadline - time.monotonic()) / (ch.switch.time_factor or 1)
        why = ch.wait(left, dtmf=True)
        if why != "dtmf":
            return why


@app("flush_dtmf")
def flush_dtmf(ch: Channel, data: str) -> None:
    ch.dtmf.clear()


@app("playback")
def playback(ch: Channel, data: str) -> str:
    return play(ch, data, eats_digits=True)


@app("endless_playback")
def endless_playback(ch: Channel, data: str) -> str:
    while True:
        seconds = media.duration(data, ch.switch.sound_dirs)
        if seconds is None:
            return "FILE NOT FOUND"
        if ch.wait(seconds or 1.0) == "break":
            return "FILE PLAYED"


@app("say")
def say(ch: Channel, data: str) -> None:
    play(ch, "say:" + " ".join(fsstrings.separate(data)), eats_digits=True)


@app("park")
def park(ch: Channel, data: str) -> None:
    ch.parked = True
    ch.fire("CHANNEL_PARK")
    try:
        ch.serve_queue()
    finally:
        ch.parked = False
    ch.check()


@app("bind_meta_app")
def bind_meta_app(ch: Channel, data: str) -> None:
    meta.bind(ch, data)


@app("send_dtmf")
def send_dtmf(ch: Channel, data: str) -> None:
    if ch.other is not None:
        ch.other.queue_dtmf(data.split("@")[0])


@app("play_and_get_digits")
def play_and_get_digits(ch: Channel, data: str) -> None:
    """switch_play_and_get_digits + switch_ivr_read (src/switch_ivr.c, switch_ivr_play_say.c)."""
    a = fsstrings.separate(data)
    if len(a) < 8:
        ch.switch.log.warning("fakeswitch: play_and_get_digits usage", data=data)
        return
    min_d, max_d, tries, timeout = int(a[0]), int(a[1]), int(a[2]), int(a[3])
    terminators = "" if a[4] == "none" else a[4]
    prompt, invalid, var = a[5], a[6], a[7]
    regex = a[8] if len(a) > 8 else ""
    digit_timeout = int(a[9]) if len(a) > 9 else timeout
    for _ in range(max(1, tries)):
        ch.vars.pop("read_result", None)
        ch.vars.pop(var, None)
        result, digits = _read(ch, min_d, max_d, prompt, timeout, terminators, digit_timeout)
        ch.vars["read_result"] = result
        if digits and result == "success":
            if not regex or re.search(regex, digits):
                ch.vars[var] = digits
                return
            ch.vars[f"{var}_invalid"] = digits
        if not ch.ready:
            raise Hangup()
        if invalid:
            play(ch, invalid)
    ch.vars.pop(var, None)


def _read(ch: Channel, min_d: int, max_d: int, prompt: str, timeout_ms: int, terminators: str,
          digit_timeout_ms: int) -> tuple[str, str]:
    ch.vars.pop("read_terminator_used", None)
    if prompt and prompt.lower() != "silence":  # switch_ivr_read plays nothing for "silence"
        play(ch, prompt, dtmf_stops=True)
    digits = ""
    first = True
    while len(digits) < max_d:
        if not ch.dtmf:
            wait_s = (timeout_ms if first else digit_timeout_ms) / 1000.0
            if ch.wait(wait_s, dtmf=True) != "dtmf":
                break
        d = ch.dtmf.popleft()
        first = False
        if d in terminators:
            ch.vars["read_terminator_used"] = d
            return "success", digits
        digits += d
    if len(digits) >= max_d:
        return "success", digits
    if len(digits) >= min_d and digits:
        return "success", digits
    return "failure" if not digits else "timeout", digits


@app("socket")
def socket_app(ch: Channel, data: str) -> str:
    from ivr_app.testing.fakeswitch.eventsock import run_outbound_socket

    return run_outbound_socket(ch, data)


@app("record_session")
def record_session(ch: Channel, data: str) -> None:
    ch.switch.recorder.start(ch, data)


@app("stop_record_session")
def stop_record_session(ch: Channel, data: str) -> None:
    ch.switch.recorder.stop(ch, data, cause="success-maxtime")


@app("transfer")
def transfer(ch: Channel, data: str) -> None:
    words = fsstrings.separate(data)
    dest = words[0] if words else ""
    context = words[2] if len(words) > 2 else ch.profile["context"]
    ch.switch.transfer(ch, dest, context)


@app("bridge")
def bridge(ch: Channel, data: str) -> str | None:
    return ch.switch.originator.bridge(ch, data)


@app("intercept")
def intercept(ch: Channel, data: str) -> None:
    """switch_ivr_intercept_session: take the call ``data`` (a UUID) over from what it does
    (a bridge still ringing: those legs hang up PICKED_OFF, the bridge returns PICKED_OFF;
    a playback: it ends) and bridge it to this channel, until one of them hangs up. With
    intercept_unbridged_only=true a call that already talks is left alone."""
    target = ch.switch.channel(data.strip())
    if target is None or not target.ready:
        ch.switch.log.info("fakeswitch: intercept: no uuid", uuid=data)
        return
    if ch.vars.get("intercept_unbridged_only") == "true" and target.other is not None:
        return
    ch.answer()
    target.intercepted.set()
    target.interrupt.set()  # CS_PARK with CF_TRANSFER: the running application ends
    gevent.sleep(0.01)  # the originate notices, hangs its legs up, the bridge app returns
    # switch_ivr_uuid_bridge(this, target): this channel is the bridge's A leg, so
    # CHANNEL_BRIDGE / UNBRIDGE carry its Unique-ID (the target's socket sees neither), and
    # the target is hung up when this channel hangs up (seen on 1.10.12)
    ch.switch.originator.join(ch, target, wait=True)


@app("voicemail")
def voicemail(ch: Channel, data: str) -> None:
    """mod_voicemail's deposit, as the caller lives it: greeting, beep, record until the
    caller hangs up (at most 5 minutes). The message is a real WAV in the switch's
    voicemail_dir/<box>/."""
    import time as _time

    words = fsstrings.separate(data)
    box = words[2] if len(words) > 2 else "default"
    ch.answer()
    play(ch, "tone_stream://%(1000,0,425)")  # the mailbox greeting
    play(ch, "tone_stream://%(250,0,1000)")  # the beep
    started = _time.monotonic()
    path = ch.switch.voicemail_dir / box / f"{ch.uuid}.wav"
    # mod_voicemail records with switch_ivr_record_file, which fires RECORD_START and
    # RECORD_STOP like a session recording (Record-File-Path, no completion cause): a real run
    # showed them; an app must not take them for its own recordings
    ch.fire("RECORD_START", post=[("Record-File-Path", str(path))])
    try:
        ch.wait(300)
    finally:
        seconds = (_time.monotonic() - started) / (ch.switch.time_factor or 1)
        media.write_wav(path, min(seconds, 300))
        ch.fire("RECORD_STOP", post=[("Record-File-Path", str(path))])
        ch.vars["voicemail_message_len"] = str(int(seconds))
        ch.switch.voicemails.append((box, ch.uuid, path))
        if seconds >= 3:  # mod_voicemail's default min-record-len: shorter ones are dropped
            _leave_message_event(ch, box, words[1] if len(words) > 1 else "", path, seconds)


def _leave_message_event(ch: Channel, box: str, domain: str, path: Any, seconds: float) -> None:
    """CUSTOM vm::maintenance, VM-Action leave-message, with the headers and order of
    mod_voicemail.c (deliver_vm) followed by the channel's data."""
    import time as _time
    import uuid as _uuid

    ch.switch.fire("CUSTOM", [
        ("VM-Action", "leave-message"), ("VM-User", box), ("VM-Domain", domain),
        ("VM-Caller-ID-Name", ch.profile.get("caller_id_name", "")),
        ("VM-Caller-ID-Number", ch.profile.get("caller_id_number", "")),
        ("VM-File-Path", str(path)), ("VM-Flags", ""), ("VM-Folder", "inbox"),
        ("VM-UUID", str(_uuid.uuid4())), ("VM-Message-Len", str(int(seconds))),
        ("VM-Timestamp", str(int(_time.time()))), *ch.data_headers(with_vars=True)],
        prefix=[("Event-Subclass", "vm::maintenance")],
        calling=("mod_voicemail.c", "deliver_vm", 2912))


@app("log")
def log(ch: Channel, data: str) -> None:
    ch.switch.log.info("fakeswitch log app", data=data)


@app("respond")
def respond(ch: Channel, data: str) -> None:
    code = data.split()[0] if data else "500"
    cause = {"486": "USER_BUSY", "404": "UNALLOCATED_NUMBER", "503": "NORMAL_CIRCUIT_CONGESTION",
             "480": "NO_USER_RESPONSE"}.get(code, "NORMAL_TEMPORARY_FAILURE")
    ch.hangup(cause)

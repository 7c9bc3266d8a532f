"""What a real FreeSWITCH 1.10.12 did that the simulator once did not (issue: a real
FreeSWITCH in the loop), each shown in the simulator, and the Call's answer to it.

The captures behind them (tests/fixtures/fs-captures): outbound-break-before-start,
outbound-dtmf-during-playback, outbound-hangup-behind-locked-playback,
outbound-sip-quoted-display."""

from __future__ import annotations

import time

import gevent
import pytest

from ivr_app.esl.call import Call
from ivr_app.esl.dialstring import DialString, Leg
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.waiting import wait_until

MOH = "local_stream://moh"


def run(fs, serve, handler, *, name: str = "Test Caller"):
    result: dict = {}

    def wrapped(call: Call) -> None:
        try:
            handler(call, result)
        finally:
            result["done"] = True

    serve(wrapped)
    ch = fs.place_call("7000", caller_id_number="+74951234567", caller_id_name=name)
    wait_until(lambda: ch.destroyed.is_set() and result.get("done"), timeout=15,
               what="the end of the call and of its handler")
    return ch, result


def test_a_break_sent_before_the_application_starts_is_lost(fs, serve):
    """switch_core_session_exec clears CF_BREAK as each application starts."""
    fs.park_tick = 0.1  # the parked channel looks at its messages 100 ms later

    def handler(call, result):
        call.answer()
        music = call.start_playback(MOH)
        call.break_()  # before the playback's CHANNEL_EXECUTE
        try:
            music.get(timeout=0.5)
            result["music"] = "stopped"
        except gevent.Timeout:
            result["music"] = "still playing"
        result["stopped"] = call.stop(music)
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert result["music"] == "still playing"
    assert result["stopped"] is True


def test_stop_ends_music_started_a_moment_before(fs, serve):
    """Call.stop waits for the application's start before breaking it."""
    fs.park_tick = 0.1

    def handler(call, result):
        call.answer()
        music = call.start_playback(MOH)
        began = time.monotonic()
        result["stopped"] = call.stop(music)
        result["seconds"] = time.monotonic() - began
        result["after"] = call.playback("tone_stream://%(100,0,440)")  # the flow goes on
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert result["stopped"] is True
    assert result["seconds"] < 1.5  # one break, not a retry after the deadline
    assert result["after"] == "FILE PLAYED"


def test_a_key_during_playback_is_discarded_a_key_during_the_prompt_counts(fs, serve):
    """outbound-dtmf-during-playback: `playback` eats the key (the next read times out);
    play_and_get_digits' own prompt ends at the key and returns it (type-ahead)."""
    tone3s = "tone_stream://%(3000,0,440)"

    def handler(call, result):
        call.answer()
        gevent.spawn_later(0.02, fs.press, call.uuid, "2")  # 1 s of call time in
        call.playback(tone3s)
        result["after_playback"] = call.play_and_get_digits(
            "tone_stream://%(200,0,440)", tries=1, timeout_ms=2000)
        gevent.spawn_later(0.02, fs.press, call.uuid, "2")
        result["typeahead"] = call.play_and_get_digits(tone3s, tries=1, timeout_ms=2000)
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert result["after_playback"] is None
    assert result["typeahead"] == "2"


def test_a_star_during_playback_ends_it_as_the_default_terminator(fs, serve):
    def handler(call, result):
        call.answer()
        gevent.spawn_later(0.02, fs.press, call.uuid, "*")
        began = time.monotonic()
        call.playback("tone_stream://%(30000,0,440)")  # 30 s of call time: 0.6 s here
        result["seconds"] = time.monotonic() - began
        result["terminator"] = call.get("playback_terminator_used")
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert result["terminator"] == "*"
    assert result["seconds"] < 0.4


def test_a_sendmsg_hangup_waits_behind_an_event_locked_playback(fs, serve):
    """outbound-hangup-behind-locked-playback; Call.hangup uses uuid_kill, which does not."""

    def handler(call, result):
        call.answer()
        music = call.start_playback(MOH)  # event-lock: true
        music.started.wait(2)
        call.conn.command("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY")
        result["up_after_sendmsg"] = not call._hung_up.wait(0.5)
        began = time.monotonic()
        call.hangup("NORMAL_CLEARING")
        result["hangup_seconds"] = time.monotonic() - began

    ch, result = run(fs, serve, handler)
    assert result["up_after_sendmsg"] is True
    assert result["hangup_seconds"] < 1.0
    assert ch.hangup_cause == "NORMAL_CLEARING"


@pytest.mark.parametrize("name", ['Evil \\"x\\" Name'])
def test_a_quoted_display_name_breaks_a_bridge_unless_the_name_is_set(fs, serve, name):
    """outbound-sip-quoted-display: sofia cannot build the INVITE (DESTINATION_OUT_OF_ORDER);
    the name shown to the phone, set through the quoting gate, lets the bridge through."""
    from ivr_app.esl.quoting import display_name

    fs.originator.far_end("user/1001", FarEnd(answer_after=0.1, talk=0.5))

    def handler(call, result):
        call.answer()
        result["raw"] = call.bridge(DialString.simultaneous([Leg("user/1001")],
                                                            originate_timeout=3))
        result["named"] = call.bridge(DialString.simultaneous(
            [Leg("user/1001")], originate_timeout=3,
            origination_caller_id_name=display_name(call.caller_id_name)))
        call.hangup()

    _ch, result = run(fs, serve, handler, name=name)
    assert result["raw"].cause == "DESTINATION_OUT_OF_ORDER"
    assert result["named"].answered
    assert display_name(name) == "Evil x Name"


def test_playback_timeout_sec_ends_a_playback_as_an_error_unless_told_otherwise(fs, serve):
    """switch_ivr_play_file: SWITCH_STATUS_TIMEOUT, reported by playback as PLAYBACK ERROR;
    playback_timeout_as_success makes it FILE PLAYED (the queue's music pieces use that)."""

    def handler(call, result):
        call.answer()
        call.set("playback_timeout_sec", "2")
        result["error"] = call.playback(MOH)
        call.set("playback_timeout_as_success", "true")
        result["played"] = call.playback(MOH)
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert result == {"error": "PLAYBACK ERROR", "played": "FILE PLAYED", "done": True}

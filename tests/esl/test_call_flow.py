"""Whole calls over TCP: FakeSwitch routes a call to `socket`, the app's handler drives it."""

from __future__ import annotations

import gevent
import pytest

from ivr_app.esl.call import Call
from ivr_app.testing.waiting import wait_until


def test_answer_play_collect_digits_hangup(fs, serve):
    seen: dict = {}

    def handler(call: Call) -> None:
        seen["caller"] = call.caller_id_number
        call.answer()
        seen["played"] = call.playback("tone_stream://%(1000,0,440)")
        seen["digits"] = call.play_and_get_digits("tone_stream://%(200,0,440)", max_digits=4,
                                                  timeout_ms=3000)
        call.set("ivr_choice", seen["digits"] or "none")
        seen["var"] = call.get("ivr_choice")
        call.hangup("NORMAL_CLEARING")

    serve(handler)
    ch = fs.place_call("7000", caller_id_number="+74951234567", caller_id_name="Ivan")
    wait_until(lambda: ("sofia" in ch.name and ch.vars.get("current_application")
                        == "play_and_get_digits"), what="digit prompt")
    fs.press(ch.uuid, "42#")
    wait_until(lambda: ch.destroyed.is_set(), what="call end")
    assert seen == {"caller": "+74951234567", "played": "FILE PLAYED", "digits": "42",
                    "var": "42"}
    assert ch.hangup_cause == "NORMAL_CLEARING"


def test_invalid_entry_then_valid(fs, serve):
    result = {}

    def handler(call: Call) -> None:
        call.answer()
        result["digits"] = call.play_and_get_digits(
            "tone_stream://%(500,0,440)", invalid="tone_stream://%(300,0,300)", max_digits=1,
            tries=3, timeout_ms=2000, regex="^[1-3]$")

    serve(handler)
    ch = fs.place_call("7000")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits")
    fs.press(ch.uuid, "9")  # not a menu option: the invalid prompt plays, then a retry
    wait_until(lambda: (ch.uuid, "tone_stream://%(300,0,300)") in fs.played,
               what="invalid prompt")
    fs.press(ch.uuid, "2")
    wait_until(lambda: ch.destroyed.is_set())
    assert result["digits"] == "2"
    assert ch.vars.get("ivr_app_digits_invalid") == "9"


def test_timeout_on_every_try_returns_none(fs, serve):
    result = {}

    def handler(call: Call) -> None:
        call.answer()
        result["digits"] = call.play_and_get_digits("silence_stream://100", tries=2,
                                                    timeout_ms=500)

    serve(handler)
    ch = fs.place_call("7000")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    assert result == {"digits": None}


def test_caller_hangs_up_mid_playback_ends_the_flow_with_call_ended(fs, serve):
    reached = []
    finals = []

    def handler(call: Call) -> None:
        call.answer()
        try:
            call.playback("tone_stream://%(60000,0,440)")  # one minute
            call.playback("tone_stream://%(1000,0,440)")
        finally:
            reached.append(call.ended)
        reached.append("after")  # never: CallEnded unwinds the flow

    server = serve(handler)
    ch = fs.place_call("7000")
    wait_until(lambda: ch.vars.get("current_application") == "playback")
    fs.caller_hangs_up(ch.uuid, "NORMAL_CLEARING")
    wait_until(lambda: ch.destroyed.is_set() and not server.live, what="call cleanup")
    assert reached == [True]
    del finals


def test_same_application_twice_is_not_confused(fs, serve):
    """greenswitch waits for 'the next playback to complete'; we wait for *this* one."""
    durations = []

    def handler(call: Call) -> None:
        call.answer()
        for path in ("tone_stream://%(2000,0,440)", "tone_stream://%(500,0,440)"):
            t0 = gevent.get_hub().loop.now()
            call.playback(path)
            durations.append(gevent.get_hub().loop.now() - t0)

    serve(handler)
    ch = fs.place_call("7000")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    # 2 s and 0.5 s of call time at the simulator's time factor (0.02): 40 ms and 10 ms
    assert durations[0] > durations[1]
    assert durations[0] >= 0.035


def test_prompt_with_spaces_and_hostile_caller_name(fs, serve, tmp_path):
    import wave

    prompt = tmp_path / "main menu.wav"
    with wave.open(str(prompt), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    got = {}

    def handler(call: Call) -> None:
        call.answer()
        call.set("caller_label", call.caller_id_name)
        got["label"] = call.get("caller_label")
        got["played"] = call.playback(str(prompt))
        got["digits"] = call.play_and_get_digits(str(prompt), timeout_ms=300, tries=1)

    serve(handler)
    evil = "${system rm -rf /} $${domain} \\'x"
    ch = fs.place_call("7000", caller_id_name=evil)
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    assert got["label"] == evil  # stored literally: nothing expanded, nothing run
    assert got["played"] == "FILE PLAYED"
    assert (ch.uuid, str(prompt)) in fs.played


@pytest.mark.parametrize("cause", ["USER_BUSY", "CALL_REJECTED"])
def test_hangup_cause_reaches_freeswitch(fs, serve, cause):
    def handler(call: Call) -> None:
        call.hangup(cause)

    serve(handler)
    ch = fs.place_call("7000")
    wait_until(lambda: ch.destroyed.is_set())
    assert ch.hangup_cause == cause

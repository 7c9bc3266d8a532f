"""The Call's verbs against the simulator over TCP: bridge outcomes with scripted far ends,
recording to a real WAV file, transfer, break, sleep, and the outbound server's limits."""

from __future__ import annotations

import wave

import gevent
import pytest

from ivr_app.esl.call import BridgeOutcome, Call
from ivr_app.esl.dialstring import DialString, Leg
from ivr_app.testing.fakeswitch.originate import BUSY, NEVER_ANSWERS, VOICEMAIL, FarEnd
from ivr_app.testing.waiting import wait_until


def run(fs, serve, handler, **kw):
    result: dict = {}

    def wrapped(call: Call) -> None:
        handler(call, result)

    serve(wrapped, **kw)
    ch = fs.place_call("7000", caller_id_number="+74951234567")
    wait_until(lambda: ch.destroyed.is_set(), timeout=15, what="the end of the call")
    return ch, result


def test_bridge_answered_then_far_end_hangs_up(fs, serve):
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.5, talk=2))

    def handler(call, result):
        call.answer()
        result["outcome"] = call.bridge(DialString.simultaneous([Leg("user/1001")]))
        result["after"] = call.playback("tone_stream://%(100,0,440)")  # the flow goes on

    _ch, result = run(fs, serve, handler)
    outcome: BridgeOutcome = result["outcome"]
    assert outcome.answered
    assert outcome.cause == "NORMAL_CLEARING"
    assert outcome.peer_uuid
    assert result["after"] == "FILE PLAYED"


@pytest.mark.parametrize(("script", "cause"), [
    (BUSY, "USER_BUSY"),
    (NEVER_ANSWERS, "NO_ANSWER"),
])
def test_bridge_failures_leave_the_caller_up_for_a_fallback(fs, serve, script, cause):
    fs.originator.far_end("user/1001", script)

    def handler(call, result):
        call.answer()
        result["outcome"] = call.bridge(DialString.simultaneous(
            [Leg("user/1001")], originate_timeout=3))
        result["fallback"] = call.playback("tone_stream://%(100,0,440)")

    _ch, result = run(fs, serve, handler)
    assert result["outcome"] == BridgeOutcome(False, cause, None, result["outcome"].dial_status)
    assert result["fallback"] == "FILE PLAYED"


def test_ring_all_with_confirm_key_voicemail_does_not_steal_the_call(fs, serve):
    """Desk and mobile ring together; the mobile's voicemail answers at once but never
    presses 1, so the desk, which answers later, gets the call."""
    fs.originator.far_end("user/1001", FarEnd(answer_after=1.5, talk=1))
    fs.originator.far_end("sofia/gateway/gw1/+79161110001", VOICEMAIL)
    legs = [Leg("user/1001"),
            Leg("sofia/gateway/gw1/+79161110001",
                {"group_confirm_key": "1", "group_confirm_file": "tone_stream://%(300,0,440)",
                 "group_confirm_read_timeout": "2000"})]

    names: dict[str, str] = {}
    causes: dict[str, str] = {}

    def watch(name, headers):
        h = dict(headers)
        if name == "CHANNEL_CREATE":
            names[h["Unique-ID"]] = h["Channel-Name"]
        elif name == "CHANNEL_HANGUP_COMPLETE":
            causes[h["Channel-Name"]] = h["Hangup-Cause"]

    fs.observers.append(watch)

    def handler(call, result):
        call.answer()
        result["outcome"] = call.bridge(DialString.simultaneous(legs, ignore_early_media=True))

    _ch, result = run(fs, serve, handler)
    outcome = result["outcome"]
    assert outcome.answered
    assert names[outcome.peer_uuid] == "sofia/internal/1001@127.0.0.1"  # the desk won
    mobile = "sofia/gateway/gw1/+79161110001"
    assert mobile in names.values()
    # its voicemail answered at once, heard the confirm prompt (again every read timeout, as
    # FreeSWITCH repeats it), never pressed 1, and lost the race when the desk answered
    (mobile_uuid,) = [u for u, n in names.items() if n == mobile]
    prompted = [u for u, path in fs.played if path == "tone_stream://%(300,0,440)"]
    assert set(prompted) == {mobile_uuid}
    assert causes[mobile] == "LOSE_RACE"


def test_an_unconfirmed_external_leg_is_dropped_at_its_leg_timeout(fs, serve):
    """Nobody else answers: the voicemail that never presses the key is hung up when its
    leg_timeout runs out (ALLOTTED_TIMEOUT), and the bridge fails instead of connecting it."""
    fs.originator.far_end("sofia/gateway/gw1/+79161110001", VOICEMAIL)
    legs = [Leg("sofia/gateway/gw1/+79161110001",
                {"leg_timeout": 3, "group_confirm_key": "1",
                 "group_confirm_file": "tone_stream://%(300,0,440)"})]
    causes: dict[str, str] = {}
    fs.observers.append(lambda name, headers: causes.update(
        {dict(headers)["Channel-Name"]: dict(headers)["Hangup-Cause"]})
        if name == "CHANNEL_HANGUP_COMPLETE" else None)

    def handler(call, result):
        call.answer()
        result["outcome"] = call.bridge(DialString.simultaneous(legs, ignore_early_media=True))
        call.hangup()

    _ch, result = run(fs, serve, handler)
    assert not result["outcome"].answered
    assert causes["sofia/gateway/gw1/+79161110001"] == "ALLOTTED_TIMEOUT"


def test_mobile_that_presses_1_wins(fs, serve):
    fs.originator.far_end("user/1001", NEVER_ANSWERS)
    fs.originator.far_end("sofia/gateway/gw1/+79161110001",
                          FarEnd(answer_after=0.5, press="1", press_after=0.2, talk=1))

    def handler(call, result):
        call.answer()
        result["outcome"] = call.bridge(DialString.simultaneous([
            Leg("user/1001"),
            Leg("sofia/gateway/gw1/+79161110001", {"group_confirm_key": "1"})]))

    _ch, result = run(fs, serve, handler)
    assert result["outcome"].answered


def test_record_session_writes_a_real_wav(fs, serve, tmp_path):
    path = tmp_path / "rec" / "call.wav"

    def handler(call, result):
        call.answer()
        call.set("RECORD_STEREO", "true")
        call.record_session(str(path))
        call.playback("tone_stream://%(4000,0,440)")  # four seconds of call time
        call.stop_record_session(str(path))

    ch, _result = run(fs, serve, handler)
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2
        assert w.getframerate() == 8000
        seconds = w.getnframes() / w.getframerate()
    assert 3.5 <= seconds <= 6.0  # scaled time: allow for scheduling slack
    assert (path.stat().st_mode & 0o777) == 0o600
    assert ch.vars["record_completion_cause"] == "success-maxtime"


def test_break_stops_a_playback_from_another_greenlet(fs, serve):
    def handler(call, result):
        call.answer()
        gevent.spawn_later(0.1, call.break_)
        t0 = gevent.get_hub().loop.now()
        result["response"] = call.playback("tone_stream://%(60000,0,440)")  # a minute
        result["took"] = gevent.get_hub().loop.now() - t0

    _ch, result = run(fs, serve, handler)
    assert result["response"] == "FILE PLAYED"
    assert result["took"] < 1.0  # a minute of call time is 1.2 s here; break cut it short


def test_transfer_leaves_the_socket_and_runs_the_other_extension(fs, serve):
    fs.dialplan.load_xml("""<include><context name="public"><extension name="t">
      <condition field="destination_number" expression="^8000$">
        <action application="set" data="transferred=yes"/>
        <action application="hangup" data="NORMAL_CLEARING"/>
      </condition></extension></context></include>""")

    def handler(call, result):
        call.answer()
        call.transfer("8000", context="public")
        result["ended"] = call.wait_until_ended(5)

    ch, result = run(fs, serve, handler)
    wait_until(lambda: "ended" in result, what="the handler to see the call leave")
    assert result["ended"] is True
    assert ch.vars.get("transferred") == "yes"
    assert ch.hangup_cause == "NORMAL_CLEARING"


def test_over_capacity_gets_an_explicit_busy(fs, serve):
    hold = gevent.event.Event()

    def handler(call):
        call.answer()
        hold.wait(5)

    server = serve(handler, max_calls=1)
    first = fs.place_call("7000")
    wait_until(lambda: len(server.live) == 1)
    second = fs.place_call("7000")
    wait_until(lambda: second.destroyed.is_set(), timeout=5)
    assert second.hangup_cause == "USER_BUSY"
    assert server.rejected == 1
    hold.set()
    wait_until(lambda: first.destroyed.is_set(), timeout=5)


def test_simulator_refuses_calls_over_max_sessions(fs):
    fs.max_sessions = 1
    fs.dialplan.load_xml('<include><context name="public"><extension name="p">'
                         '<condition field="destination_number" expression="^1$">'
                         '<action application="park"/></condition></extension></context>'
                         '</include>')
    a = fs.place_call("1")
    b = fs.place_call("1")
    wait_until(lambda: b.destroyed.is_set())
    assert b.hangup_cause == "SWITCH_CONGESTION"
    assert not a.hungup.is_set()


def test_listeners_by_name_and_off(fs, serve):
    """A listener for one event name (none for "*") is called, and stops after off(). (Once,
    a named listener without a "*" one raised in the reader and killed the call's events.)"""
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=0.5))

    def handler(call, result):
        bridges: list[str] = []
        result["bridges"] = bridges

        def first(event):
            bridges.append("first")

        call.on("CHANNEL_BRIDGE", first)
        call.answer()
        call.bridge(DialString.simultaneous([Leg("user/1001")]))
        call.off("CHANNEL_BRIDGE", first)
        call.on("CHANNEL_BRIDGE", lambda event: bridges.append("second"))
        call.bridge(DialString.simultaneous([Leg("user/1001")]))
        result["played"] = call.playback("tone_stream://%(100,0,440)")  # events still flow

    _ch, result = run(fs, serve, handler)
    assert result["bridges"] == ["first", "second"]
    assert result["played"] == "FILE PLAYED"

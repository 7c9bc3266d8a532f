"""The inbound control connection against the simulator over TCP: api, bgapi, events,
reconnect after FreeSWITCH restarts, resync of live channels, liveness."""

from __future__ import annotations

import pytest
import structlog

from ivr_app.esl.control import ControlConnection
from ivr_app.esl.errors import CommandFailed, ConnectionLost
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until


def control(port: int, **kw) -> ControlConnection:
    kw.setdefault("reconnect_min", 0.05)
    kw.setdefault("reconnect_max", 0.2)
    return ControlConnection("127.0.0.1", port, "ClueCon", structlog.get_logger(), **kw).start()


def test_api_and_bgapi(fs):
    c = control(fs.esl_port)
    try:
        assert c.wait_connected(5)
        assert c.api("status").startswith("UP ")
        assert c.api("uuid_exists 0d7f0e0e-0000-4000-8000-000000000000") == "false"
        with pytest.raises(CommandFailed, match="Command not found"):
            c.api("nosuchcommand")
        assert c.bgapi("version").startswith("FreeSWITCH Version 1.10.12")
        with pytest.raises(CommandFailed, match="USER_NOT_REGISTERED"):
            c.bgapi("originate user/1099 &park")
    finally:
        c.stop()


def test_wrong_password_is_reported_and_retried(fs):
    c = ControlConnection("127.0.0.1", fs.esl_port, "wrong", structlog.get_logger(),
                          reconnect_min=0.05, reconnect_max=0.05).start()
    try:
        assert not c.wait_connected(0.3)
        with pytest.raises(ConnectionLost):
            c.api("status")
    finally:
        c.stop()


def test_events_reach_handlers(fs):
    seen = []
    c = control(fs.esl_port, events=["CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE"])
    c.on("CHANNEL_HANGUP_COMPLETE", seen.append)
    try:
        assert c.wait_connected(5)
        ch = fs.place_call("9999")  # no route: NO_ROUTE_DESTINATION
        wait_until(lambda: seen, what="HANGUP_COMPLETE")
        assert seen[0].unique_id == ch.uuid
        assert seen[0].get("Hangup-Cause") == "NO_ROUTE_DESTINATION"
    finally:
        c.stop()


def test_reconnects_resubscribes_and_resyncs_after_a_restart():
    first = FakeSwitch(time_factor=0.02).start()
    port = first.esl_port
    seen = []
    c = control(port, events=["CHANNEL_CREATE"])
    c.on("CHANNEL_CREATE", seen.append)
    second = None
    try:
        assert c.wait_connected(5)
        first.stop()  # FreeSWITCH goes away...
        wait_until(lambda: not c.connected.is_set(), what="disconnect noticed")
        with pytest.raises(ConnectionLost):
            c.api("status")
        second = FakeSwitch(time_factor=0.02)
        second.dialplan.load_xml('<include><context name="public"><extension name="p">'
                                 '<condition field="destination_number" expression="^1$">'
                                 '<action application="park"/></condition></extension>'
                                 '</context></include>')
        parked = second.place_call("1")  # ...and comes back with a call already up
        second.start(port=port)
        wait_until(lambda: c.connections == 2, timeout=5, what="reconnect")
        # resynced with `show channels as json` (right after the count goes up)
        wait_until(lambda: parked.uuid in c.channels, timeout=5, what="resync")
        assert c.api("status").startswith("UP ")
        new = second.place_call("1")
        wait_until(lambda: any(e.unique_id == new.uuid for e in seen), what="events again")
    finally:
        c.stop()
        if second is not None:
            second.stop()


def test_silent_freeswitch_is_detected_by_liveness(fs):
    c = control(fs.esl_port, liveness=0.3, command_timeout=0.2)
    try:
        assert c.wait_connected(5)
        # a FreeSWITCH that stops answering (hung, network black hole): its sessions go mute
        for s in list(fs.server.sessions):
            s.command = lambda msg: None
        wait_until(lambda: c.connections >= 2, timeout=5, what="reconnect after liveness")
    finally:
        c.stop()


def test_subscription_puts_custom_and_its_subclasses_last():
    """After CUSTOM every word is a subclass to mod_event_socket: plain names go first."""
    from ivr_app.esl.control import subscription

    assert subscription(["RECORD_STOP", "vm::maintenance", "CUSTOM", "DTMF", "HEARTBEAT"]) == \
        "DTMF HEARTBEAT RECORD_STOP CUSTOM vm::maintenance"
    assert subscription(["DTMF"]) == "DTMF"


def test_kill_and_exists_go_through_the_quoting_gate(fs):
    """The control connection's uuid_kill / uuid_exists for legs a flow started beside its own
    call (a queue's added agent): a gone channel is False, not an error; a value that is no
    UUID never reaches the wire."""
    from ivr_app.esl.quoting import UnsafeValue
    from ivr_app.testing.fakeswitch.originate import FarEnd

    fs.originator.far_end("user/1001", FarEnd(answer_after=0, talk=None))
    c = control(fs.esl_port)
    try:
        assert c.wait_connected(5)
        leg = c.bgapi("originate user/1001 &park").split()[1]
        assert c.exists(leg) is True
        assert c.kill(leg, "ORIGINATOR_CANCEL") is True
        wait_until(lambda: not c.exists(leg), timeout=5, what="the leg gone")
        assert c.kill(leg) is False  # already gone: no error
        with pytest.raises(UnsafeValue):
            c.kill(f"{leg} NORMAL_CLEARING\n\nevent plain ALL")
        with pytest.raises(UnsafeValue):
            c.kill(leg, "NORMAL CLEARING")
    finally:
        c.stop()

"""What a call to an employee does: the issue's examples, each a profile and a caller."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr_app.presence.model import (
    Action,
    Caller,
    CallerMatch,
    Device,
    DeviceKind,
    Profile,
    Rule,
    State,
)
from ivr_app.presence.rules import decide

NOON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DESK = Device(DeviceKind.DESK, "user/1002")
MOBILE = Device(DeviceKind.MOBILE, "+447700900123", ring_delay_s=0)
HOME = Device(DeviceKind.HOME, "+442071110000")
CUSTOMER = Caller("+442079460000")
VIP = Caller("+442079460001", vip=True)
BOSS = Caller("1001", is_manager=True)

# "in a meeting: everything to voicemail, except my manager and VIP customers, who ring my
# mobile only"; "away: ring mobile and home together"
RULES = (
    Rule(State.MEETING, Action.RING, priority=10,
         caller=CallerMatch(manager=True, vip=True), devices=(DeviceKind.MOBILE,)),
    Rule(State.MEETING, Action.VOICEMAIL, priority=100),
    Rule(State.AWAY, Action.RING, priority=100, devices=(DeviceKind.MOBILE, DeviceKind.HOME)),
)


def james(**kw) -> Profile:
    return Profile(1, "1002", "James", devices=(DESK, MOBILE, HOME), rules=RULES,
                   manager_id=7, **kw)


def kinds(decision):
    return [d.kind for d in decision.devices]


def test_available_rings_every_enabled_device():
    disabled_home = Device(DeviceKind.HOME, "+442071110000", enabled=False)
    p = Profile(1, "1002", "James", devices=(DESK, MOBILE, disabled_home))
    d = decide(p, CUSTOMER, NOON)
    assert d.action is Action.RING
    assert kinds(d) == ["desk", "mobile"]


@pytest.mark.parametrize(("caller", "action", "devices"), [
    (CUSTOMER, Action.VOICEMAIL, []),
    (BOSS, Action.RING, ["mobile"]),
    (VIP, Action.RING, ["mobile"]),
])
def test_meeting_sends_everyone_to_voicemail_except_manager_and_vips(caller, action, devices):
    d = decide(james(state=State.MEETING), caller, NOON)
    assert (d.action, kinds(d)) == (action, devices)


def test_away_rings_mobile_and_home_together():
    d = decide(james(state=State.AWAY), CUSTOMER, NOON)
    assert (d.action, kinds(d)) == (Action.RING, ["mobile", "home"])


def test_dnd_keeps_the_forward_for_later():
    p = james(state=State.DND, forward_to="+447700900999")
    assert decide(p, CUSTOMER, NOON).action is Action.VOICEMAIL
    back = decide(james(forward_to="+447700900999"), CUSTOMER, NOON)
    assert (back.action, back.forward_to) == (Action.FORWARD, "+447700900999")


def test_vacation_ends_by_itself():
    p = james(state=State.VACATION, until=NOON + dt.timedelta(days=3))
    assert decide(p, CUSTOMER, NOON).action is Action.VOICEMAIL
    assert decide(p, CUSTOMER, NOON + dt.timedelta(days=4)).action is Action.RING


def test_on_call_is_derived_and_goes_to_voicemail_by_default():
    d = decide(james(on_call=True), CUSTOMER, NOON)
    assert d.action is Action.VOICEMAIL
    assert d.why == "on_call: default"


def test_time_window_inside_a_rule_wraps_past_midnight():
    night = Rule(State.AVAILABLE, Action.RING, priority=1, devices=(DeviceKind.MOBILE,),
                 active_from=dt.time(22, 0), active_to=dt.time(7, 0))
    p = Profile(1, "1002", "James", devices=(DESK, MOBILE), rules=(night,))
    london = ZoneInfo("Europe/London")
    late = dt.datetime(2026, 11, 23, 23, 30, tzinfo=london)
    assert kinds(decide(p, CUSTOMER, late, london)) == ["mobile"]
    assert kinds(decide(p, CUSTOMER, NOON, london)) == ["desk", "mobile"]


def test_a_rule_ringing_only_disabled_devices_falls_through():
    off = Device(DeviceKind.MOBILE, "+447700900123", enabled=False)
    p = Profile(1, "1002", "James", state=State.MEETING, devices=(DESK, off), rules=RULES)
    assert decide(p, BOSS, NOON).action is Action.VOICEMAIL


def test_caller_match_by_number_and_unknown_keys_refused():
    m = CallerMatch.from_json({"numbers": ["+442079460000"]})
    assert m.matches(CUSTOMER)
    assert not m.matches(VIP)
    with pytest.raises(ValueError, match="unknown keys"):
        CallerMatch.from_json({"boss": True})

"""Follow-me dial strings and the toll-fraud guard (pure: no switch needed)."""

from __future__ import annotations

import dataclasses

import pytest

from ivr_app.config import PresenceConfig
from ivr_app.presence.followme import forward_leg, plan
from ivr_app.presence.model import Action, Decision, Device, DeviceKind
from ivr_app.presence.tollfraud import NumberGuard, NumberRefused

CFG = PresenceConfig()
GUARD = NumberGuard.from_config(CFG)


@pytest.mark.parametrize("number", ["+881612345678", "+870772001799", "+19005551234",
                                    "+447700900123x", "07700900123", "+979123456789"])
def test_premium_satellite_and_malformed_numbers_are_refused(number):
    with pytest.raises(NumberRefused):
        GUARD.check(number)


def test_ordinary_numbers_pass():
    assert GUARD.check("+447700900123") == "+447700900123"
    assert GUARD.allows("+74951234567")


def test_desk_and_mobile_ring_together_and_only_the_mobile_must_confirm():
    devices = [Device(DeviceKind.MOBILE, "+447700900123", ring_delay_s=5, ring_timeout_s=20),
               Device(DeviceKind.DESK, "user/1002", ring_timeout_s=25)]
    p = plan(devices, CFG, GUARD, origination_caller_id_number="+442079460000")
    assert str(p.dial) == (
        "{ignore_early_media=true,originate_timeout=35,"
        "origination_caller_id_number=+442079460000}"
        "[leg_timeout=25]user/1002,"
        "[leg_timeout=20,leg_delay_start=5,group_confirm_key=1,"
        "group_confirm_file=ivr/ivr-accept_reject_voicemail.wav]"
        "sofia/gateway/pstn/+447700900123")
    assert p.timeout_s == 35
    assert p.refused == ()


def test_refused_and_surplus_external_legs_are_dropped_with_a_reason():
    cfg = dataclasses.replace(CFG, max_external_legs=1)
    devices = [Device(DeviceKind.DESK, "user/1002"),
               Device(DeviceKind.MOBILE, "+881612345678"),
               Device(DeviceKind.HOME, "+442071110000"),
               Device(DeviceKind.OTHER, "+442071110001")]
    p = plan(devices, cfg, NumberGuard.from_config(cfg))
    assert str(p.dial).count("sofia/gateway/pstn/") == 1
    reasons = {d.destination: why for d, why in p.refused}
    assert "blocked range" in reasons["+881612345678"]
    assert "more than 1 external legs" in reasons["+442071110001"]


def test_nothing_left_to_ring():
    p = plan([Device(DeviceKind.MOBILE, "+881612345678")], CFG, GUARD)
    assert p.dial is None
    assert len(p.refused) == 1


def test_forward_to_an_extension_or_a_guarded_number():
    assert forward_leg("1005", CFG, GUARD, 20).render() == "[leg_timeout=20]user/1005"
    assert forward_leg("+447700900123", CFG, GUARD, 20).target == \
        "sofia/gateway/pstn/+447700900123"
    with pytest.raises(NumberRefused, match="blocked"):
        forward_leg("+19005551234", CFG, GUARD, 20)


def test_a_queue_offer_caps_every_device_s_ring_time():
    decision = Decision(Action.RING, (Device(DeviceKind.DESK, "user/1001", ring_timeout_s=25),
                                      Device(DeviceKind.MOBILE, "+79161110001",
                                             ring_timeout_s=10)))
    capped = decision.ring_at_most(15)
    assert [d.ring_timeout_s for d in capped.devices] == [15, 10]
    assert capped.action is Action.RING
    assert [d.ring_timeout_s for d in decision.devices] == [25, 10]  # unchanged


def test_an_explicit_gateway_device_is_external_however_written():
    """``sofia/gateway/<gw>/<number>`` used to count as a desk: no guard, no cap, no key."""
    cfg = dataclasses.replace(CFG, max_external_legs=1)
    premium = Device(DeviceKind.OTHER, "sofia/gateway/pstn/+19005551234")
    mobile = Device(DeviceKind.MOBILE, "sofia/gateway/mobile-gw/+447700900123")
    home = Device(DeviceKind.HOME, "+442071110000")
    p = plan([premium, mobile, home], cfg, NumberGuard.from_config(cfg))
    assert str(p.dial).endswith(
        "[leg_timeout=25,group_confirm_key=1,group_confirm_file=ivr/ivr-accept_reject_voicemail"
        ".wav]sofia/gateway/mobile-gw/+447700900123")
    reasons = {d.destination: why for d, why in p.refused}
    assert "blocked range" in reasons["sofia/gateway/pstn/+19005551234"]
    assert "more than 1 external legs" in reasons["+442071110000"]
    assert p.external == 1


def test_a_destination_put_into_the_database_by_hand_is_dropped_not_dialled():
    p = plan([Device(DeviceKind.DESK, "user/1002"),
              Device(DeviceKind.OTHER, "loopback/1002/default")], CFG, GUARD)
    assert str(p.dial).endswith("[leg_timeout=25]user/1002")
    assert "must be an extension" in p.refused[0][1]


def test_an_external_forward_confirms_and_counts_against_the_cap():
    leg = forward_leg("+447700900123", CFG, GUARD, 20)
    assert leg.variables["group_confirm_key"] == "1"
    with pytest.raises(NumberRefused, match="more than 3 external legs"):
        forward_leg("+447700900123", CFG, GUARD, 20, external_in_use=3)
    with pytest.raises(NumberRefused, match="must be an extension"):
        forward_leg("user/1005:_:sofia/gateway/pstn/+19005551234", CFG, GUARD, 20)

"""Honest caller IDs through the simulator: the employees' own phones show the customer, legs
through the gateway show the company number (the queue's, the DID's, or ivr.company_number),
and the callback's customer leg never shows the agent's extension.

The simulator does what FreeSWITCH 1.10.12 does with caller IDs (src/switch_ivr_originate.c,
src/switch_core_session.c, mod_dptools user_outgoing_channel): ``[origination_caller_id_*]``
beats ``{...}``, which beats the calling channel's ``effective_caller_id_*`` (a user/ leg gets
the directory's "Extension 1002" / 1002), which beats its caller profile."""

from __future__ import annotations

import pytest

from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS, FarEnd
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY, IVAN, ended
from tests.test_queue_calls import (  # noqa: F401 - rig_factory is a fixture
    free_agent,
    hold_agents,
    rig_factory,
    waiting,
)

ANNA_MOBILE = "sofia/gateway/pstn/+79161110001"
DID_NUMBER = "+74951112200"
QUEUE_NUMBER = "+74951117000"


def shown_by_leg(fs: FakeSwitch) -> dict[str, tuple[str, str]]:
    """Channel name -> (caller-ID number, name) of every outbound leg, as its CHANNEL_CREATE
    said (what the phone or the carrier got in the INVITE's From)."""
    seen: dict[str, tuple[str, str]] = {}

    def watch(name, headers):
        h = dict(headers)
        if name == "CHANNEL_CREATE" and h.get("Call-Direction") == "outbound":
            seen[h["Channel-Name"]] = (h.get("Caller-Caller-ID-Number", ""),
                                       h.get("Caller-Caller-ID-Name", ""))

    fs.observers.append(watch)
    return seen


def test_the_desk_shows_the_customer_and_the_mobile_the_did_number(ivr, db):
    """Ivan (VIP) rings Anna's desk and mobile; the DID he dialled names its caller_id (the
    dialplan sets ivr_app_caller_id): the desk shows Ivan, the mobile the company."""
    fs, _app, _out = ivr
    shown = shown_by_leg(fs)
    fs.originator.far_end("user/1001", NEVER_ANSWERS)
    fs.originator.far_end(ANNA_MOBILE, FarEnd(answer_after=0.3, press="1", press_after=0.2,
                                              talk=0.5))
    ch = fs.place_call("74951112233", caller_id_number=IVAN, caller_id_name="Ivan Kuznetsov",
                       variables={"ivr_app_caller_id": DID_NUMBER})
    ended(ch)
    assert shown["sofia/internal/1001@127.0.0.1"] == (IVAN, "Ivan Kuznetsov")
    assert shown[ANNA_MOBILE] == (DID_NUMBER, DID_NUMBER)


def test_a_number_that_is_not_e164_reaches_the_desk_as_it_came(ivr, db):
    """17 digits are no phone number (to_e164 gives up): the desk shows them as sent, never
    FreeSWITCH's 0000000000."""
    fs, _app, _out = ivr
    shown = shown_by_leg(fs)
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=0.3))
    ch = fs.place_call("74951112233", caller_id_number="12345678901234567",
                       caller_id_name="Odd Number",
                       variables={"ivr_app_entry": "extension", "ivr_app_extension": "1002"})
    ended(ch)
    assert shown["sofia/internal/1002@127.0.0.1"] == ("12345678901234567", "Odd Number")


@pytest.mark.parametrize("queue_caller_id", [QUEUE_NUMBER, None])
def test_the_callback_shows_the_company_to_the_customer_and_the_customer_to_the_agent(
        rig_factory, db, queue_caller_id):  # noqa: F811 - the fixture imported above
    """The callback's agent leg is originated from the API, the customer's bridged from it:
    the customer sees the queue's caller_id (or, without one, withheld), never the agent's
    directory caller ID ("Extension 2001" / 2001); the agent sees Emily."""
    overrides = {"support": {"caller_id": queue_caller_id}} if queue_caller_id else {}
    rig = rig_factory(**overrides)
    shown = shown_by_leg(rig.fs)
    hold_agents(db)
    emily = rig.caller("support", EMILY)
    waiting(db, emily.uuid)
    rig.fs.press(emily.uuid, "2")  # call me back
    ended(emily)
    customer = f"sofia/gateway/pstn/{EMILY}"
    rig.fs.originator.far_end("user/2001", FarEnd(answer_after=0.5, talk=None))
    rig.fs.originator.far_end(customer, FarEnd(answer_after=0.5, talk=1))
    free_agent(db, "2001")
    wait_until(lambda: customer in shown, timeout=15, what="the customer's leg")
    expected = queue_caller_id or "anonymous"
    assert shown[customer] == (expected, expected)
    assert shown["sofia/internal/2001@127.0.0.1"] == (EMILY, "Emily Clark")


def test_company_numbers_are_checked_as_e164_with_file_and_line(tmp_path):
    from ivr_app import config, menus, yamlfile
    from ivr_app.dialplan import render, site
    from ivr_app.errors import ConfigError
    from tests.ivr_harness import MENUS

    text = ('domain: 127.0.0.1\ndids:\n  - {number: "+74951112233", entry: main, '
            'caller_id: "84951112200"}\n  - {number: "7000", entry: main, callerid: "+1"}\n')
    with pytest.raises(ConfigError) as bad:
        site.parse(yamlfile.loads(text, "site.yaml"))
    assert bad.value.problems == [
        "site.yaml:3: dids[0].caller_id: must be an E.164 number like +74951112233, quoted",
        "site.yaml:4: dids[1].callerid: unknown key (expected one of: caller_id, entry, number)"]
    good = site.parse(yamlfile.loads(text.replace('"84951112200"', '"+74951112200"').replace(
        ', callerid: "+1"', ""), "site.yaml"))
    public = render.render(good)
    xml = next(v for k, v in public.items() if "public" in k)
    assert 'data="ivr_app_caller_id=+74951112200"' in xml
    assert xml.count("ivr_app_caller_id") == 1  # the DID without one sets nothing

    import yaml
    data = yaml.safe_load(MENUS.read_text())
    data["queues"]["support"]["caller_id"] = "+7 495 111"
    path = tmp_path / "menus.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as bad:
        menus.load(path)
    assert any(p.startswith(f"{path}:") and "queues.support.caller_id: must be an E.164" in p
               for p in bad.value.problems), bad.value.problems

    with pytest.raises(ConfigError) as bad:
        config.load(None, {"IVR_APP_IVR_COMPANY_NUMBER": "0000000000"})
    assert "ivr.company_number: must be an E.164 number" in str(bad.value)
    assert config.load(None, {"IVR_APP_IVR_COMPANY_NUMBER": "+74951112200"}).ivr \
        .company_number == "+74951112200"

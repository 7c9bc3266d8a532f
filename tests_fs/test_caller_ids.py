"""Honest caller IDs on a real FreeSWITCH: the INVITEs the phones and the carrier get. Ivan
(VIP) calls the company's DID, whose site entry names caller_id +74951112200: Anna's desk
shows Ivan, her mobile and home (through gateway pstn) show the company number; a caller whose
number is no E.164 reaches the desk with it as sent, never 0000000000."""

from __future__ import annotations

import re

from tests_fs.sip import FarEnd, received, wait_for
from tests_fs.test_ivr import DID, call_through

IVAN = "+79031234567"
DID_CALLER_ID = "+74951112200"  # tests_fs/site.yaml


def from_of(message: str) -> tuple[str, str]:
    """(display name, user) of a SIP message's From header."""
    line = next(x for x in message.splitlines() if x.lower().startswith(("from:", "f:")))
    m = re.search(r'^[^:]+:\s*(?:"([^"]*)"\s*)?<?sip:([^@>;]*)@', line)
    assert m, line
    return m.group(1) or "", m.group(2)


def invites_to(proc, number: str) -> list[str]:
    return [msg for _when, msg in received(proc, "INVITE")
            if msg.split(" ", 2)[1].startswith((f"sip:{number}@", f"sip:{number.lstrip('+')}@"))]


def test_the_desk_shows_the_customer_the_carrier_the_company_number(lab, sip):
    from tests_fs.conftest import setting

    desk = sip.phone("1001", answer_after=None)
    pstn = sip.pstn(int(setting("IVR_APP_FS_PSTN_PORT")), {
        "+79161110001": FarEnd(answer_after=None),  # the mobile rings on
        "+74955550001": FarEnd(answer_after=1.0, press="1", press_after=1.0, talk=2),
    })
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=IVAN, name="Ivan Kuznetsov")
    uuid = lab.monitor.channel(mark, f"sofia/external/{IVAN}@")
    lab.monitor.wait(mark, "CHANNEL_BRIDGE", timeout=60, Unique_ID=uuid)
    assert caller.wait(60) is not None
    mobile = wait_for(lambda: invites_to(pstn, "+79161110001"), 10, "the mobile's INVITE")
    home = wait_for(lambda: invites_to(pstn, "+74955550001"), 10, "the home's INVITE")
    assert from_of(mobile[0])[1] == DID_CALLER_ID
    assert from_of(home[0])[1] == DID_CALLER_ID
    rang = wait_for(lambda: received(desk, "INVITE"), 10, "the desk's INVITE")
    assert from_of(rang[0][1]) == ("Ivan Kuznetsov", IVAN)


def test_a_number_that_is_no_e164_reaches_the_desk_as_it_came(lab, sip):
    odd = "12345678901234567"  # 17 digits: to_e164 gives up
    desk = sip.phone("1002", answer_after=0.5, talk=1)
    call_through(lab, sip, odd, 60, name="Odd Number", keys=[(1.0, "info", "1002#")])
    rang = wait_for(lambda: received(desk, "INVITE"), 10, "the desk's INVITE")
    assert from_of(rang[0][1]) == ("Odd Number", odd)

"""On-demand recording on a real FreeSWITCH: the employee presses *2 on their own phone during
the conversation (SIP INFO); ivr-app starts recording the call, and the WAV is attached."""

from __future__ import annotations

from tests_fs.sip import wait_for
from tests_fs.test_ivr import EMILY, call_through


def test_star_2_from_the_employees_phone_records_the_rest_of_the_call(lab, sip):
    sip.phone("1002", answer_after=0.5, press="*2", press_after=1.0, talk=6)
    uuid = call_through(lab, sip, EMILY, 60, name="Emily Clark",
                        keys=[(1.0, "info", "1002#")])
    with lab.db() as db:
        rec = wait_for(lambda: db.execute(
            "SELECT status, reason, key_presses, bytes FROM recordings WHERE call_uuid = %s",
            (uuid,)).fetchone(), 20, "the on-demand recording attached")
    status, reason, presses, size = rec
    assert status == "complete"
    assert reason == "on demand by 1002"
    assert [p.get("keys") or p.get("key") for p in presses][:1] == ["*2"]
    assert size > 44  # more than a WAV header

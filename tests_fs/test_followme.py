"""Find-me-follow-me on a real FreeSWITCH: desk, mobile and home ring together; the external
legs must confirm with a key, so a mobile that answers at once (its voicemail) never wins."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

from tests_fs.sip import FarEnd, wait_for
from tests_fs.test_ivr import DID, calls_row

IVAN = "+79031234567"  # VIP: straight to his account manager, Anna (1001)


def test_the_home_phone_that_presses_the_key_wins_over_the_instant_mobile(lab, sip):
    from tests_fs.conftest import setting

    sip.phone("1001", answer_after=None)  # Anna is not at her desk
    sip.pstn(int(setting("IVR_APP_FS_PSTN_PORT")), {
        "+79161110001": FarEnd(answer_after=0.0, talk=30),  # voicemail picks up at once
        "+74955550001": FarEnd(answer_after=1.0, press="1", press_after=1.5, talk=3),
    })
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=IVAN, name="Ivan Kuznetsov")
    uuid = lab.monitor.channel(mark, f"sofia/external/{IVAN}@")
    bridge = lab.monitor.wait(mark, "CHANNEL_BRIDGE", timeout=60, Unique_ID=uuid)
    assert "74955550001" in (bridge.get("Other-Leg-Destination-Number") or "")
    assert caller.wait(60) is not None
    route, _path, _cause, answered = calls_row(lab, uuid)
    assert (route, answered) == ("vip", True)
    mobile = lab.monitor.channel(mark, "+79161110001")
    gone = wait_for(lambda: lab.monitor.since(mark, "CHANNEL_HANGUP_COMPLETE",
                                              Unique_ID=mobile), 30, "the mobile leg's end")
    assert gone[0].get("Hangup-Cause") in ("LOSE_RACE", "ORIGINATOR_CANCEL", "NORMAL_CLEARING")
    # calls to Anna are recorded (recording.employees): the stereo WAV FreeSWITCH wrote is
    # attached to Ivan's record with the file's own checksum
    with lab.db() as db:
        rec = wait_for(lambda: db.execute(
            """SELECT r.path, r.sha256, r.status, c.name, r.bytes FROM recordings r
               JOIN customers c ON c.id = r.customer_id WHERE r.call_uuid = %s""",
            (uuid,)).fetchone(), 20, "the recording attached")
    path, sha, status, customer, size = rec
    assert (status, customer) == ("complete", "Ivan Kuznetsov")
    data = Path(path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    assert len(data) == size
    with wave.open(path) as w:
        assert w.getnchannels() == 2

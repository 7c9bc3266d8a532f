"""Find-me-follow-me on a real FreeSWITCH: desk, mobile and home ring together; the external
legs must confirm with a key, so a mobile that answers at once (its voicemail) never wins."""

from __future__ import annotations

import datetime as dt
import hashlib
import wave
from pathlib import Path

from tests_fs.sip import FarEnd, received, wait_for
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


NINA_MOBILE = "+79161110004"  # tests_fs/data.yaml: ring_delay_s 4 after Nina's desk (1004)
DELAY = 4


def _invites(proc) -> list[dt.datetime]:
    return [when for when, _msg in received(proc, "INVITE")]


def test_the_delayed_mobile_rings_4_s_after_the_desk_and_takes_the_call(lab, sip):
    """leg_delay_start: Nina's desk rings at once, her mobile (ring_delay_s 4) later. The
    desk never answers; the mobile answers and confirms with the key, and the caller is
    bridged to it. FreeSWITCH counts the delay on the epoch's whole seconds
    (check_per_channel_timeouts: elapsed > delay), so the INVITE leaves between 4 and 5 s
    after the first."""
    from tests_fs.conftest import MEASURED, setting

    desk = sip.phone("1004", answer_after=None)
    pstn = sip.pstn(int(setting("IVR_APP_FS_PSTN_PORT")), {
        NINA_MOBILE: FarEnd(answer_after=1.0, press="1", press_after=1.5, talk=3)})
    mark = lab.monitor.mark()
    caller = sip.call(DID, number="+15550004444", name="Delay Tester",
                      keys=[(1.0, "info", "1004#")])
    uuid = lab.monitor.channel(mark, "sofia/external/+15550004444@")
    bridge = lab.monitor.wait(mark, "CHANNEL_BRIDGE", timeout=60, Unique_ID=uuid)
    assert NINA_MOBILE.lstrip("+") in (bridge.get("Other-Leg-Destination-Number") or "")
    assert caller.wait(60) is not None
    route, _path, _cause, answered = calls_row(lab, uuid)
    assert (route, answered) == ("main/extension 1004", True)
    at_desk, at_mobile = _invites(desk), _invites(pstn)
    assert (len(at_desk), len(at_mobile)) == (1, 1), (at_desk, at_mobile)
    later = (at_mobile[0] - at_desk[0]).total_seconds()
    # FreeSWITCH's own view: each leg's CHANNEL_CREATE and CHANNEL_PROGRESS (180 Ringing)
    legs = {leg: lab.monitor.channel(mark, leg) for leg in ("sofia/internal/1004",
                                                            NINA_MOBILE.lstrip("+"))}

    def stamp(name: str, leg: str) -> float:
        ev = lab.monitor.wait(mark, name, timeout=5, Unique_ID=legs[leg])
        return int(ev.get("Event-Date-Timestamp") or 0) / 1e6

    created = stamp("CHANNEL_CREATE", NINA_MOBILE.lstrip("+")) - \
        stamp("CHANNEL_CREATE", "sofia/internal/1004")
    ringing = stamp("CHANNEL_PROGRESS", NINA_MOBILE.lstrip("+")) - \
        stamp("CHANNEL_PROGRESS", "sofia/internal/1004")
    MEASURED.append(f"follow-me ring delay {DELAY} s: the mobile's INVITE {later:.3f} s after "
                    f"the desk's (CHANNEL_CREATE {created:+.3f} s, CHANNEL_PROGRESS "
                    f"{ringing:+.3f} s)")
    assert DELAY - 0.1 <= later <= DELAY + 1.5, later
    assert DELAY - 0.1 <= ringing <= DELAY + 1.5, ringing

"""ivr-app killed mid-call (kill -9) on a real FreeSWITCH: the dialplan's fallback takes the
caller to the operator within the current step (hold music plays in 30 s pieces so it ends),
and the restarted node closes the calls row its dead run left open."""

from __future__ import annotations

import time

from tests_fs.conftest import MEASURED
from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID

MUSIC_SECONDS = 30


def closed(lab, uuid: str):
    with lab.db() as db:
        return db.execute("SELECT hangup_cause, route FROM calls WHERE uuid = %s AND "
                          "ended_at IS NOT NULL", (uuid,)).fetchone()


def killed_in(lab, sip, keys, number: str) -> tuple[str, float]:
    """Call, let ivr-app take the call, kill it; the seconds until the operator's phone rang."""
    sip.phone("1000", answer_after=0.5, talk=2)
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=number, keys=keys)
    uuid = lab.monitor.channel(mark, f"sofia/external/{number}@")
    lab.monitor.wait(mark, "CHANNEL_EXECUTE", timeout=20, Unique_ID=uuid,
                     Application="play_and_get_digits")
    if keys:
        lab.monitor.wait(mark, "CHANNEL_EXECUTE", timeout=30, Unique_ID=uuid,
                         Application="playback", Application_Data="local_stream://moh")
    try:
        killed = time.monotonic()
        lab.kill9()
        lab.monitor.channel(mark, "sofia/internal/1000@", timeout=MUSIC_SECONDS + 20)
        rang_after = time.monotonic() - killed
        assert caller.wait(60) is not None
        assert closed(lab, uuid) is None  # nobody closed it: its node is dead
    finally:
        lab.start_serve()
    return uuid, rang_after


def test_kill_9_during_the_menu(lab, sip):
    uuid, rang_after = killed_in(lab, sip, [], "+15550003333")
    MEASURED.append(f"kill -9 in the menu: the operator rang {rang_after:.1f} s later")
    # the menu's current play_and_get_digits runs to its end first (FreeSWITCH cannot stop
    # an application whose controller vanished): the greeting, the prompt and 5 s
    bound = lab.prompt_seconds("welcome") + lab.prompt_seconds("main_menu") + 5 + 5
    assert rang_after < bound
    cause, route = wait_for(lambda: closed(lab, uuid), 20, "the row closed on restart")
    assert (cause, route) == ("IVR_APP_LOST", "ended while ivr-app was down")


def test_kill_9_in_the_hold_queue(lab, sip):
    lab.cli("presence", "set", "1003", "dnd")  # no agent: the caller waits
    try:
        uuid, rang_after = killed_in(lab, sip, [(1.0, "info", "3")], "+15550004444")
    finally:
        lab.cli("presence", "set", "1003", "available")
    MEASURED.append(f"kill -9 in the hold queue: the operator rang {rang_after:.1f} s later")
    assert rang_after < MUSIC_SECONDS + 5  # not the endless music of the first real run
    assert wait_for(lambda: closed(lab, uuid), 20, "the row closed on restart")

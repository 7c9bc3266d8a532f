"""Presence from a registered phone on a real FreeSWITCH: star codes dialled from the
employee's own phone (digest auth on the internal profile) reach ivr-app, not the stock
dialplan, change the state, and FreeSWITCH gets the PRESENCE_IN for the employee's lamp."""

from __future__ import annotations

import re

import gevent

from tests_fs.sip import received, wait_for


def state(lab, extension: str) -> str | None:
    with lab.db() as db:
        row = db.execute("""SELECT p.state FROM presence p JOIN employees e
                            ON e.id = p.employee_id WHERE e.extension = %s""",
                         (extension,)).fetchone()
    return row[0] if row else None


def test_star_31_from_the_desk_phone_sets_in_a_meeting_and_star_30_clears_it(lab, sip):
    mark = lab.monitor.mark()
    caller = sip.call("*31", number="1002", profile="internal", auth_user="1002",
                      max_seconds=30)
    assert caller.wait(40) is not None
    assert wait_for(lambda: state(lab, "1002") == "meeting", 10, "1002 in a meeting")
    uuid = lab.monitor.channel(mark, "sofia/internal/1002@")
    assert any(app == "socket" for app, _data in lab.monitor.apps(mark, uuid))
    lamp = wait_for(lambda: [e for e in lab.monitor.since(mark, "PRESENCE_IN")
                             if (e.get("from") or "").startswith("1002@") and
                             "meeting" in (e.get("status") or "").lower()], 10,
                    "the PRESENCE_IN ivr-app sent for 1002")
    assert lamp[0].get("proto") == "sip"
    again = sip.call("*30", number="1002", profile="internal", auth_user="1002",
                     max_seconds=30)
    assert again.wait(40) is not None
    assert wait_for(lambda: state(lab, "1002") == "available", 10, "1002 available again")


def star_from_phone(lab, sip, code: str, user: str, number: str | None = None):
    """``code`` dialled from the phone registered as ``user`` (digest auth), its From saying
    ``number`` (default: the user); (monitor mark, the channel's UUID) once the call is over."""
    mark = lab.monitor.mark()
    caller = sip.call(code, number=number or user, profile="internal", auth_user=user,
                      max_seconds=30)
    uuid = lab.monitor.channel(mark, f"sofia/internal/{number or user}@")
    assert caller.wait(40) is not None
    return mark, uuid


def test_a_phone_that_claims_another_extension_changes_only_its_own_user(lab, sip):
    """1003's phone (digest as 1003) dials *32 with ``From: 1002``: the caller ID says 1002,
    the user FreeSWITCH authenticated is 1003. 1003 is away; 1002 stays as it was."""
    before = state(lab, "1002")
    try:
        mark, uuid = star_from_phone(lab, sip, "*32", "1003", number="1002")
        assert wait_for(lambda: state(lab, "1003") == "away", 10, "1003 away")
        assert state(lab, "1002") == before
        data = lab.monitor.since(mark, "CHANNEL_CREATE", Unique_ID=uuid)[0]
        assert data.get("Caller-Caller-ID-Number") == "1002"  # what the phone claimed
    finally:
        lab.cli("presence", "set", "1003", "available")


def test_star_98_the_presence_menu_from_a_registered_phone(lab, sip):
    """*98 is also the stock dialplan's vmain: with ivr-app's extensions first it reaches the
    presence menu. Extension, PIN and the new state are typed ahead of each prompt."""
    try:
        caller = sip.call("*98", number="1002", profile="internal", auth_user="1002",
                          keys=[(1.0, "info", "1001#"), (1.5, "info", "4321#"),
                                (1.5, "info", "3")], max_seconds=40)
        assert caller.wait(50) is not None
        assert wait_for(lambda: state(lab, "1001") == "away", 10, "Anna away")
    finally:
        lab.cli("presence", "set", "1001", "available")


def _notes(watcher) -> list[tuple[str, str]]:
    """(dm:note, rpid activity) of each presence NOTIFY the watcher got, in order."""
    out = []
    for _when, message in received(watcher, "NOTIFY"):
        note = re.search(r"<dm:note>([^<]*)</dm:note>", message)
        activity = re.search(r"<rpid:activities>\s*<rpid:([a-z-]+)", message)
        out.append((note.group(1) if note else "", activity.group(1) if activity else ""))
    return out


def test_a_phone_subscribed_to_1002_sees_in_a_meeting_then_available(lab, sip):
    """BLF: 1003's phone SUBSCRIBEs (Event: presence, digest auth) to 1002. *31 from 1002's
    phone: FreeSWITCH NOTIFYs 1003 with the state ivr-app published (PIDF note 'In a
    meeting'), and it stays so after the *31 call is over; *30: a NOTIFY says 'Available'."""
    watcher = sip.subscribe("1003", "1002", expires=300, quiet=60)
    wait_for(lambda: _notes(watcher), 10, "the subscription's first NOTIFY")
    try:
        mark, uuid = star_from_phone(lab, sip, "*31", "1002")
        meeting = wait_for(lambda: [n for n in _notes(watcher) if n[0] == "In a meeting"],
                           15, "a NOTIFY saying 'In a meeting'")
        assert meeting[0][1] == "busy"  # rpid
        lab.monitor.wait(mark, "CHANNEL_DESTROY", timeout=10, Unique_ID=uuid)
        gevent.sleep(2.0)  # an absence: what FreeSWITCH sends at the call's end has come
        notes = [n for n, _ in _notes(watcher)]
        after = notes[notes.index("In a meeting"):]
        # one publisher: FreeSWITCH's own channel presence for the call (its "Available" at
        # the hangup) never reaches the lamp between ivr-app's states
        assert "Available" not in after, notes
        assert after[-1] == "In a meeting", notes
        seen = len(_notes(watcher))
        again = sip.call("*30", number="1002", profile="internal", auth_user="1002",
                         max_seconds=30)
        assert again.wait(40) is not None
        wait_for(lambda: [n for n in _notes(watcher)[seen:] if n[0] == "Available"], 15,
                 "a NOTIFY saying 'Available'")
    finally:
        lab.cli("presence", "set", "1002", "available")

"""Presence from a registered phone on a real FreeSWITCH: star codes dialled from the
employee's own phone (digest auth on the internal profile) reach ivr-app, not the stock
dialplan, change the state, and FreeSWITCH gets the PRESENCE_IN for the employee's lamp."""

from __future__ import annotations

from tests_fs.sip import wait_for


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

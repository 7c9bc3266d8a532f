"""What the first run on a real FreeSWITCH 1.10.12 broke, each as a whole call through the
simulator (which now does what the real one did) against a real PostgreSQL. The same flows
run on a real FreeSWITCH in tests_fs/ (`make test-fs`)."""

from __future__ import annotations

from pathlib import Path

import gevent
import pytest

from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS, FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY, at_menu, call, ended, press_while_heard, row


def test_a_key_pressed_during_the_greeting_chooses(ivr, db):
    """Type-ahead: the greeting and the menu prompt are one play_and_get_digits prompt."""
    fs, app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    pressed = press_while_heard(fs, app.prompts.path(app.menus.prompts["welcome"], "en"), "2")
    ch = call(fs, EMILY)
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert pressed == [ch.uuid]
    assert route == "main/manager"
    assert path == [{"menu": "main", "digits": "2"}]


def test_a_hostile_display_name_still_reaches_the_employee(ivr, db):
    """sofia cannot dial out with a caller name holding \\" (DESTINATION_OUT_OF_ORDER); the
    legs get a name the phones can show, the stored name stays verbatim."""
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    shown: list[tuple[str, str]] = []

    def on_create(name, headers):
        h = dict(headers)
        if name == "CHANNEL_CREATE" and h.get("Channel-Name", "").startswith("sofia/internal/"):
            shown.append((h.get("Caller-Caller-ID-Name", ""), h["Caller-Caller-ID-Number"]))

    fs.observers.append(on_create)
    hostile = 'Evil \\"x\\" Name'
    ch = fs.place_call("74951112233", caller_id_number="12345", caller_id_name=hostile)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1002#")
    ended(ch)
    route, _path, _cause, _customer = row(db, ch.uuid)
    assert route == "main/extension 1002"
    assert shown == [("Evil x Name", "12345")]  # the number as it came, not 0000000000
    stored = db.execute("SELECT caller_name, employee_answered FROM calls WHERE uuid = %s",
                        (ch.uuid,)).fetchone()
    assert stored == (hostile, True)


def test_a_hangup_during_the_menu_is_not_a_try_without_input(ivr, db):
    fs, _app, _out = ivr
    ch = call(fs, EMILY)
    at_menu(fs, ch, 1)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    _route, path, cause, _customer = row(db, ch.uuid)
    assert path == []
    assert cause == "NORMAL_CLEARING"


def test_mod_voicemails_own_recording_is_not_a_call_recording(ivr, db):
    """mod_voicemail fires RECORD_START / RECORD_STOP for its message file."""
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", NEVER_ANSWERS)
    ch = call(fs, EMILY)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1002#")
    wait_until(lambda: ch.vars.get("current_application") == "voicemail", timeout=10,
               what="voicemail")
    gevent.sleep(0.08)  # 8 s of message at the harness's time factor
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    wait_until(lambda: db.execute("SELECT count(*) FROM voicemails WHERE call_uuid = %s",
                                  (ch.uuid,)).fetchone()[0] == 1, what="the voicemail stored")
    assert any(uuid == ch.uuid for _box, uuid, _path in fs.voicemails)
    assert db.execute("SELECT count(*) FROM recordings WHERE call_uuid = %s",
                      (ch.uuid,)).fetchone()[0] == 0


def test_a_literal_percent_sequence_in_a_caller_name_is_stored_verbatim(ivr, db):
    """FreeSWITCH does not re-encode a valid %XX in plain events: "%0A" would be decoded into
    a newline. The name is read again (uuid_getvar) when it holds such a sequence."""
    fs, _app, _out = ivr
    name = "Bob%0ADROP TABLE calls;--%41"
    ch = fs.place_call("74951112233", caller_id_number="+15550100071", caller_id_name=name)
    at_menu(fs, ch, 1)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    row(db, ch.uuid)
    stored = db.execute("SELECT caller_name FROM calls WHERE uuid = %s", (ch.uuid,)).fetchone()
    assert stored == (name,)


HOSTILE_NAMES = [
    "Eve\r\nsendmsg\r\ncall-command: hangup",  # a second command, if it reached the wire raw
    "${system(touch /tmp/ivr-app-pwned)}",  # FreeSWITCH's variable expansion
    "O'Brien \"Bob\" `id`",  # quotes of every kind
    "Robert'); DROP TABLE calls;--",  # SQL
    "{origination_uuid=x}user/1003,user/1004",  # a dial string
    "Ж" * 1024,  # 1 KB (2 KB of UTF-8)
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["crlf", "expansion", "quotes", "sql",
                                                    "dialstring", "1kb"])
def test_a_hostile_caller_name_is_stored_verbatim_and_executes_nothing(ivr, db, name):
    """The call reaches the employee, the name is stored exactly as it came, the employee's
    phone shows a name through the quoting gate, and no leg but the one dialled is made."""
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    legs: list[tuple[str, str]] = []

    def on_create(event, headers):
        h = dict(headers)
        if event == "CHANNEL_CREATE" and h.get("Call-Direction") == "outbound":
            legs.append((h.get("Channel-Name", ""), h.get("Caller-Caller-ID-Name", "")))

    fs.observers.append(on_create)
    ch = fs.place_call("74951112233", caller_id_number="+15550100072", caller_id_name=name)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1002#")
    ended(ch)
    assert [leg for leg, _shown in legs] == ["sofia/internal/1002@127.0.0.1"]
    shown = legs[0][1]
    assert not set(shown) & set("\r\n\"'`${}[],|;")
    assert row(db, ch.uuid)[0] == "main/extension 1002"  # the row, once the call is closed
    stored = db.execute("SELECT caller_name, employee_answered FROM calls "
                        "WHERE uuid = %s", (ch.uuid,)).fetchone()
    assert stored == (name, True)
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] >= 1  # the table is there
    assert not Path("/tmp/ivr-app-pwned").exists()


@pytest.mark.parametrize("number", ["+1555${system(id)}", "1000,user/1001", "12345'; --",
                                    "anonymous\r\nX-Evil: 1", "9" * 300])
def test_a_hostile_caller_number_is_stored_verbatim_and_executes_nothing(ivr, db, number):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    legs: list[tuple[str, str]] = []
    fs.observers.append(lambda event, headers: legs.append(
        (dict(headers).get("Channel-Name", ""), dict(headers).get("Caller-Caller-ID-Number", "")))
        if event == "CHANNEL_CREATE" and dict(headers).get("Call-Direction") == "outbound"
        else None)
    ch = fs.place_call("74951112233", caller_id_number=number, caller_id_name="Mallory")
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1002#")
    ended(ch)
    assert [leg for leg, _shown in legs] == ["sofia/internal/1002@127.0.0.1"]
    assert not set(legs[0][1]) & set("\r\n\"'`${}[],|; ")
    assert row(db, ch.uuid)[0] == "main/extension 1002"
    assert db.execute("SELECT caller_number FROM calls WHERE uuid = %s",
                      (ch.uuid,)).fetchone() == (number,)

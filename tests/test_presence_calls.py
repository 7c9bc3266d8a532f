"""Presence and find-me-follow-me through the simulator and PostgreSQL: who rings, where,
and what the caller gets, for the states and exceptions of a real profile.

Anna (1001) has a desk, a mobile (+79161110001) and a home phone (+74955550001, 5 s delay);
her manager is Olga (1000); Ivan is a VIP customer whose account manager is Anna."""

from __future__ import annotations

import uuid as uuid_mod
from pathlib import Path

import gevent
import pytest

from ivr_app.db import presence as presence_db
from ivr_app.presence.model import State
from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS, VOICEMAIL, FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import (
    EMILY,
    IVAN,
    at_menu,
    call,
    ended,
    hang_up_in_voicemail,
    press_while_heard,
    row,
)

ANNA_MOBILE = "sofia/gateway/pstn/+79161110001"
ANNA_HOME = "sofia/gateway/pstn/+74955550001"
OLGA_DESK_NUMBER = "1000"


class Legs(dict):
    """Channel name -> hangup cause (None while up) of every leg the switch originates;
    ``uuids`` by name, and the names of the legs that were bridged to the caller."""

    def __init__(self) -> None:
        super().__init__()
        self.uuids: dict[str, str] = {}
        self.bridged: set[str] = set()


@pytest.fixture
def legs(ivr):
    fs = ivr[0]
    seen = Legs()

    def watch(name, headers):
        h = dict(headers)
        if name == "CHANNEL_BRIDGE":
            seen.bridged.add(h.get("Other-Leg-Channel-Name", ""))
        if h.get("Call-Direction") != "outbound":
            return
        if name == "CHANNEL_CREATE":
            seen[h["Channel-Name"]] = None
            seen.uuids[h["Channel-Name"]] = h["Unique-ID"]
        elif name == "CHANNEL_HANGUP_COMPLETE":
            seen[h["Channel-Name"]] = h["Hangup-Cause"]

    fs.observers.append(watch)
    return seen


def dial_extension(fs, extension, number=EMILY, name="Emily Clark"):
    """A caller reaches the main menu and types an extension."""
    ch = call(fs, number, name)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, f"{extension}#")
    return ch


def meeting_rules(db):
    """Anna's rules come from config/demo-data.yaml: "in a meeting: everything to voicemail,
    except my manager and VIP customers, who ring my mobile only". Put her in one."""
    rules = db.execute("""SELECT state::text, caller_match, action::text, devices::text[]
                          FROM presence_rules r JOIN employees e ON e.id = r.employee_id
                          WHERE e.extension = '1001' AND state = 'meeting'
                          ORDER BY priority""").fetchall()
    assert rules == [("meeting", {"manager": True, "vip": True}, "ring", ["mobile"]),
                     ("meeting", {"any": True}, "voicemail", [])]
    presence_db.set_state(db, "1001", State.MEETING, by="test")


def test_ring_all_desk_wins_while_the_mobile_voicemail_never_confirms(ivr, db, legs):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1001", FarEnd(answer_after=1.0, talk=1))
    fs.originator.far_end(ANNA_MOBILE, VOICEMAIL)
    fs.originator.far_end(ANNA_HOME, NEVER_ANSWERS)
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    ended(ch)
    assert row(db, ch.uuid)[0] == "vip"
    desk = "sofia/internal/1001@127.0.0.1"
    # desk and mobile rang together; the home phone (5 s ring delay) was never dialled
    # because the desk answered within its delay
    assert set(legs) == {desk, ANNA_MOBILE}
    assert legs[ANNA_MOBILE] == "LOSE_RACE"  # answered at once, never pressed 1
    prompted = {uuid for uuid, path in fs.played if path.endswith("accept_reject_voicemail.wav")}
    assert prompted == {legs.uuids[ANNA_MOBILE]}  # the desk is internal: no key asked of it
    assert legs.bridged == {desk}
    assert ch.vars["transfer_ringback"] == "tone_stream://%(2000,4000,440,480);loops=-1"


def test_the_mobile_takes_the_call_by_pressing_the_key(ivr, db, legs):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1001", NEVER_ANSWERS)
    fs.originator.far_end(ANNA_MOBILE, FarEnd(answer_after=0.5, press="1", press_after=0.5,
                                              talk=1))
    held = []
    fs.observers.append(lambda name, headers: held.append(db.execute(
        "SELECT extension, legs FROM external_legs").fetchall())
        if name == "CHANNEL_BRIDGE" else None)
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    ended(ch)
    assert legs.bridged == {ANNA_MOBILE}
    assert legs["sofia/internal/1001@127.0.0.1"] == "LOSE_RACE"
    # Anna's external legs (mobile, home) counted on every node while they rang and talked
    assert held[0] == [("1001", 2)]
    wait_until(lambda: db.execute("SELECT count(*) FROM external_legs").fetchone() == (0,),
               timeout=5, what="the legs given back at the bridge's end")


def test_meeting_sends_a_customer_to_voicemail(ivr, db, legs):
    fs, _app, _out = ivr
    meeting_rules(db)
    ch = dial_extension(fs, "1001", EMILY, "Emily Clark")
    hang_up_in_voicemail(fs, ch, "voicemail")
    assert legs == {}  # nothing rang
    assert row(db, ch.uuid)[0] == "main/extension 1001 -> voicemail 1001"


def test_meeting_lets_a_vip_through_to_the_mobile_only(ivr, db, legs):
    fs, _app, _out = ivr
    meeting_rules(db)
    fs.originator.far_end(ANNA_MOBILE, FarEnd(answer_after=0.3, press="1", press_after=0.2,
                                              talk=1))
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    ended(ch)
    assert set(legs) == {ANNA_MOBILE}
    assert legs.bridged == {ANNA_MOBILE}


def test_meeting_lets_her_manager_through_from_the_desk_phone(ivr, db, legs):
    """Olga calls the company number from her desk (caller ID 1000) and dials 1001."""
    fs, _app, _out = ivr
    meeting_rules(db)
    fs.originator.far_end(ANNA_MOBILE, FarEnd(answer_after=0.3, press="1", press_after=0.2,
                                              talk=1))
    ch = dial_extension(fs, "1001", OLGA_DESK_NUMBER, "Olga Smirnova")
    ended(ch)
    assert set(legs) == {ANNA_MOBILE}
    assert legs.bridged == {ANNA_MOBILE}


def test_dnd_keeps_the_forward_and_turning_it_off_brings_it_back(ivr, db, legs):
    fs, _app, _out = ivr
    presence_db.set_forward(db, "1002", "+447700900555", by="test")
    presence_db.set_state(db, "1002", State.DND, by="test")
    ch = dial_extension(fs, "1002", EMILY, "Emily Clark")
    hang_up_in_voicemail(fs, ch, "voicemail under DND")
    assert legs == {}
    assert row(db, ch.uuid)[0] == "main/extension 1002 -> voicemail 1002"

    presence_db.set_state(db, "1002", State.AVAILABLE, by="test")
    forwarded = "sofia/gateway/pstn/+447700900555"
    # an external forward confirms like any external leg: the mobile presses 1
    fs.originator.far_end(forwarded, FarEnd(answer_after=0.2, press="1", talk=1))
    ch = dial_extension(fs, "1002", EMILY, "Emily Clark")
    ended(ch)
    assert set(legs) == {forwarded}
    assert legs.bridged == {forwarded}


def test_a_forward_to_a_mobiles_voicemail_never_takes_the_call(ivr, db, legs):
    """The forward's mobile answers at once (its voicemail) and never presses the key: the
    call is not bridged there; the caller reaches 1002's own voicemail."""
    fs, _app, _out = ivr
    presence_db.set_forward(db, "1002", "+447700900556", by="test")
    forwarded = "sofia/gateway/pstn/+447700900556"
    fs.originator.far_end(forwarded, FarEnd(answer_after=0, press=None, talk=None))
    ch = dial_extension(fs, "1002", EMILY, "Emily Clark")
    hang_up_in_voicemail(fs, ch, "voicemail, not the mobile's")
    assert set(legs) == {forwarded}
    assert legs.bridged == set()


def test_a_forward_to_a_premium_number_is_refused_and_logged(ivr, db, legs):
    fs, _app, out = ivr
    # put into the database by hand, past the check made when a forward is set
    db.execute("""UPDATE presence SET forward_to = '+19005550100' FROM employees e
                  WHERE e.id = presence.employee_id AND e.extension = '1002'""")
    ch = dial_extension(fs, "1002", EMILY, "Emily Clark")
    hang_up_in_voicemail(fs, ch, "voicemail instead")
    gevent.sleep(0.05)
    assert legs == {}
    assert row(db, ch.uuid)[0] == "main/extension 1002 -> voicemail 1002"
    assert "forward refused by the toll-fraud guard" in out.getvalue()
    assert "+19005550100 is in a blocked range" in out.getvalue()


def star_variables(code_action, argument=""):
    """As the rendered dialplan hands a star code over (`set` with an empty value unsets)."""
    variables = {"ivr_app_entry": "star", "ivr_app_star_action": code_action}
    if argument:
        variables["ivr_app_star_argument"] = argument
    return variables


def star(fs, code_action, caller="1001", argument=""):
    """A star code from ``caller``'s registered phone (FreeSWITCH authenticated it)."""
    return fs.phone_call(caller, "74951112233", variables=star_variables(code_action, argument))


def state_of(db, ext):
    return db.execute("""SELECT p.state::text, p.forward_to, p.updated_by FROM presence p
                         JOIN employees e ON e.id = p.employee_id
                         WHERE e.extension = %s""", (ext,)).fetchone()


def test_star_codes_set_presence_and_confirm_each_change(ivr, db):
    fs, app, _out = ivr
    ch = star(fs, "meeting")
    ended(ch)
    assert state_of(db, "1001") == ("meeting", None, "star code meeting")
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard == [app.prompts.path(app.menus.prompts["presence_meeting"], "en")]

    ended(star(fs, "forward", argument="0079161234567"))  # 00: the international prefix
    ended(star(fs, "dnd_on"))
    assert state_of(db, "1001")[:2] == ("dnd", "+79161234567")  # DND kept the forward
    ended(star(fs, "dnd_off"))
    assert state_of(db, "1001")[:2] == ("available", "+79161234567")
    ended(star(fs, "forward_off"))
    assert state_of(db, "1001")[:2] == ("available", None)


def test_star_forward_asks_for_the_number_when_none_was_dialled(ivr, db):
    fs, _app, _out = ivr
    ch = star(fs, "forward")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits",
               timeout=10, what="the number prompt")
    fs.press(ch.uuid, "1002#")
    ended(ch)
    assert state_of(db, "1001")[1] == "1002"


def test_star_forward_to_a_premium_number_is_refused_spoken_and_logged(ivr, db):
    fs, app, out = ivr
    ch = star(fs, "forward", argument="0019005550100")  # +1 900: premium rate
    ended(ch)
    assert state_of(db, "1001")[1] is None
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard == [app.prompts.path(app.menus.prompts["presence_forward_refused"], "en")]
    assert "is in a blocked range" in out.getvalue()


def test_a_star_code_with_a_forged_caller_id_from_outside_changes_nothing(ivr, db):
    """An outside call (the external profile, nobody authenticated) whose caller ID says
    1001: refused, spoken and logged; 1001's presence and forward stay as they were."""
    fs, app, out = ivr
    before = state_of(db, "1001")
    ch = fs.place_call("74951112233", caller_id_number="1001", caller_id_name="Anna Petrova",
                       variables=star_variables("forward", "0079161234567"))
    ended(ch)
    assert ch.hangup_cause == "CALL_REJECTED"
    assert state_of(db, "1001") == before
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard == [app.prompts.path(app.menus.prompts["presence_not_changed"], "en")]
    assert "star code from a caller FreeSWITCH did not authenticate" in out.getvalue()


def test_a_phone_claiming_another_extension_changes_only_its_own_user(ivr, db):
    """1002's phone (digest as 1002) sends From: 1001: the change is 1002's, never 1001's."""
    fs, _app, _out = ivr
    before = state_of(db, "1001")
    ch = fs.phone_call("1002", "74951112233", from_number="1001",
                       variables=star_variables("meeting"))
    ended(ch)
    assert state_of(db, "1001") == before
    assert state_of(db, "1002")[:2] == ("meeting", None)


def test_two_nodes_see_each_others_changes_and_light_the_lamps(ivr, db, database_url):
    """A star code handled by node A; node B hears it from PostgreSQL (LISTEN/NOTIFY) and
    both send FreeSWITCH a PRESENCE_IN for 1001, as the inbound-presence capture shows."""
    import structlog

    from ivr_app import config, logs
    from ivr_app.app import App
    from ivr_app.esl.control import ControlConnection

    fs, app_a, _out = ivr
    cfg_b = config.load(None, {"DATABASE_URL": database_url, "IVR_APP_OUTBOUND_PORT": "0",
                               "IVR_APP_ESL_PORT": str(fs.esl_port),
                               "IVR_APP_IVR_MENUS": str(app_a.config.ivr.menus),
                               "IVR_APP_IVR_PROMPT_CACHE_DIR":
                                   str(app_a.config.ivr.prompt_cache_dir)})
    app_b = App(cfg_b, None, {}, logs.get_logger("app-b"))
    app_b.start()
    lamps = []
    watcher = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                events=["PRESENCE_IN"]).start()
    watcher.on("PRESENCE_IN", lamps.append)
    try:
        assert watcher.wait_connected(5)
        for app in (app_a, app_b):
            assert app.presence.listening.wait(5)
        ended(star(fs, "meeting"))
        wait_until(lambda: app_b.presence.seen.get("1001") == "meeting", timeout=5,
                   what="node B hearing the change")
        assert app_a.presence.seen.get("1001") == "meeting"
        # (the star-code call itself also shows Anna "On the phone" while she dials)
        wait_until(lambda: len(meeting(lamps)) >= 2, timeout=5,
                   what="PRESENCE_IN from both nodes")
    finally:
        watcher.stop()
        app_b.shutdown()
    for event in meeting(lamps):
        assert event.get("from") == "1001@127.0.0.1"
        assert event.get("rpid") == "busy"


def meeting(lamps):
    return [e for e in lamps if e.get("status") == "In a meeting"]


def heard_by(fs, app, ch):
    """The names of the menus prompts played to the caller, in order."""
    by_path = {app.prompts.path(p, "en"): name for name, p in app.menus.prompts.items()}
    return [by_path.get(path, path) for uuid, path in fs.played if uuid == ch.uuid]


def test_presence_menu_from_any_phone_with_extension_and_pin(ivr, db):
    fs, app, _out = ivr
    ch = star(fs, "presence_menu", caller=EMILY)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1001#")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "4321#")
    at_menu(fs, ch, 3)
    fs.press(ch.uuid, "2")
    ended(ch)
    assert state_of(db, "1001") == ("meeting", None, f"presence menu from {EMILY}")
    assert heard_by(fs, app, ch) == [
        "presence_menu_extension", "presence_menu_pin", "presence_available",
        "presence_menu_choices", "presence_meeting"]


def test_presence_menu_a_key_pressed_while_the_state_is_said_counts(ivr, db):
    """The current state and the choices are one prompt (type-ahead)."""
    fs, app, _out = ivr
    pressed = press_while_heard(
        fs, app.prompts.path(app.menus.prompts["presence_available"], "en"), "3")
    ch = star(fs, "presence_menu", caller=EMILY)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1001#")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "4321#")
    ended(ch)
    assert pressed == [ch.uuid]
    assert state_of(db, "1001")[0] == "away"


def test_wrong_pins_lock_the_menu_even_for_the_right_pin(ivr, db):
    fs, app, out = ivr
    ch = star(fs, "presence_menu", caller=EMILY)
    for attempt in range(3):
        at_menu(fs, ch, 2 * attempt + 1)
        fs.press(ch.uuid, "1001#")
        at_menu(fs, ch, 2 * attempt + 2)
        fs.press(ch.uuid, "0000#")
    ended(ch)
    assert heard_by(fs, app, ch)[-1] == "presence_locked"
    assert heard_by(fs, app, ch).count("presence_pin_wrong") == 2
    failures, locked = db.execute("""SELECT pin_failures, pin_locked_until > now()
                                     FROM employees WHERE extension = '1001'""").fetchone()
    assert (failures, locked) == (0, True)

    ch = star(fs, "presence_menu", caller=EMILY)  # now the right PIN: still locked
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1001#")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "4321#")
    ended(ch)
    assert heard_by(fs, app, ch)[-1] == "presence_locked"
    assert state_of(db, "1001") in (None, ("available", None, None))
    assert '"verdict": "locked"' in out.getvalue()


def test_an_unknown_extension_sounds_like_a_wrong_pin(ivr, db):
    fs, app, _out = ivr
    ch = star(fs, "presence_menu", caller=EMILY)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "4444#")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "1234#")
    at_menu(fs, ch, 3)  # asked again, told nothing about 4444
    assert heard_by(fs, app, ch)[-2:] == ["presence_pin_wrong", "presence_menu_extension"]
    fs.caller_hangs_up(ch.uuid)
    ended(ch)


def test_on_a_call_is_derived_from_channel_events(ivr, db, legs):
    """Anna answers Ivan; while they talk, Emily's call for Anna goes to voicemail (on a call:
    the default) and the lamp shows "On the phone"; after Ivan hangs up, Anna rings again."""
    import structlog

    from ivr_app.esl.control import ControlConnection

    fs, app, _out = ivr
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.1, talk=None))
    lamps = []
    watcher = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                events=["PRESENCE_IN"]).start()
    watcher.on("PRESENCE_IN", lambda e: lamps.append((e.get("from"), e.get("status"))))
    try:
        assert watcher.wait_connected(5)
        ivan = call(fs, IVAN, "Ivan Kuznetsov")
        wait_until(lambda: app.on_call.busy("1001"), timeout=10, what="Anna on a call")
        emily = call(fs, EMILY, "Emily Clark")
        at_menu(fs, emily, 1)
        fs.press(emily.uuid, "1001#")
        wait_until(lambda: emily.vars.get("current_application") == "voicemail", timeout=10,
                   what="voicemail while Anna is on a call")
        fs.caller_hangs_up(emily.uuid)
        ended(emily)
        wait_until(lambda: ("1001@127.0.0.1", "On the phone") in lamps, timeout=5,
                   what="the lamp")
        fs.caller_hangs_up(ivan.uuid)
        ended(ivan)
        wait_until(lambda: not app.on_call.busy("1001"), timeout=5, what="Anna free again")
        wait_until(lambda: ("1001@127.0.0.1", "Available") in lamps, timeout=5,
                   what="the lamp back to her own state")
    finally:
        watcher.stop()
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.1, talk=1))
    again = dial_extension(fs, "1001", EMILY, "Emily Clark")
    ended(again)
    assert row(db, again.uuid)[0] == "main/extension 1001"
    assert app.on_call.busy("1001") is False


def test_a_vip_voicemail_is_stored_on_the_timeline_and_notified_urgent(ivr, db, webhook,
                                                                        smtp):
    """Anna is on DND; Ivan (VIP) reaches her voicemail and leaves a message."""
    fs, _app, _out = ivr
    presence_db.set_state(db, "1001", State.DND, by="test")
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    wait_until(lambda: ch.vars.get("current_application") == "voicemail", timeout=10,
               what="voicemail")
    gevent.sleep(0.08)  # 8 s of message at the harness's time factor
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    stored = wait_until(lambda: db.execute(
        """SELECT v.urgent, v.seconds, e.extension, c.name, v.path, v.notified_at IS NOT NULL
           FROM voicemails v JOIN employees e ON e.id = v.employee_id
           JOIN customers c ON c.id = v.customer_id WHERE v.call_uuid = %s""",
        (ch.uuid,)).fetchone(), timeout=5, what="the voicemail row")
    urgent, seconds, ext, customer, path, _ = stored
    assert (urgent, ext, customer) == (True, "1001", "Ivan Kuznetsov")
    assert seconds >= 3
    assert Path(path).is_file()
    notices = wait_until(lambda: [n for n in webhook[1] if n.get("mailbox") == "1001"],
                         timeout=5, what="the notice")
    assert notices[0]["urgent"] is True
    assert notices[0]["customer"] == "Ivan Kuznetsov"
    assert db.execute("SELECT count(*) FROM interactions WHERE kind = 'voicemail' AND "
                      "reference LIKE 'voicemail:%%'").fetchone()[0] == 1
    wait_until(lambda: db.execute("SELECT notified_at IS NOT NULL FROM voicemails "
                                  "WHERE call_uuid = %s", (ch.uuid,)).fetchone()[0],
               timeout=5, what="notified_at")
    import email

    (raw,) = wait_until(lambda: smtp[1], timeout=5, what="the e-mail")
    mail = email.message_from_bytes(raw)
    assert mail["To"] == "anna.petrova@example.com"
    assert mail["Subject"] == "[URGENT] Voicemail from Ivan Kuznetsov (+79031234567)"
    (wav,) = [p for p in mail.walk() if p.get_content_type() == "audio/wav"]
    assert wav.get_payload(decode=True) == Path(path).read_bytes()


def test_a_short_message_is_dropped_as_freeswitch_does(ivr, db):
    fs, _app, _out = ivr
    presence_db.set_state(db, "1001", State.DND, by="test")
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    wait_until(lambda: ch.vars.get("current_application") == "voicemail", timeout=10,
               what="voicemail")
    fs.caller_hangs_up(ch.uuid)  # at once: under mod_voicemail's min-record-len
    ended(ch)
    gevent.sleep(0.2)
    assert db.execute("SELECT count(*) FROM voicemails").fetchone()[0] == 0


def test_an_internal_call_to_an_extension_follows_their_profile(ivr, db, legs):
    """James (1002) dials 1001 from his desk: the rendered dialplan hands it to ivr-app with
    ivr_app_entry=extension, and Anna's meeting rules apply as for any caller."""
    fs, _app, _out = ivr
    meeting_rules(db)
    ch = fs.place_call("74951112233", caller_id_number="1002", variables={
        "ivr_app_entry": "extension", "ivr_app_extension": "1001"})
    hang_up_in_voicemail(fs, ch, "voicemail: James is neither her manager nor a VIP")
    assert legs == {}
    assert row(db, ch.uuid)[0] == "internal/extension 1001 -> voicemail 1001"


def test_missed_calls_are_listed_per_employee(ivr, db, database_url):
    """A call sent to voicemail by DND and a call nobody answered are missed; an answered
    call is not."""
    from click.testing import CliRunner

    from ivr_app.cli import cli

    fs, _app, _out = ivr
    presence_db.set_state(db, "1001", State.DND, by="test")
    first = call(fs, IVAN, "Ivan Kuznetsov")  # VIP: to Anna, who is on DND
    wait_until(lambda: first.vars.get("current_application") == "voicemail", timeout=10)
    gevent.sleep(0.05)
    fs.caller_hangs_up(first.uuid)
    ended(first)
    presence_db.set_state(db, "1001", State.AVAILABLE, by="test")
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.1, talk=0.5))
    answered = call(fs, IVAN, "Ivan Kuznetsov")
    ended(answered)
    assert row(db, answered.uuid)  # written
    wait_until(lambda: db.execute("SELECT count(*) FROM voicemails").fetchone()[0] == 1,
               timeout=5, what="the voicemail row")
    out = CliRunner().invoke(cli, ["presence", "missed", "1001"],
                             env={"DATABASE_URL": database_url})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()[2:]  # after the header and its rule
    assert len(lines) == 1  # the answered call is not missed
    assert IVAN in lines[0]
    assert "Ivan Kuznetsov" in lines[0]
    assert lines[0].rstrip().endswith(" s")  # the voicemail's length
    flags = db.execute("SELECT uuid::text, employee_answered FROM calls").fetchall()
    assert dict(flags) == {first.uuid: False, answered.uuid: True}


def test_away_rings_mobile_and_home_together_not_the_desk(ivr, db, legs):
    fs, _app, _out = ivr
    # the demo data's rule: away (08:00-21:00) rings mobile and home together
    anna = db.execute("SELECT id FROM employees WHERE extension = '1001'").fetchone()[0]
    db.execute("UPDATE employee_devices SET ring_delay_s = 0 WHERE employee_id = %s", (anna,))
    presence_db.set_state(db, "1001", State.AWAY, by="test")
    fs.originator.far_end(ANNA_MOBILE, NEVER_ANSWERS)
    fs.originator.far_end(ANNA_HOME, FarEnd(answer_after=0.3, press="1", press_after=0.2,
                                            talk=1))
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    ended(ch)
    assert set(legs) == {ANNA_MOBILE, ANNA_HOME}
    assert legs.bridged == {ANNA_HOME}
    assert legs[ANNA_MOBILE] == "LOSE_RACE"


def test_external_legs_are_capped_across_nodes(ivr, db, legs):
    """With presence.max_external_legs = 3 and two external legs of Anna's held by another
    node's call (PostgreSQL, migration 0015), this call may start only one more; it gives
    that one back when its bridge ends."""
    fs, app, out = ivr
    other = str(uuid_mod.uuid4())
    db.execute("INSERT INTO external_legs (call_uuid, extension, legs, node) "
               "VALUES (%s, '1001', 2, 'node-b')", (other,))
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.3, talk=0.5))
    fs.originator.far_end(ANNA_MOBILE, NEVER_ANSWERS)
    fs.originator.far_end(ANNA_HOME, NEVER_ANSWERS)
    anna = db.execute("SELECT id FROM employees WHERE extension = '1001'").fetchone()[0]
    db.execute("UPDATE employee_devices SET ring_delay_s = 0 WHERE employee_id = %s", (anna,))
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    ended(ch)
    external = [n for n in legs if n.startswith("sofia/gateway/")]
    assert len(external) == 1
    assert "more than 3 external legs" in out.getvalue()
    held = wait_until(lambda: db.execute(
        "SELECT call_uuid::text, legs FROM external_legs WHERE extension = '1001'").fetchall()
        == [(other, 2)], timeout=5, what="this call's leg given back")
    assert held
    assert app.external_legs["1001"] == 0  # PostgreSQL answered: no local count


def test_two_claims_at_once_never_pass_the_cap(db, database_url):
    """Two nodes ringing Anna at the same moment: the advisory lock serialises the claims."""
    import psycopg

    from ivr_app.db import external_legs as legs_db

    with psycopg.connect(database_url, autocommit=True) as a, \
            psycopg.connect(database_url, autocommit=True) as b:
        first = str(uuid_mod.uuid4())
        assert legs_db.claim(a, "1001", first, 2, 3, "node-a") == (True, 0)
        assert legs_db.claim(b, "1001", str(uuid_mod.uuid4()), 2, 3, "node-b") == (False, 2)
        assert legs_db.claim(b, "1001", str(uuid_mod.uuid4()), 1, 3, "node-b") == (True, 2)
        legs_db.release(a, first, "1001")
        assert legs_db.in_use(b, "1001") == 1


def lamp_events(fs):
    """(from, status, login) of every PRESENCE_IN the switch fired, in order."""
    seen = []
    fs.observers.append(lambda name, headers: seen.append(
        (dict(headers).get("from"), dict(headers).get("status"), dict(headers).get("login")))
        if name == "PRESENCE_IN" else None)
    return seen


def test_a_stock_directory_publishes_the_phones_own_call_states(ivr, db):
    """A stock FreeSWITCH (the inbound-bridge-registered-user capture): 1001's phone channel
    publishes CS_ROUTING / answered / CS_HANGUP for 1001 itself, beside ivr-app's state: the
    watcher's lamp says Available after the call (the real run's flicker)."""
    fs, _app, _out = ivr
    seen = lamp_events(fs)
    ended(star(fs, "meeting"))
    wait_until(lambda: ("1001@127.0.0.1", "In a meeting") in [s[:2] for s in seen], timeout=5)
    own = [status for who, status, login in seen
           if who == "1001@127.0.0.1" and login == "src/switch_channel.c"]
    assert own == ["CS_ROUTING", "answered", "CS_HANGUP"]


def test_with_the_installed_directory_ivr_app_is_the_only_publisher(ivr, db):
    """`ivr-app freeswitch install` gives the phones' channels the presence_id
    ivr-app-calls@<domain>: what reaches 1001's lamp is ivr-app's alone."""
    fs, _app, _out = ivr
    fs.phone_presence_id = "ivr-app-calls@127.0.0.1"
    seen = lamp_events(fs)
    ended(star(fs, "meeting"))
    wait_until(lambda: [s for s in seen if s[:2] == ("1001@127.0.0.1", "In a meeting")] and
               [s for s in seen if s[1] == "CS_HANGUP"], timeout=5, what="the call's end")
    gevent.sleep(0.2)
    for_1001 = [status for who, status, _login in seen if who == "1001@127.0.0.1"]
    assert "Available" not in for_1001[for_1001.index("In a meeting"):]
    assert all(login != "src/switch_channel.c" for who, _s, login in seen
               if who == "1001@127.0.0.1")
    assert {who for who, _s, login in seen if login == "src/switch_channel.c"} == \
        {"ivr-app-calls@127.0.0.1"}

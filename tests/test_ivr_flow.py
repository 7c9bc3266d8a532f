"""The IVR over TCP: FakeSwitch hands calls to the App, which runs the menus of
config/menus.example.yaml against a real PostgreSQL. Each menu path, and what it leaves."""

from __future__ import annotations

import json

import gevent
import structlog
from gevent.pywsgi import WSGIServer

from ivr_app.esl.control import ControlConnection
from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS, FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import CLOSED, EMILY, IVAN, at_menu, call, ended, row, summary


def test_valid_key_into_a_submenu_then_an_extension(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.5, talk=2))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1")  # sales
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "2")  # existing orders: extension 1002
    ended(ch)
    route, path, _cause, customer = row(db, ch.uuid)
    assert route == "sales/extension 1002"
    assert path == [{"menu": "main", "digits": "1"}, {"menu": "sales", "digits": "2"}]
    assert customer is not None
    assert summary(db, ch.uuid) == ("IVR call: keys main:1 sales:2; "
                                     "route sales/extension 1002; 1002 answered")


def test_invalid_key_then_timeout_then_valid(ivr, db):
    fs, app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "7")  # no such option
    at_menu(fs, ch, 2)  # the invalid prompt played, the menu again; then no key at all
    at_menu(fs, ch, 3)
    fs.press(ch.uuid, "2")  # account manager
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert [k["digits"] for k in path] == ["7", "", "2"]
    assert route == "main/manager"
    heard = [p for u, p in fs.played if u == ch.uuid]
    prompts = app.prompts
    assert prompts.path(app.menus.prompts["invalid"], "en") in heard
    assert prompts.path(app.menus.prompts["timeout"], "en") in heard


def test_max_tries_runs_on_failure(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    ended(ch)  # three timeouts, then on_failure: transfer to the operator, 1000
    route, path, _cause, _customer = row(db, ch.uuid)
    assert route == "main/failed -> extension 1000"
    assert [k["digits"] for k in path] == ["", "", ""]
    assert summary(db, ch.uuid).endswith("; 1000 answered")


def test_direct_dial_of_an_extension(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1001#")
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert route == "main/extension 1001"
    assert path == [{"menu": "main", "digits": "1001"}]


def test_unknown_extension_is_an_invalid_entry(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "4444#")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "0")  # the operator
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert [k["digits"] for k in path] == ["4444", "0"]
    assert route == "main/extension 1000"


def test_after_hours_goes_to_voicemail(ivr, db):
    fs, app, _out = ivr
    app.clock = lambda: CLOSED
    ch = call(fs)
    wait_until(lambda: ch.vars.get("current_application") == "voicemail", timeout=10)
    gevent.sleep(0.05)
    fs.caller_hangs_up(ch.uuid)  # after leaving a message
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert route == "main/after-hours -> voicemail 1000"
    assert path == []
    assert any(uuid == ch.uuid and f.is_file() for box, uuid, f in fs.voicemails)


def test_vip_skips_the_menu_and_gets_the_manager(ivr, db, webhook):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.3, talk=1))
    events = []
    listener = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                 events=["CUSTOM", "ivr_app::screen_pop"]).start()
    listener.on("ivr_app::screen_pop", events.append)
    assert listener.wait_connected(5)
    try:
        ch = call(fs, IVAN, "Ivan Kuznetsov")
        ended(ch)
        route, path, _cause, _customer = row(db, ch.uuid)
        assert route == "vip"
        assert path == []  # no menu at all
        wait_until(lambda: events and webhook[1], what="screen pop event and webhook")
    finally:
        listener.stop()
    pop = json.loads(events[0].body)
    assert events[0].get("ivr_app_employee") == "1001"
    assert pop["customer"]["name"] == "Ivan Kuznetsov"
    assert webhook[1][0]["call_uuid"] == ch.uuid
    assert webhook[1][0]["customer"]["vip"] is True


def test_manager_not_answering_falls_back_to_the_queue(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1001", NEVER_ANSWERS)
    ch = call(fs, IVAN, "Ivan Kuznetsov")
    # Anna (1001) is the support queue's only other agent... and she is Ivan's manager, who
    # did not answer: the queue waits for James (1002), who is in a meeting
    db.execute("UPDATE presence SET state = 'meeting'")
    wait_until(lambda: (ch.uuid, "local_stream://moh") in fs.played, timeout=10,
               what="music on hold")
    entry = wait_until(lambda: db.execute(
        "SELECT queue, vip, team, status FROM queue_entries WHERE call_uuid = %s",
        (ch.uuid,)).fetchone(), what="the queue entry")
    assert entry == ("support", True, True, "waiting")
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    route, _path, _cause, _customer = row(db, ch.uuid)
    assert route == "queue support"
    assert wait_until(lambda: db.execute(
        "SELECT status FROM queue_entries WHERE call_uuid = %s AND status <> 'waiting'",
        (ch.uuid,)).fetchone(), what="abandoned") == ("abandoned",)


def test_unknown_caller_is_anonymous_and_tagged_nowhere(ivr, db):
    fs, _app, _out = ivr
    ch = call(fs, "+15550100200", "Someone")
    at_menu(fs, ch, 1)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    _route, _path, _cause, customer = row(db, ch.uuid)
    assert customer is None
    assert db.execute("SELECT count(*) FROM interactions").fetchone() == (0,)


def test_database_down_the_call_still_goes_through(ivr, db):
    fs, app, out = ivr
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    app.pool.close()
    ch = call(fs, IVAN, "Ivan Kuznetsov")  # a VIP, but nobody can know it now
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "0")
    ended(ch)
    assert "database unavailable for the call" in out.getvalue()
    assert any(line for line in out.getvalue().splitlines()
               if ch.uuid in line and '"anonymous caller"' in line)


def test_hostile_caller_id_is_stored_verbatim_and_never_expanded(ivr, db):
    fs, app, _out = ivr
    evil = "Robert'); DROP TABLE calls;-- ${system reboot} <script>x</script>\r\nX: y"
    ch = call(fs, "+15550100200", evil)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "A")  # a DTMF key, but not one a menu accepts
    at_menu(fs, ch, 2)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    stored = wait_until(lambda: db.execute(
        "SELECT caller_name, menu_path FROM calls WHERE uuid = %s AND ended_at IS NOT NULL",
        (ch.uuid,)).fetchone())
    assert stored[0] == evil  # every byte, through query parameters
    assert stored[1][0] == {"menu": "main", "digits": "A"}
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert app.prompts.path(app.menus.prompts["invalid"], "en") in heard
    # the name reached the channel through FreeSWITCH, never a command of ours: no ${...}
    # was expanded, no API ran, and the table is intact
    assert db.execute("SELECT to_regclass('calls') IS NOT NULL").fetchone() == (True,)


def test_a_russian_customer_hears_russian_prompts(ivr, db):
    fs, app, _out = ivr
    ch = call(fs, "+78127654321", "Dmitry Orlov")  # language ru, not VIP
    at_menu(fs, ch, 1)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    heard = [p for u, p in fs.played if u == ch.uuid]
    welcome = app.menus.prompts["welcome"]
    assert heard[0] == app.prompts.path(welcome, "ru")
    assert heard[0] != app.prompts.path(welcome, "en")


def test_directory_rings_the_extension_typed(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "8")  # the directory
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "1002#")
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert route == "directory/extension 1002"
    assert path == [{"menu": "main", "digits": "8"}, {"menu": "directory", "digits": "1002"}]


def test_screen_pop_webhook_is_retried(database_url, prompt_cache):
    """A webhook that fails first still gets the card, and the call did not wait for it."""
    from ivr_app.config import ScreenPopConfig
    from ivr_app.screenpop import Offer, ScreenPop

    got, statuses = [], ["500 Internal Server Error", "204 No Content"]

    def app(environ, start_response):
        start_response(statuses.pop(0) if statuses else "204 No Content", [])
        got.append(json.loads(environ["wsgi.input"].read()))
        return [b""]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        pop = ScreenPop(ScreenPopConfig(webhook_url=f"http://127.0.0.1:{server.server_port}/",
                                        retries=3), None, structlog.get_logger())
        job = pop.offer(Offer("c-1", "1001", "+79031234567", "Ivan", None))
        assert not job.ready()  # the caller is not held while it is delivered
        job.join(timeout=10)
    finally:
        server.stop()
    assert len(got) == 2  # the failed attempt and the retry that worked
    assert got[1]["call_uuid"] == "c-1"


def test_the_dialplan_picks_the_entry_menu(ivr, db):
    fs, app, _out = ivr
    ch = fs.place_call("74951112233", caller_id_number=EMILY,
                       variables={"ivr_app_entry": "sales"})
    at_menu(fs, ch, 1)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard[0] == app.prompts.path(app.menus.prompts["sales_menu"], "en")

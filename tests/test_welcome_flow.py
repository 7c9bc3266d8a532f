"""The whole service over TCP: FakeSwitch hands calls to the App, which looks the caller up
in a real PostgreSQL, runs the welcome flow and writes the calls row."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ivr_app import config, logs
from ivr_app.app import App
from ivr_app.db import directory
from ivr_app.handlers import welcome
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until

DEMO = Path(__file__).resolve().parents[1] / "config" / "demo-data.yaml"


@pytest.fixture
def service(db, database_url):
    directory.store(db, directory.load_file(DEMO))
    fs = FakeSwitch(time_factor=0.02).start()
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    cfg = config.load(None, {"DATABASE_URL": database_url, "IVR_APP_OUTBOUND_PORT": "0",
                             "IVR_APP_ESL_PORT": str(fs.esl_port)})
    app = App(cfg, None, {}, logs.get_logger("app"))
    app.start()
    assert app.outbound is not None
    fs.dialplan.load_xml(f"""<include><context name="public"><extension name="main">
      <condition field="destination_number" expression="^(74951112233|7000)$">
        <action application="socket" data="127.0.0.1:{app.outbound.port} async full"/>
      </condition></extension></context></include>""")
    assert app.control is not None
    assert app.control.wait_connected(5)
    yield fs, app, out
    app.shutdown()
    fs.stop()


def test_known_caller_hears_the_managers_extension(service, db):
    fs, _app, out = service
    ch = fs.place_call("74951112233", caller_id_number="+79031234567",
                       caller_id_name="Ivan Kuznetsov")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits")
    fs.press(ch.uuid, "1")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    heard = [path for uuid, path in fs.played if uuid == ch.uuid]
    assert heard[0] == welcome.GREETING
    assert "say:en number iterated 1001" in heard  # Anna Petrova, his account manager
    row = wait_until(lambda: db.execute(
        "SELECT c.name, k.route, k.hangup_cause, k.menu_path, k.answered_at IS NOT NULL, "
        "k.ended_at IS NOT NULL FROM calls k JOIN customers c ON c.id = k.customer_id "
        "WHERE k.uuid = %s AND k.ended_at IS NOT NULL", (ch.uuid,)).fetchone(),
        what="the calls row")
    assert row == ("Ivan Kuznetsov", "welcome/manager-extension", "NORMAL_CLEARING",
                   [{"menu": "welcome", "digits": "1"}], True, True)
    lines = [line for line in out.getvalue().splitlines() if ch.uuid in line]
    assert any('"known caller"' in line for line in lines)


def test_garbage_then_timeout_for_an_anonymous_caller(service, db):
    fs, _app, _out = service
    ch = fs.place_call("7000", caller_id_number="anonymous")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits")
    fs.press(ch.uuid, "9")  # not an option: the invalid prompt, then silence until the end
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    heard = [path for uuid, path in fs.played if uuid == ch.uuid]
    assert heard.count(welcome.INVALID) == 3  # after each of the three tries
    row = wait_until(lambda: db.execute(
        "SELECT customer_id, route, menu_path FROM calls WHERE uuid = %s "
        "AND ended_at IS NOT NULL", (ch.uuid,)).fetchone(), what="the calls row")
    assert row == (None, "welcome/no-input", [{"menu": "welcome", "digits": ""}])


def test_database_outage_does_not_drop_the_call(service, db, pg_server):
    fs, app, out = service
    app.pool.close()  # the pool is gone: every query fails fast
    ch = fs.place_call("7000", caller_id_number="+79031234567")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits")
    fs.press(ch.uuid, "2")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    assert ch.hangup_cause == "NORMAL_CLEARING"
    assert "database unavailable for the call" in out.getvalue()

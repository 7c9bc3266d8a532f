"""Call recording through the simulator and PostgreSQL: policy, consent order, attachment to
the customer's timeline, the customer known only mid-call, PostgreSQL away for a whole call."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import gevent
import psycopg
import pytest

from ivr_app import config, logs
from ivr_app.app import App
from ivr_app.db import directory, migrations
from ivr_app.db.recordings import RecordingMeta, attach_many
from ivr_app.testing import pgcluster
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import DEMO, EMILY, IVAN, MENUS, OPEN

CONSENT = "tone_stream://%(800,0,350)"


def at_menu(fs, ch):
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits",
               timeout=10, what="the menu")


def start_app(database_url, prompt_cache, tmp_path, **settings):
    fs = FakeSwitch(time_factor=0.01).start()
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    env = {"DATABASE_URL": database_url, "IVR_APP_OUTBOUND_PORT": "0",
           "IVR_APP_ESL_PORT": str(fs.esl_port), "IVR_APP_IVR_MENUS": str(MENUS),
           "IVR_APP_IVR_PROMPT_CACHE_DIR": str(prompt_cache),
           "IVR_APP_RECORDING_DIRECTORY": str(tmp_path / "recordings"),
           "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox"),
           "IVR_APP_RECORDING_CONSENT_PROMPT": CONSENT}
    env.update({f"IVR_APP_RECORDING_{k.upper()}": v for k, v in settings.items()})
    app = App(config.load(None, env), None, {}, logs.get_logger("app"))
    app.clock = lambda: OPEN
    app.start()
    fs.dialplan.load_xml(f"""<include><context name="public"><extension name="company">
      <condition field="destination_number" expression="^74951112233$">
        <action application="socket" data="127.0.0.1:{app.outbound.port} async full"/>
      </condition></extension></context></include>""")
    assert app.control.wait_connected(5)
    return fs, app, out


@pytest.fixture
def recorded(db, database_url, prompt_cache, tmp_path):
    directory.store(db, directory.load_file(DEMO))
    started = []

    def start(**settings):
        fs, app, _out = start_app(database_url, prompt_cache, tmp_path, **settings)
        started.append((fs, app))
        return fs, app

    yield start
    for fs, app in started:
        app.shutdown()
        fs.stop()


def recordings_of(db, uuid):
    return db.execute("SELECT path, sha256, bytes, duration_ms, status, customer_id, reason "
                      "FROM recordings WHERE call_uuid = %s", (uuid,)).fetchall()


def test_all_calls_policy_consent_first_then_attached(recorded, db):
    fs, _app = recorded(policy="all")
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.5, talk=5))
    order: list[str] = []

    def watch(name, headers):
        h = dict(headers)
        if h.get("Unique-ID") and name == "CHANNEL_EXECUTE_COMPLETE" and \
                h.get("Application-Data") == CONSENT:
            order.append("consent played")
        elif name == "RECORD_START":
            order.append("recording started")

    fs.observers.append(watch)
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    at_menu(fs, ch)
    fs.press(ch.uuid, "2")  # her account manager, James (1002), talks for 5 s
    wait_until(lambda: recordings_of(db, ch.uuid), timeout=15, what="the recording row")
    assert order == ["consent played", "recording started"]
    ((path, sha, size, ms, status, customer, reason),) = recordings_of(db, ch.uuid)
    assert status == "complete"
    assert reason == "all calls"
    assert Path(path).name == f"{ch.uuid}.wav"  # named by the call, never the caller ID
    data = Path(path).read_bytes()
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert ms >= 4000  # the conversation, at least
    assert (Path(path).stat().st_mode & 0o777) == 0o600
    name = db.execute("SELECT name FROM customers WHERE id = %s", (customer,)).fetchone()
    assert name == ("Emily Clark",)
    kinds = wait_until(lambda: [k for (k,) in db.execute(
        "SELECT kind::text FROM interactions WHERE customer_id = %s ORDER BY kind",
        (customer,)).fetchall() if k == "recording"], what="the timeline entry")
    assert kinds == ["recording"]


def test_selected_policy_records_only_the_chosen_employee(recorded, db):
    fs, app = recorded(policy="selected", employees="1001")
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=4))
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=4))
    emily = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    at_menu(fs, emily)
    fs.press(emily.uuid, "2")  # James, 1002: not recorded
    ivan = fs.place_call("74951112233", caller_id_number=IVAN, caller_id_name="Ivan")  # VIP->1001
    wait_until(lambda: ivan.destroyed.is_set() and emily.destroyed.is_set(), timeout=15)
    wait_until(lambda: recordings_of(db, ivan.uuid), timeout=10, what="Ivan's recording")
    app.recording.flush(5)
    assert recordings_of(db, emily.uuid) == []
    assert recordings_of(db, ivan.uuid)[0][6] == "employee 1001"


def test_too_short_recording_is_recorded_as_discarded(recorded, db):
    fs, _app = recorded(policy="all", min_seconds="30")
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    at_menu(fs, ch)
    fs.caller_hangs_up(ch.uuid)
    rows = wait_until(lambda: recordings_of(db, ch.uuid), timeout=10)
    (path, sha, size, _ms, status, _customer, _reason) = rows[0]
    assert (status, sha, size) == ("discarded", None, None)
    assert not Path(path).exists()


def test_customer_identified_mid_call_gets_the_recording(fs, serve, db, database_url,
                                                         tmp_path):
    """A flow that records first and learns who the caller is later: the attachment follows."""
    from ivr_app.config import load
    from ivr_app.esl.control import ControlConnection
    from ivr_app.recording.service import RecordingService

    directory.store(db, directory.load_file(DEMO))
    cid = db.execute("SELECT customer_id FROM customer_phone_numbers WHERE number = %s",
                     (EMILY,)).fetchone()[0]
    cfg = load(None, {"DATABASE_URL": database_url,
                      "IVR_APP_RECORDING_DIRECTORY": str(tmp_path / "rec"),
                      "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox"),
                      "IVR_APP_RECORDING_MIN_SECONDS": "0"})
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    control = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", logs.get_logger("t"),
                                events=["RECORD_STOP"])
    service = RecordingService(cfg, pool, logs.get_logger("t")).start(control)
    control.start()
    assert control.wait_connected(5)

    def handler(call):
        call.answer()
        service.record(call, "on demand")
        call.playback("tone_stream://%(3000,0,440)")
        call.set("ivr_app_customer_id", str(cid))  # the IVR found out who this is
        call.playback("tone_stream://%(1000,0,440)")
        call.hangup()

    serve(handler)
    ch = fs.place_call("7000", caller_id_number="anonymous")
    try:
        rows = wait_until(lambda: recordings_of(db, ch.uuid), timeout=10)
        assert rows[0][5] == cid
    finally:
        service.stop()
        control.stop()
        pool.close()


def test_postgresql_away_for_a_whole_call_loses_nothing(prompt_cache, tmp_path):
    """The server stops while the call runs; the recording's metadata waits in the outbox's
    journal and is attached exactly once when PostgreSQL is back."""
    cluster = pgcluster.ThrowawayCluster().start()
    try:
        url = pgcluster.create_database(cluster.url(), "ivr")
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn, migrations.default_directory())
            directory.store(conn, directory.load_file(DEMO))
        fs, app, _out = start_app(url, prompt_cache, tmp_path, policy="all")
        try:
            fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=3))
            ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily")
            at_menu(fs, ch)
            cluster.pg_ctl("stop", "-m", "fast")  # PostgreSQL goes away mid-call
            fs.press(ch.uuid, "2")
            wait_until(lambda: ch.destroyed.is_set(), timeout=15)
            wait_until(lambda: app.recording.spooled >= 1, timeout=10, what="journaled")
            attached = [e for e in app.outbox.journal.entries()
                        if e.op == "recordings.attached"]
            assert [m["call_uuid"] for m in attached[0].args["metas"]] == [ch.uuid]
            cluster.pg_ctl("start")
            wait_until(lambda: not app.outbox.journal.file.exists(), timeout=20,
                       what="the journal replayed")
            with psycopg.connect(url) as conn:
                rows = conn.execute("SELECT status FROM recordings WHERE call_uuid = %s",
                                    (ch.uuid,)).fetchall()
            assert rows == [("complete",)]
            assert app.outbox.journal.entries() == []
            # the same metadata attached again (a replay after a crash) changes nothing
            with psycopg.connect(url) as conn:
                path = conn.execute("SELECT path FROM recordings").fetchone()[0]
                attach_many(conn, [RecordingMeta(ch.uuid, path, "complete")])
                assert conn.execute("SELECT count(*) FROM recordings").fetchone() == (1,)
        finally:
            app.shutdown()
            fs.stop()
    finally:
        cluster.stop()


def test_employee_starts_pauses_and_stops_recording_with_keys(recorded, db):
    """Recording off by policy; James presses *2 during the conversation, *3 twice around a
    card number, *2 again: one recording, attached, made on demand by 1002."""
    fs, _app = recorded(policy="none")
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=20))
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    at_menu(fs, ch)
    fs.press(ch.uuid, "2")
    james = wait_until(lambda: next((c for c in fs.channels.values()
                                     if c.name.startswith("sofia/internal/1002")
                                     and c.answer_state == "answered"), None),
                       what="James answering")
    fs.press(james.uuid, "*2")
    wait_until(lambda: ch.recordings, what="recording on demand")
    (rec,) = ch.recordings.values()
    fs.press(james.uuid, "*3")  # the customer reads out a card number
    wait_until(lambda: rec.masked_since is not None, what="masked")
    fs.press(ch.uuid, "*2")  # the caller's keys do not count
    gevent.sleep(0.05)
    assert ch.recordings
    fs.press(james.uuid, "*3")
    wait_until(lambda: rec.masked_since is None and rec.masked_total > 0, what="unmasked")
    fs.press(james.uuid, "*2")
    rows = wait_until(lambda: recordings_of(db, ch.uuid), timeout=10, what="attached")
    assert rows[0][6] == "on demand by 1002"
    assert rows[0][4] == "complete"
    presses, employee = db.execute(
        "SELECT r.key_presses, e.extension FROM recordings r JOIN employees e "
        "ON e.id = r.employee_id WHERE r.call_uuid = %s", (ch.uuid,)).fetchone()
    assert [(p["key"], p["action"], p["by"]) for p in presses] == [
        ("*2", "start", "1002"), ("*3", "mask", "1002"), ("*3", "unmask", "1002"),
        ("*2", "stop", "1002")]
    assert employee == "1002"
    fs.caller_hangs_up(ch.uuid)
    # the file is all zeros exactly while masked (a real FreeSWITCH writes null frames), the
    # tone before and after
    with wave.open(rows[0][0]) as w:
        rate, data = w.getframerate(), w.readframes(w.getnframes())
        block = w.getnchannels() * w.getsampwidth() * rate // 100  # 10 ms
    zero = [not any(data[i:i + block]) for i in range(0, len(data), block)]
    start = zero.index(True)
    end = start + zero[start:].index(False)
    assert not any(zero[end:])
    masked = rec.masked_total / fs.time_factor
    assert abs((end - start) / 100 - masked) <= 0.02, ((end - start) / 100, masked)
    assert start > 0
    assert len(zero) > end

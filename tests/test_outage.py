"""Issue 19, items 1 and 2: nothing the caller did is lost in a PostgreSQL outage, and direct
dial works without the database.

Whole calls through the simulator while the throwaway PostgreSQL is stopped, then started
again: every calls row (route, keys, employee, cause), timeline entry, queue outcome and
recording is there exactly once, replayed in order from the outbox's journal; the circuit
breaker keeps the calls from waiting for the database step after step; direct dial reaches
the employee's desk through FreeSWITCH's own directory (``user_exists``). And the journal on
its own: a torn last line, replay order, a replay after a crash that already committed.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid as uuid_mod

import gevent
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ivr_app import logs
from ivr_app.db import directory, migrations
from ivr_app.outbox import ops
from ivr_app.outbox.breaker import Breaker, connection_lost
from ivr_app.outbox.journal import Entry, Journal
from ivr_app.outbox.outbox import JOURNALED, WRITTEN, Outbox
from ivr_app.outbox.replay import replay
from ivr_app.testing import pgcluster
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import (
    DEMO,
    EMILY,
    call,
    ended,
    hang_up_in_voicemail,
    route_company_number,
    start_app,
)


class Log:
    """A logger that keeps what it was told (event name and fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def bind(self, **_kw: object) -> Log:
        return self

    def _say(self, level: str, event: str, **kw: object) -> None:
        self.lines.append((level, event, kw))

    def debug(self, event: str, **kw: object) -> None:
        self._say("debug", event, **kw)

    def info(self, event: str, **kw: object) -> None:
        self._say("info", event, **kw)

    def warning(self, event: str, **kw: object) -> None:
        self._say("warning", event, **kw)

    def error(self, event: str, **kw: object) -> None:
        self._say("error", event, **kw)

    def exception(self, event: str, **kw: object) -> None:
        self._say("exception", event, **kw)

    def events(self, level: str) -> list[str]:
        return [e for lv, e, _ in self.lines if lv == level]


# -- whole calls through an outage ------------------------------------------------------------

def at_menu(ch) -> None:
    """The caller is in the menu's key prompt."""
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits",
               timeout=10, what="the key prompt")


@pytest.fixture
def outage(prompt_cache, tmp_path):
    """Its own PostgreSQL (the test stops it), the demo data, the simulator and a real App
    recording every call."""
    cluster = pgcluster.ThrowawayCluster().start()
    fs = app = None
    try:
        url = pgcluster.create_database(cluster.url(), "ivr")
        with psycopg.connect(url, autocommit=True) as conn:
            migrations.migrate(conn, migrations.default_directory())
            directory.store(conn, directory.load_file(DEMO))
        fs = FakeSwitch(time_factor=0.01).start()
        out = io.StringIO()
        logs.configure("info", "json", stream=out)
        app = start_app(fs, url, prompt_cache, env={
            "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox"),
            "IVR_APP_OUTBOX_PROBE_INTERVAL_SECONDS": "0.2",
            "IVR_APP_RECORDING_DIRECTORY": str(tmp_path / "recordings"),
            "IVR_APP_RECORDING_POLICY": "all", "IVR_APP_RECORDING_MIN_SECONDS": "0"})
        route_company_number(fs, app)
        yield cluster, url, fs, app, out
    finally:
        if app is not None:
            app.shutdown()
        if fs is not None:
            fs.stop()
        cluster.stop()


def count_call_waits(app) -> list[str]:
    """Every pooled connection a call's own greenlet asks for, from now on (what it is)."""
    asked: list[str] = []
    real = app.pool.connection

    def connection(*args, **kw):
        if gevent.getcurrent() in app.calls:
            asked.append("call step")
        return real(*args, **kw)

    app.pool.connection = connection
    return asked


def test_calls_during_an_outage_are_all_recorded_once_it_is_back(outage):
    cluster, url, fs, app, out = outage
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=1))
    asked = count_call_waits(app)
    cluster.pg_ctl("stop", "-m", "fast")
    down_at = dt.datetime.now(dt.UTC)

    # Emily types 1001#: nobody can look up the employee, FreeSWITCH's directory knows them
    emily = call(fs, EMILY, "Emily Clark")
    at_menu(emily)
    fs.press(emily.uuid, "1001#")
    ended(emily)
    assert app.outbox.breaker.is_open
    first_call_waits = len(asked)
    assert first_call_waits <= 2  # the step that found the database down (and no more)

    # a stranger tries the support queue: the queue cannot take anyone, nor can sales
    skipped = app.outbox.breaker.skipped
    stranger = call(fs, "+15550100077", "Stranger")
    at_menu(stranger)
    fs.press(stranger.uuid, "3")
    hang_up_in_voicemail(fs, stranger)
    wait_until(lambda: app.recording.spooled >= 2, timeout=10, what="both recordings journaled")
    # the breaker: not one pooled-connection wait for the whole second call; its reads (the
    # customer, two queues) answered at once with their defaults, its writes journaled
    assert len(asked) == first_call_waits
    assert app.outbox.breaker.skipped - skipped >= 3
    waiting = [e.op for e in app.outbox.journal.entries()]
    assert waiting[0] == "calls.started"
    assert "calls.ended" in waiting
    assert waiting.count("queues.unavailable") == 2
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    cluster.pg_ctl("start")
    back_at = dt.datetime.now(dt.UTC)
    wait_until(lambda: not app.outbox.journal.file.exists() and not app.outbox.breaker.is_open,
               timeout=30, what="the journal replayed")

    with psycopg.connect(url) as db:
        rows = {r[0]: r[1:] for r in db.execute(
            """SELECT c.uuid::text, c.route, c.menu_path, c.hangup_cause, cu.name,
                      e.extension, c.employee_answered, c.started_at, c.ended_at
               FROM calls c LEFT JOIN customers cu ON cu.id = c.customer_id
               LEFT JOIN employees e ON e.id = c.employee_id""").fetchall()}
        assert set(rows) == {emily.uuid, stranger.uuid}
        route, keys, cause, customer, employee, answered, started, end = rows[emily.uuid]
        assert (route, keys, cause) == ("main/extension 1001",
                                        [{"menu": "main", "digits": "1001"}],
                                        "NORMAL_CLEARING")
        assert (customer, employee, answered) == ("Emily Clark", "1001", True)
        # the call's own times, not the replay's
        assert down_at <= started <= end <= back_at
        route, keys, cause, customer, employee, answered, started, end = rows[stranger.uuid]
        assert route.startswith("queue support -> queue sales -> voicemail")
        assert keys == [{"menu": "main", "digits": "3"}]
        assert cause == "NORMAL_CLEARING"
        assert customer is None
        assert end <= back_at
        timeline = db.execute("SELECT reference, summary, e.extension FROM interactions i "
                              "LEFT JOIN employees e ON e.id = i.employee_id "
                              "WHERE kind = 'call'").fetchall()
        assert timeline == [(emily.uuid, "IVR call: keys main:1001; route main/extension 1001;"
                             " 1001 answered", "1001")]
        queue = db.execute("SELECT queue, status, reason FROM queue_entries "
                           "WHERE call_uuid = %s ORDER BY queue", (stranger.uuid,)).fetchall()
        assert queue == [("sales", "overflow", "queue unavailable"),
                         ("support", "overflow", "queue unavailable")]
        recs = db.execute("SELECT call_uuid::text, count(*), max(customer_id) FROM recordings "
                          "GROUP BY call_uuid").fetchall()
        emily_id = db.execute("SELECT customer_id FROM customer_phone_numbers WHERE number = "
                              "%s", (EMILY,)).fetchone()[0]
        assert sorted(recs) == sorted([(emily.uuid, 1, emily_id), (stranger.uuid, 1, None)])
        applied = db.execute("SELECT count(*) FROM outbox_applied").fetchone()[0]
    assert applied == app.outbox.journaled  # each journaled write applied once
    assert app.outbox.replayed == app.outbox.journaled
    assert app.outbox.rejected == 0
    assert "journal replayed into PostgreSQL" in out.getvalue()


def test_an_unknown_extension_stays_invalid_in_an_outage(outage):
    """FreeSWITCH's directory is asked, and says no: the caller hears the invalid prompt
    (and 0 still reaches the operator's desk)."""
    cluster, _url, fs, _app, out = outage
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    cluster.pg_ctl("stop", "-m", "fast")
    ch = call(fs, "+15550100078", "Someone")
    at_menu(ch)
    fs.press(ch.uuid, "1077#")
    wait_until(lambda: '"invalid entry"' in out.getvalue(), timeout=10, what="invalid entry")
    at_menu(ch)  # the next try: the invalid prompt, then the menu again
    fs.press(ch.uuid, "0")
    ended(ch)
    checked = [json.loads(line) for line in out.getvalue().splitlines()
               if "FreeSWITCH's directory" in line]
    assert [(c["extension"], c["known"]) for c in checked] == [("1077", False)]
    assert "user/1000" in fs.originator.dialled


# -- the simulator's directory ----------------------------------------------------------------

def test_the_simulator_answers_user_exists_as_freeswitch_does():
    """mod_commands.c: ``true`` / ``false``, no newline, ``false`` for missing arguments
    (the real 1.10.12: ``user_exists id 1000 127.0.0.1`` -> true, ``... 1020 ...`` -> false,
    ``user_exists id 1000`` -> false)."""
    fs = FakeSwitch(time_factor=0.01)
    assert fs.api("user_exists id 1000 127.0.0.1") == "true"
    assert fs.api("user_exists id 1019 127.0.0.1") == "true"
    assert fs.api("user_exists id 1020 127.0.0.1") == "false"
    assert fs.api("user_exists id 1000 example.com") == "false"
    assert fs.api("user_exists id 1000") == "false"
    assert fs.api("user_exists") == "false"
    fs.directory["127.0.0.1"].add("2001")
    assert fs.api("user_exists id 2001 127.0.0.1") == "true"


# -- the journal on its own -------------------------------------------------------------------

def _call_ops(call_uuid: str, customer_number: str) -> list[ops.Op]:
    return [
        ops.CallStarted(uuid=call_uuid, direction="inbound", caller_number=customer_number,
                        caller_name="Emily", destination="74951112233", customer_id=None,
                        node="n1", caller_e164=customer_number, at="2026-11-23T08:00:00+00:00"),
        ops.CallAnswered(uuid=call_uuid, at="2026-11-23T08:00:01+00:00"),
        ops.CallEnded(uuid=call_uuid, hangup_cause="NORMAL_CLEARING", route="main/manager",
                      menu_path=[{"menu": "main", "digits": "2"}], employee_extension="1002",
                      employee_answered=False, at="2026-11-23T08:01:00+00:00"),
        ops.InteractionAdded(customer_id=None, kind="call", reference=call_uuid,
                             summary="IVR call: keys main:2", caller_number=customer_number,
                             employee_extension="1002", at="2026-11-23T08:01:00+00:00"),
    ]


def test_a_torn_last_line_is_ignored_and_the_rest_replayed_in_order(db, database_url, tmp_path):
    directory.store(db, directory.load_file(DEMO))
    log = Log()
    journal = Journal(tmp_path / "outbox", log).open()
    call_uuid = str(uuid_mod.uuid4())
    for op in _call_ops(call_uuid, EMILY):
        journal.append(Entry.of(op))
    torn = Entry.of(ops.CallAnswered(uuid=str(uuid_mod.uuid4()))).line()
    with open(journal.file, "ab") as f:  # a process killed in the middle of this write
        f.write(torn[:25])
    assert len(journal.entries()) == 4
    assert "torn journal line ignored (a write cut short by a crash)" in log.events("warning")
    reopened = Journal(tmp_path / "outbox", log).open()  # the next start cuts it off
    assert any("torn journal line cut off" in e for e in log.events("warning"))
    assert reopened.file.read_bytes().endswith(b"\n")
    assert reopened.count == 4
    reopened.append(Entry.of(ops.CallAnswered(uuid=call_uuid)))  # behind the cut, readable
    assert reopened.count == 5
    assert len(reopened.entries()) == 5

    outbox = Outbox(None, reopened, Breaker(5, log), log)
    with psycopg.connect(database_url) as conn:
        done = replay(outbox, conn, deadline=10)
    assert (done.applied, done.duplicates, done.rejected) == (5, 0, 0)
    assert not reopened.file.exists()
    assert reopened.count == 0
    row = db.execute("""SELECT c.route, c.hangup_cause, c.started_at, c.answered_at, c.ended_at,
                               cu.name, e.extension, c.employee_answered
                        FROM calls c JOIN customers cu ON cu.id = c.customer_id
                        JOIN employees e ON e.id = c.employee_id
                        WHERE c.uuid = %s""", (call_uuid,)).fetchone()
    at = dt.datetime.fromisoformat
    # ended after started (in order: an UPDATE before its INSERT would have found no row)
    assert row == ("main/manager", "NORMAL_CLEARING", at("2026-11-23T08:00:00+00:00"),
                   at("2026-11-23T08:00:01+00:00"), at("2026-11-23T08:01:00+00:00"),
                   "Emily Clark", "1002", False)
    assert db.execute("SELECT count(*), min(occurred_at) FROM interactions WHERE reference = %s",
                      (call_uuid,)).fetchone() == (1, at("2026-11-23T08:01:00+00:00"))


def test_a_replay_after_a_crash_that_had_committed_applies_nothing_twice(db, database_url,
                                                                          tmp_path):
    """The process died after PostgreSQL committed the writes but before the journal was
    rewritten: the same lines are replayed again, and skipped by their ids."""
    directory.store(db, directory.load_file(DEMO))
    log = Log()
    journal = Journal(tmp_path / "outbox", log).open()
    call_uuid = str(uuid_mod.uuid4())
    cb = ops.CallbackRequested(queue="support", entry_id=None, number=EMILY, customer_id=None)
    for op in [*_call_ops(call_uuid, EMILY), cb]:
        journal.append(Entry.of(op))
    before = journal.file.read_bytes()
    outbox = Outbox(None, journal, Breaker(5, log), log)
    with psycopg.connect(database_url) as conn:
        assert replay(outbox, conn, deadline=10).applied == 5
        journal.file.write_bytes(before)  # as if the rewrite never happened
        journal.open()
        again = replay(outbox, conn, deadline=10)
    assert (again.applied, again.duplicates) == (0, 5)
    assert db.execute("SELECT count(*) FROM queue_callbacks").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM queue_entries WHERE callback_id IS NOT NULL"
                      ).fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM interactions").fetchone() == (1,)


def test_a_write_postgresql_refuses_is_kept_aside_not_retried(db, database_url, tmp_path):
    log = Log()
    journal = Journal(tmp_path / "outbox", log).open()
    bad = ops.InteractionAdded(customer_id=999999, kind="call", reference="x", summary="s")
    good_uuid = str(uuid_mod.uuid4())
    for op in [bad, ops.CallStarted(uuid=good_uuid, direction="inbound", caller_number="1",
                                    caller_name="", destination="7", customer_id=None,
                                    node=None)]:
        journal.append(Entry.of(op))
    outbox = Outbox(None, journal, Breaker(5, log), log)
    with psycopg.connect(database_url) as conn:
        done = replay(outbox, conn, deadline=10)
    assert (done.applied, done.rejected) == (1, 1)
    kept = [json.loads(x) for x in journal.rejected_file.read_text().splitlines()]
    assert [k["op"] for k in kept] == ["interactions.added"]
    assert "foreign key" in kept[0]["error"]
    assert db.execute("SELECT count(*) FROM calls WHERE uuid = %s", (good_uuid,)).fetchone() \
        == (1,)


# -- the breaker and the outbox's two ways ----------------------------------------------------

class NoPool:
    """A pool that must not be asked."""

    def connection(self, *a, **kw):
        raise AssertionError("the pool was asked while the breaker is open")


def test_while_the_breaker_is_open_nothing_waits_for_postgresql(tmp_path):
    log = Log()
    now = [100.0]
    breaker = Breaker(5.0, log, clock=lambda: now[0])
    outbox = Outbox(NoPool(), Journal(tmp_path, log).open(), breaker, log)
    breaker.trip("connection refused")
    assert outbox.read("customer lookup", lambda c: "card", None, log) is None
    done = outbox.submit(ops.CallAnswered(uuid=str(uuid_mod.uuid4())))
    assert done.status == JOURNALED
    assert outbox.journal.count == 1
    assert breaker.skipped == 2
    assert breaker.trips == 1
    now[0] += 5.1  # a connection failed more than breaker_seconds ago: not "known down"
    assert not breaker.is_open


def test_only_a_lost_connection_opens_the_breaker():
    assert connection_lost(psycopg.OperationalError("connection refused"))
    assert connection_lost(psycopg.errors.AdminShutdown("terminating connection"))
    assert not connection_lost(psycopg.errors.QueryCanceled("statement timeout"))
    assert not connection_lost(psycopg.errors.UniqueViolation("duplicate"))


def test_with_postgresql_up_a_write_goes_straight_in_with_its_id(db, database_url, tmp_path):
    log = Log()
    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        outbox = Outbox(pool, Journal(tmp_path, log).open(), Breaker(5, log), log)
        cb = outbox.submit(ops.CallbackRequested(queue="q", entry_id=None, number="+1555",
                                                 customer_id=None))
    assert cb.status == WRITTEN
    assert isinstance(cb.result, int)
    assert not outbox.journal.file.exists()
    assert db.execute("SELECT op FROM outbox_applied").fetchall() == \
        [("queues.callback_requested",)]


def test_the_callback_dialler_does_not_wait_for_a_database_known_down(outage):
    """Twice a second the dialler looks for a callback whose turn it is; during an outage each
    look used to wait for a pooled connection that could not come. With the breaker open it
    asks nothing (issue 19)."""
    cluster, _url, _fs, app, _out = outage
    asked: list[str] = []
    real = app.pool.connection

    def connection(*args, **kw):
        if gevent.getcurrent() is app.callbacks._greenlet:
            asked.append("dialler")
        return real(*args, **kw)

    app.pool.connection = connection
    wait_until(lambda: asked, timeout=5, what="the dialler looking while PostgreSQL is up")
    cluster.pg_ctl("stop", "-m", "fast")
    app.outbox.breaker.trip("PostgreSQL stopped by the test")
    asked.clear()
    gevent.sleep(4 * app.config.queue.dispatch_interval_seconds)
    assert app.outbox.breaker.is_open  # the prober's failing probes keep it open
    assert asked == []
    cluster.pg_ctl("start")


def test_a_star_code_in_an_outage_is_kept_and_applied_once_it_is_back(outage):
    """*31 while PostgreSQL is down: confirmed, journaled with the call's writes, and 1001 is
    in a meeting once the journal is replayed (it used to be refused: "not changed")."""
    cluster, url, fs, app, out = outage
    cluster.pg_ctl("stop", "-m", "fast")
    app.outbox.breaker.trip("PostgreSQL stopped by the test")
    ch = fs.phone_call("1001", "74951112233",
                       variables={"ivr_app_entry": "star", "ivr_app_star_action": "meeting"})
    ended(ch)
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard == [app.prompts.path(app.menus.prompts["presence_meeting"], "en")]
    assert "presence.changed" in [e.op for e in app.outbox.journal.entries()]
    cluster.pg_ctl("start")
    wait_until(lambda: not app.outbox.journal.file.exists(), timeout=30,
               what="the journal replayed")
    with psycopg.connect(url) as db:
        assert db.execute("""SELECT p.state::text, p.updated_by FROM presence p
                             JOIN employees e ON e.id = p.employee_id
                             WHERE e.extension = '1001'""").fetchone() == \
            ("meeting", "star code meeting")
    assert "presence change journaled: applied when PostgreSQL is back" in out.getvalue()


def test_an_old_recording_spool_is_imported_once_and_attached(tmp_path, database_url, db):
    """An install upgraded from the version with recording.spool_dir: its pending.jsonl
    becomes a journal entry at start, is replayed into PostgreSQL, and is never read again."""
    from ivr_app import config
    from ivr_app.outbox import start as start_outbox

    old = tmp_path / "var" / "spool" / "recordings"
    old.mkdir(parents=True)
    uuid = str(uuid_mod.uuid4())
    (old / "pending.jsonl").write_text(
        json.dumps({"call_uuid": uuid, "path": f"/rec/{uuid}.wav", "status": "complete",
                    "sha256": "ab" * 32, "bytes": 1234}) + "\n" + '{"call_uuid": "torn')
    cfg = config.load(None, {"DATABASE_URL": database_url,
                             "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox"),
                             "IVR_APP_OUTBOX_LEGACY_RECORDING_SPOOL": str(old),
                             "IVR_APP_OUTBOX_PROBE_INTERVAL_SECONDS": "0.1"})
    pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    _outbox, prober = start_outbox(cfg, pool, logs.get_logger("t"))
    try:
        assert not (old / "pending.jsonl").exists()
        assert (old / "pending.jsonl.imported").exists()
        wait_until(lambda: db.execute("SELECT sha256, bytes FROM recordings WHERE call_uuid = "
                                      "%s", (uuid,)).fetchall() == [("ab" * 32, 1234)],
                   timeout=10, what="the old spool's recording attached")
    finally:
        prober.stop()
    again, prober = start_outbox(cfg, pool, logs.get_logger("t"))
    prober.stop()
    assert again.journal.count == 0  # nothing imported twice
    pool.close()


OUTAGE_SECONDS, OUTAGE_CALLS = 60, 50


def test_postgresql_stopped_60_s_during_50_recorded_calls_loses_nothing(outage):
    """Fault injection (issue 13): PostgreSQL stopped for 60 s while 50 callers dial an
    employee, each call recorded; once it is back every call has its row and every recording
    is attached exactly once (rows counted)."""
    cluster, url, fs, app, _out = outage
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=1))
    cluster.pg_ctl("stop", "-m", "fast")
    stopped = time.monotonic()
    calls = []
    for n in range(OUTAGE_CALLS):
        ch = call(fs, f"+1555030{n:04d}", f"Caller {n}")
        at_menu(ch)
        fs.press(ch.uuid, "1001#")
        calls.append(ch)
        gevent.sleep(OUTAGE_SECONDS / OUTAGE_CALLS * 0.8)  # spread over the outage
    for ch in calls:
        ended(ch)
    wait_until(lambda: app.recording.spooled >= OUTAGE_CALLS, timeout=30,
               what="every recording journaled")
    gevent.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    cluster.pg_ctl("start")
    wait_until(lambda: not app.outbox.journal.file.exists(), timeout=60,
               what="the journal replayed")
    uuids = [ch.uuid for ch in calls]
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT count(*), count(ended_at) FROM calls WHERE uuid = ANY(%s)",
                          (uuids,)).fetchone()
        recs = db.execute("SELECT count(*), count(DISTINCT call_uuid) FROM recordings "
                          "WHERE call_uuid = ANY(%s)", (uuids,)).fetchone()
    assert rows == (OUTAGE_CALLS, OUTAGE_CALLS)
    assert recs == (OUTAGE_CALLS, OUTAGE_CALLS)  # each once: 0 of 50 lost, none doubled
    assert app.outbox.rejected == 0

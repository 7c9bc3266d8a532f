"""`ivr-app report queues` on rows in PostgreSQL against figures worked out by hand,
`ivr-app queue stats|callbacks|callback-done`, and the wallboard event's publisher."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
import structlog
from click.testing import CliRunner

from ivr_app import menus
from ivr_app.cli import cli
from ivr_app.db import directory
from ivr_app.db import queue_callbacks as qcb
from ivr_app.db import queues as qdb
from ivr_app.queue.stats import QueueStatsPublisher
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import DEMO, MENUS

# Monday 2 November 2026, local time of the test process
DAY = dt.datetime(2026, 11, 2, 9, 0).astimezone()


def entry(db: psycopg.Connection, queue: str, status: str, wait_s: float,
          agent: str | None = None, talk_s: float = 0.0, minute: int = 0) -> None:
    entered = DAY + dt.timedelta(minutes=minute)
    left = entered + dt.timedelta(seconds=wait_s)
    db.execute(
        """INSERT INTO queue_entries (queue, call_uuid, node, entered_at, position_at_entry,
               status, agent_id, answered_at, left_at, ended_at, seen_at)
           VALUES (%s, gen_random_uuid()::text, 'n1', %s, 1, %s,
                   (SELECT id FROM employees WHERE extension = %s),
                   %s, %s, %s, %s)""",
        (queue, entered, status, agent, left if status == "answered" else None,
         left if status != "waiting" else None,
         left + dt.timedelta(seconds=talk_s) if status != "waiting" else None, left))


@pytest.fixture
def history(db: psycopg.Connection) -> psycopg.Connection:
    directory.store(db, directory.load_file(DEMO))
    # the example of tests/queue/test_figures.py, in the support queue (threshold 20 s)
    entry(db, "support", "answered", 5, "1001", 120, minute=0)
    entry(db, "support", "answered", 15, "1002", 60, minute=1)
    entry(db, "support", "answered", 40, "1001", 180, minute=2)
    entry(db, "support", "abandoned", 8, minute=3)
    entry(db, "support", "abandoned", 50, minute=4)
    entry(db, "support", "overflow", 300, minute=5)
    # outside the period: the day before, and the day after
    entry(db, "support", "answered", 1, "1001", 10, minute=-24 * 60)
    entry(db, "support", "answered", 1, "1001", 10, minute=24 * 60)
    return db


def run(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={
        "DATABASE_URL": database_url, "IVR_APP_IVR_MENUS": str(MENUS),
        "IVR_APP_ESL_PORT": "1", "IVR_APP_ESL_CONNECT_TIMEOUT_SECONDS": "0.2"})
    return result.exit_code, result.output


def test_report_csv_matches_the_hand_computed_example(history, database_url):
    code, out = run(database_url, "report", "queues", "--from", "2026-11-02", "--to",
                    "2026-11-03", "--csv")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0] == ("queue,agent,offered,answered,abandoned,overflow,service_level_pct,"
                        "service_level_seconds,asa_seconds,longest_wait_seconds,talk_seconds")
    # offered 6, answered 3, abandoned 2, overflow 1; SL 2 / (6 - 1) = 40 %;
    # ASA (5 + 15 + 40) / 3 = 20 s; longest wait 300 s; talk 120 + 60 + 180 = 360 s
    assert lines[1] == "sales,,0,0,0,0,,20,,0.0,0.0"
    assert lines[2] == "support,,6,3,2,1,40.0,20,20.0,300.0,360.0"
    assert lines[3] == "support,1001 Anna Petrova,,2,,,,,,,300.0"
    assert lines[4] == "support,1002 James Wilson,,1,,,,,,,60.0"
    assert len(lines) == 5


def test_report_text_and_errors(history, database_url):
    code, out = run(database_url, "report", "queues", "--from", "2026-11-02", "--to",
                    "2026-11-03", "--queue", "support")
    assert code == 0, out
    assert "support  6        3         2          1         40.0 %  20 s    20 s  300 s" in out
    assert "1001 Anna Petrova  2         300 s" in out
    code, out = run(database_url, "report", "queues", "--from", "2026-11-03", "--to",
                    "2026-11-02")
    assert code == 10
    assert "--to must come after --from" in out
    code, out = run(database_url, "report", "queues", "--from", "2026-11-02", "--to",
                    "2026-11-03", "--queue", "nope")
    assert code == 5
    assert "no queue named nope" in out


def test_stats_and_callbacks(db, database_url):
    directory.store(db, directory.load_file(DEMO))
    skills = {"support": 1}
    e = qdb.enter(db, "support", skills, call_uuid="c1", node="n1", caller_number="+1",
                  customer_id=None, vip=False, manager_extension=None, max_length=10)
    assert e is not None
    qdb.leave(db, e.entry_id, "overflow", "key 2: callback")  # the caller asks to be called
    qcb.request_callback(db, "support", e.entry_id, "+442071234567", None)  # back: same place
    code, out = run(database_url, "queue", "stats", "--queue", "support", "--json")
    assert code == 0, out
    live = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    # 1001 (support 3) and 1002 (support 1) are available; nobody is busy
    assert (live["queue"], live["waiting"], live["agents_available"]) == ("support", 1, 2)
    code, out = run(database_url, "queue", "callbacks")
    assert code == 0
    assert "+442071234567" in out
    cb_id = out.strip().splitlines()[-1].split()[0]
    code, out = run(database_url, "queue", "callback-done", cb_id, "--by", "olga")
    assert (code, out.strip()) == (0, f"callback {cb_id} done")
    # done by hand: it leaves the line, so no node dials it
    assert db.execute("SELECT status, reason FROM queue_entries WHERE callback_id = %s",
                      (int(cb_id),)).fetchone() == ("overflow", "callback done by olga")
    code, out = run(database_url, "queue", "callback-done", cb_id)
    assert code == 5


class FakeControl:
    def __init__(self) -> None:
        import gevent.event

        self.connected = gevent.event.Event()
        self.connected.set()
        self.sent: list[tuple[str, list, str]] = []

    def sendevent(self, name: str, headers: list, body: str = "") -> str:
        self.sent.append((name, headers, body))
        return "+OK"


def test_one_publisher_among_nodes_and_the_next_takes_over(db, database_url):
    directory.store(db, directory.load_file(DEMO))
    queues = menus.load(MENUS).queues
    log = structlog.get_logger()
    controls = [FakeControl(), FakeControl()]
    nodes = [QueueStatsPublisher(lambda: psycopg.connect(database_url), c, lambda: queues,
                                 list, 60, log) for c in controls]
    try:
        assert [n.tick() for n in nodes] == [2, 0]  # two queues, from the first node only
        name, headers, body = controls[0].sent[0]
        h = dict(headers)
        assert (name, h["Event-Subclass"], h["Queue-Name"]) == ("CUSTOM",
                                                                 "ivr_app::queue_stats",
                                                                 "support")
        assert json.loads(body)["agents_available"] == int(h["Queue-Agents-Available"]) == 2
        nodes[0].stop()  # the publisher goes away: its lock with it (once its backend exits)
        assert wait_until(lambda: nodes[1].tick(), what="the takeover") == 2
        assert nodes[0].leader is False
    finally:
        for n in nodes:
            n.stop()

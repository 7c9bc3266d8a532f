"""PostgreSQL stopped mid-run on a real FreeSWITCH (issue 19, items 1 and 2): a caller dials
extension 1000 directly and reaches the desk (FreeSWITCH's own directory, ``user_exists``,
answers for the database), another walks the menus to 1002; PostgreSQL comes back and every
calls row is there once, with its route, keys, employee and hangup cause, replayed from the
outbox's journal."""

from __future__ import annotations

import time

from tests_fs.conftest import MEASURED
from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID


def rows(lab, uuid: str):
    with lab.db() as db:
        return db.execute(
            """SELECT c.route, c.menu_path, c.hangup_cause, c.employee_answered, e.extension,
                      c.started_at, c.ended_at
               FROM calls c LEFT JOIN employees e ON e.id = c.employee_id
               WHERE c.uuid = %s""", (uuid,)).fetchall()


def test_calls_while_postgresql_is_down_reach_people_and_are_recorded_after(lab, sip):
    assert lab.cluster is not None, \
        "this scenario stops the lab's own PostgreSQL: run it without DATABASE_URL"
    sip.phone("1000", answer_after=0.5, talk=2)
    sip.phone("1002", answer_after=0.5, talk=2)
    before = len(lab.log_lines())
    lab.cluster.pg_ctl("stop", "-m", "fast")
    stopped = time.monotonic()
    try:
        mark = lab.monitor.mark()
        direct = sip.call(DID, number="+15550006666", name="Outage Caller",
                          keys=[(1.0, "info", "1000#")])
        direct_uuid = lab.monitor.channel(mark, "sofia/external/+15550006666@")
        desk = lab.monitor.channel(mark, "sofia/internal/1000@", timeout=30)
        assert direct.wait(60) is not None
        # the menu path: 1 (sales) during the greeting, 2 (James, 1002) in the sales menu
        mark = lab.monitor.mark()
        walker = sip.call(DID, number="+15550007777", name="Menu Walker",
                          keys=[(1.0, "info", "1"), (4.0, "info", "2")])
        walker_uuid = lab.monitor.channel(mark, "sofia/external/+15550007777@")
        lab.monitor.channel(mark, "sofia/internal/1002@", timeout=40)
        assert walker.wait(60) is not None
        down_for = time.monotonic() - stopped
    finally:
        lab.cluster.pg_ctl("start")
    assert desk
    log = lab.log_lines()[before:]
    events = [x.get("event") for x in log]
    assert "database down: call steps go on without waiting for it" in events
    checked = [x for x in log if x.get("event") ==
               "extension checked in FreeSWITCH's directory (no database)"]
    assert [(x["extension"], x["known"]) for x in checked] == [("1000", True)]

    got = wait_for(lambda: (r := rows(lab, walker_uuid)) and r[0][6] is not None and r, 40,
                   "the journal replayed")
    assert len(got) == 1
    route, path, cause, answered, employee, _started, _ended = got[0]
    assert route == "sales/extension 1002"
    assert [(k["menu"], k["digits"]) for k in path] == [("main", "1"), ("sales", "2")]
    assert (cause, answered, employee) == ("NORMAL_CLEARING", True, "1002")
    got = rows(lab, direct_uuid)
    assert len(got) == 1
    route, path, cause, answered, employee, started, ended = got[0]
    assert (route, path) == ("main/extension 1000", [{"menu": "main", "digits": "1000"}])
    assert (cause, answered, employee) == ("NORMAL_CLEARING", True, "1000")
    assert started < ended
    replayed = [x for x in lab.log_lines()[before:]
                if x.get("event") == "journal replayed into PostgreSQL"]
    assert sum(x["applied"] for x in replayed) >= 6  # 2 calls x (started, answered, ended)
    assert all(x["rejected"] == 0 for x in replayed)
    journaled = [x for x in lab.log_lines()[before:] if x.get("event") == "write journaled"]
    MEASURED.append(f"PostgreSQL down {down_for:.1f} s: {len(journaled)} writes journaled, "
                    f"replayed once it was back; direct dial 1000 reached the desk")

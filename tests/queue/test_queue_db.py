"""The queues' shared state in PostgreSQL: order, agent choice, offers, wrap-up, staleness."""

from __future__ import annotations

import collections
import datetime as dt
import threading

import psycopg
import pytest

from ivr_app import yamlfile
from ivr_app.db import directory
from ivr_app.db import queue_callbacks as qcb
from ivr_app.db import queue_stats as qstats
from ivr_app.db import queues as qdb
from ivr_app.errors import ConfigError

PEOPLE = """
employees:
  - {extension: "2001", name: Agent One, skills: {support: 2}}
  - {extension: "2002", name: Agent Two, skills: {support: 5, sales: 1}}
  - {extension: "2003", name: Agent Three, skills: {sales: 3}}
  - {extension: "2004", name: Not An Agent}
"""
SUPPORT = {"support": 1}


@pytest.fixture
def agents(db: psycopg.Connection) -> psycopg.Connection:
    directory.store(db, directory.parse(yamlfile.loads(PEOPLE, "people.yaml")))
    # everybody idle since different times: 2002 the longest, then 2001, then 2003
    for ext, minutes in (("2001", 5), ("2002", 10), ("2003", 1)):
        db.execute("""UPDATE agents SET idle_since = now() - make_interval(mins => %s)
                      WHERE employee_id = (SELECT id FROM employees WHERE extension = %s)""",
                   (minutes, ext))
    return db


def enter(db: psycopg.Connection, uuid: str, *, vip: bool = False, manager: str | None = None,
          queue: str = "support", max_length: int = 50) -> qdb.Entered | None:
    return qdb.enter(db, queue, SUPPORT if queue == "support" else {"sales": 1},
                     call_uuid=uuid, node="n1", caller_number="+100", customer_id=None,
                     vip=vip, manager_extension=manager, max_length=max_length)


def test_skills_load_into_agents_and_replace_on_reload(agents: psycopg.Connection) -> None:
    rows = agents.execute("""SELECT e.extension, s.skill, s.level FROM agent_skills s
                             JOIN employees e ON e.id = s.employee_id
                             ORDER BY 1, 2""").fetchall()
    assert rows == [("2001", "support", 2), ("2002", "sales", 1), ("2002", "support", 5),
                    ("2003", "sales", 3)]
    assert agents.execute("SELECT count(*) FROM agents").fetchone() == (3,)
    directory.store(agents, directory.parse(yamlfile.loads(
        'employees: [{extension: "2001", name: Agent One, skills: {}}]', "p.yaml")))
    assert agents.execute("SELECT count(*) FROM agents").fetchone() == (2,)


def test_skill_errors_name_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        directory.parse(yamlfile.loads(
            'employees:\n  - {extension: "2001", name: A, skills: {support: 11}}\n', "p.yaml"))
    assert "p.yaml:2: employees[0].skills.support: must be a level 1-10" in str(err.value)


def test_positions_vip_then_team_then_first_come(agents: psycopg.Connection) -> None:
    a = enter(agents, "a")
    b = enter(agents, "b")
    team = enter(agents, "team", manager="2001")  # 2001 has the support skill
    not_team = enter(agents, "other", manager="2003")  # 2003 has no support skill
    vip = enter(agents, "vip", vip=True)
    assert [e.position for e in (a, b, team, not_team, vip)] == [1, 2, 1, 4, 1]
    order = [qdb.position(agents, "support", e.entry_id)[0] for e in (vip, team, a, b, not_team)]
    assert order == [1, 2, 3, 4, 5]


def test_the_first_in_line_take_the_free_agents_longest_idle_first(agents) -> None:
    a, b, c = enter(agents, "a"), enter(agents, "b"), enter(agents, "c")
    # two agents have the support skill (2003 does not): the third caller must wait even
    # when it looks first, and the second, looking before the first, leaves the first the
    # longest-idle agent
    assert qdb.claim(agents, "support", c.entry_id, SUPPORT) is None
    second = qdb.claim(agents, "support", b.entry_id, SUPPORT)
    assert second is not None
    assert second.extension == "2001"  # idle 5 min: the second longest
    first = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert first is not None
    assert first.extension == "2002"  # idle 10 min
    assert qdb.claim(agents, "support", c.entry_id, SUPPORT) is None  # nobody left


def test_level_requirement_busy_presence_and_pause(agents: psycopg.Connection) -> None:
    a = enter(agents, "a")
    # a queue asking for support level 3: only 2002 qualifies; 2002 is on a call
    assert qdb.claim(agents, "support", a.entry_id, {"support": 3}, ["2002"]) is None
    # 2002 in a meeting: not available either, whatever the channel events say
    agents.execute("UPDATE presence SET state = 'meeting' WHERE employee_id = "
                   "(SELECT id FROM employees WHERE extension = '2002')")
    assert qdb.claim(agents, "support", a.entry_id, {"support": 3}) is None
    offer = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert offer is not None
    assert offer.extension == "2001"
    qdb.release(agents, offer, pause_s=60)  # let it ring out: skipped for a minute
    assert qdb.claim(agents, "support", a.entry_id, SUPPORT) is None
    agents.execute("UPDATE presence SET state = 'available'")
    again = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert again is not None
    assert again.extension == "2002"
    assert agents.execute("SELECT offers, status FROM queue_entries WHERE id = %s",
                          (a.entry_id,)).fetchone() == (2, "offered")


def test_wrap_up_then_last_in_line(agents: psycopg.Connection) -> None:
    a = enter(agents, "a")
    offer = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert offer is not None
    assert offer.extension == "2002"
    qdb.answered(agents, offer)
    qdb.finished(agents, offer, wrap_up_s=0)
    b = enter(agents, "b")
    nxt = qdb.claim(agents, "support", b.entry_id, SUPPORT)
    assert nxt is not None
    assert nxt.extension == "2001"
    qdb.release(agents, nxt, pause_s=0)
    qdb.finished(agents, offer, wrap_up_s=0)  # a second call of finished changes nothing
    agents.execute("UPDATE agents SET ready_after = now() + interval '1 minute'")  # wrap-up
    assert qdb.claim(agents, "support", b.entry_id, SUPPORT) is None


def test_full_queue_refuses_and_leaving_frees_the_offer(agents: psycopg.Connection) -> None:
    a = enter(agents, "a", max_length=2)
    enter(agents, "b", max_length=2)
    assert enter(agents, "c", max_length=2) is None
    offer = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert offer is not None
    qdb.leave(agents, a.entry_id, "abandoned")  # hung up while the agent rang
    row = agents.execute("SELECT entry_id FROM agents WHERE employee_id = %s",
                         (offer.agent_id,)).fetchone()
    assert row == (None,)
    assert agents.execute("SELECT status, agent_id FROM queue_entries WHERE id = %s",
                          (a.entry_id,)).fetchone() == ("abandoned", None)


def test_a_stale_entry_never_blocks_the_callers_behind(agents: psycopg.Connection) -> None:
    a, b = enter(agents, "a"), enter(agents, "b")
    agents.execute("UPDATE queue_entries SET seen_at = now() - interval '1 minute' "
                   "WHERE id = %s", (a.entry_id,))
    offer = qdb.claim(agents, "support", b.entry_id, SUPPORT)
    assert offer is not None
    assert qdb.position(agents, "support", b.entry_id) == (1, 1)


def test_two_queues_racing_for_shared_agents_never_double_offer(
        agents: psycopg.Connection, database_url: str) -> None:
    """Callers of two queues that share an agent (2002 has support and sales), a thread per
    caller hammering claim (and, once offered, claim for an added agent, as a ringing offer
    does): every agent is offered exactly one caller, every caller at most two agents, and
    the offers go to the heads of the queues."""
    support = [enter(agents, f"s{i}") for i in range(10)]
    sales = [enter(agents, f"x{i}", queue="sales") for i in range(10)]
    offers: list[qdb.Offer] = []
    lock = threading.Lock()
    start = threading.Barrier(len(support) + len(sales))

    def worker(entry: qdb.Entered, queue: str) -> None:
        skills = SUPPORT if queue == "support" else {"sales": 1}
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            mine = 0
            for _ in range(40):
                offer = qdb.claim(conn, queue, entry.entry_id, skills, added=mine > 0)
                if offer is not None:
                    mine += 1
                    with lock:
                        offers.append(offer)
                    if mine == 2:
                        return

    threads = [threading.Thread(target=worker, args=(e, "support")) for e in support] + \
        [threading.Thread(target=worker, args=(e, "sales")) for e in sales]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.extension for o in offers) == ["2001", "2002", "2003"]
    per_entry = collections.Counter(o.entry_id for o in offers)
    assert max(per_entry.values()) <= 2
    firsts = {support[0].entry_id, support[1].entry_id, sales[0].entry_id, sales[1].entry_id}
    assert {o.entry_id for o in offers} <= firsts
    held = agents.execute("SELECT count(*) FROM agents WHERE entry_id IS NOT NULL").fetchone()
    assert held == (3,)


def test_report_entries_and_live_figures(agents: psycopg.Connection) -> None:
    a, b = enter(agents, "a"), enter(agents, "b")
    offer = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert offer is not None
    qdb.answered(agents, offer)
    qdb.leave(agents, b.entry_id, "abandoned")
    enter(agents, "c")
    now = dt.datetime.now(dt.UTC)
    rows = qstats.entries(agents, now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1))
    assert [r.outcome for r in rows] == ["answered", "abandoned", "waiting"]
    assert rows[0].agent == "2002 Agent Two"
    live = qstats.live(agents, "support", SUPPORT, 20, busy_extensions=[])
    assert (live.waiting, live.answered, live.abandoned) == (1, 1, 1)
    assert (live.agents_available, live.agents_busy, live.agents_wrap_up) == (1, 1, 0)


def test_a_vanished_node_s_conversation_and_callback_free_their_agents(agents) -> None:
    """A node that stops mid-conversation or mid-callback leaves rows behind; the cleanup
    frees the agents, closes the conversation and puts the callback back in line."""
    a = enter(agents, "a")
    talk = qdb.claim(agents, "support", a.entry_id, SUPPORT)
    assert talk is not None
    qdb.answered(agents, talk)
    qdb.leave(agents, enter(agents, "b").entry_id, "overflow", "key 2: callback")
    qcb.request_callback(agents, "support", None, "+15550100001", None)
    cb = qcb.claim_callback(agents, "support", SUPPORT)
    assert cb is not None
    assert qdb.expire_stale(agents, "support") == 0  # heartbeats are fresh
    agents.execute("UPDATE queue_entries SET seen_at = now() - interval '2 minutes'")
    assert qdb.expire_stale(agents, "support") == 2
    assert agents.execute("SELECT count(*) FROM agents WHERE entry_id IS NOT NULL"
                          ).fetchone() == (0,)
    assert agents.execute("SELECT status, ended_at IS NOT NULL FROM queue_entries WHERE id = %s",
                          (a.entry_id,)).fetchone() == ("answered", True)
    assert agents.execute("SELECT status FROM queue_entries WHERE id = %s",
                          (cb.offer.entry_id,)).fetchone() == ("waiting",)

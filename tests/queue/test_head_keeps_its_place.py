"""The caller at the head of the line keeps their place while their offer rings (issue 19).

A real run showed it: while the head caller was offered to an agent who did not answer, another
agent came free and took the caller behind; the head waited 19 s more. Now the agent who comes
free is kept for the head and rung too (queue_added.py: originate ... &intercept(<caller>)),
and the caller behind waits."""

from __future__ import annotations

import time

from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS, FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import ended
from tests.test_queue_calls import entry, free_agent, hold_agents, rig_factory, settled

__all__ = ["rig_factory"]  # the fixture, shared with tests/test_queue_calls.py


def agent_paused(db, extension: str) -> bool:
    row = db.execute("""SELECT ready_after > now() + interval '20 seconds' FROM agents
                        WHERE employee_id = (SELECT id FROM employees WHERE extension = %s)""",
                     (extension,)).fetchone()
    return bool(row and row[0])


def offered_to(db, uuid: str, extension: str) -> None:
    wait_until(lambda: (e := entry(db, uuid)) and e[0] == "offered" and e[2] == extension,
               timeout=10, what=f"{uuid} offered to {extension}")


def head_ringing_at_2001(rig, db, second: FarEnd, head_number: str, behind_number: str):
    """Every agent held but 2001, who never answers; the head is offered to 2001 and a
    second caller waits behind. Returns (head, behind)."""
    hold_agents(db)
    rig.fs.originator.far_end("user/2001", NEVER_ANSWERS)
    rig.fs.originator.far_end("user/2002", second)
    free_agent(db, "2001")
    head = rig.caller("support", head_number)
    offered_to(db, head.uuid, "2001")
    behind = rig.caller("support", behind_number)
    wait_until(lambda: entry(db, behind.uuid), timeout=10, what="the second caller queued")
    return head, behind


def test_an_agent_who_comes_free_is_added_to_the_heads_ringing_offer(rig_factory, db):
    rig = rig_factory()
    head, behind = head_ringing_at_2001(rig, db, FarEnd(answer_after=1, talk=200),
                                        "+15550100071", "+15550100072")
    freed = time.monotonic()
    free_agent(db, "2002")  # while 2001's phone rings for the head
    wait_until(lambda: entry(db, head.uuid)[0] == "answered", timeout=10,
               what="the head answered")
    took = time.monotonic() - freed
    status, _reason, agent, _pos, offers = entry(db, head.uuid)
    assert (status, agent, offers) == ("answered", "2002", 2)
    # long before 2001's ring (agent_ring_seconds 20 = 1 s here) would have ended
    assert took < 0.8, took
    # the caller behind was never offered 2002, who talks with the head now
    assert entry(db, behind.uuid)[2] != "2002"
    assert rig.fs.originator.dialled.count("user/2002") == 1
    # 2001's ring was cut by the head's answer, not ignored: no no-answer pause
    assert not agent_paused(db, "2001")
    # the first bridge was taken over by the intercept
    assert head.vars.get("originate_disposition") == "PICKED_OFF"
    head.hangup("NORMAL_CLEARING")
    ended(head)
    behind.hangup("NORMAL_CLEARING")
    status, _reason, agent, _pos, _offers = settled(db, head.uuid)
    assert (status, agent) == ("answered", "2002")
    # the conversation is closed: 2002 wraps up, then takes the next caller
    wait_until(lambda: db.execute("SELECT ended_at IS NOT NULL FROM queue_entries "
                                  "WHERE call_uuid = %s", (head.uuid,)).fetchone() == (True,),
               timeout=10, what="the head's conversation closed")


def test_the_added_agents_ring_goes_on_after_the_first_agents_ends(rig_factory, db):
    rig = rig_factory()
    # 2002 answers 18 s into its ring: after 2001's 20 s ring, begun earlier, is over
    head, behind = head_ringing_at_2001(rig, db, FarEnd(answer_after=18, talk=4),
                                        "+15550100073", "+15550100076")
    time.sleep(0.3)  # 6 s of the simulator's time into 2001's ring
    free_agent(db, "2002")
    ended(head)
    behind.hangup("NORMAL_CLEARING")
    status, _reason, agent, _pos, offers = settled(db, head.uuid)
    assert (status, agent, offers) == ("answered", "2002", 2)
    assert agent_paused(db, "2001")  # 2001 let it ring out: skipped for no_answer_pause
    assert not agent_paused(db, "2002")


def test_with_nobody_behind_one_agent_rings_at_a_time(rig_factory, db):
    """Longest idle first: with nobody waiting behind, nobody can overtake, so an agent who
    is free too is not added (no phantom ring); 2001's no-answer passes the call on."""
    rig = rig_factory()
    hold_agents(db)
    rig.fs.originator.far_end("user/2001", NEVER_ANSWERS)
    rig.fs.originator.far_end("user/2002", FarEnd(answer_after=1, talk=4))
    free_agent(db, "2001")
    free_agent(db, "2002")
    head = rig.caller("support", "+15550100077")
    offered_to(db, head.uuid, "2001")
    time.sleep(0.5)  # half of 2001's ring
    assert rig.fs.originator.dialled.count("user/2002") == 0
    ended(head)
    status, _reason, agent, _pos, offers = settled(db, head.uuid)
    assert (status, agent, offers) == ("answered", "2002", 2)
    assert agent_paused(db, "2001")


def test_nobody_behind_takes_an_agent_while_the_heads_offer_rings(rig_factory, db):
    """The order, in PostgreSQL: an offered caller counts as ahead until an agent is added."""
    rig = rig_factory()
    hold_agents(db)
    rig.fs.originator.far_end("user/2001", NEVER_ANSWERS)
    rig.fs.originator.far_end("user/2002", NEVER_ANSWERS)
    free_agent(db, "2001")
    head = rig.caller("support", "+15550100074")
    offered_to(db, head.uuid, "2001")
    behind = rig.caller("support", "+15550100075")
    wait_until(lambda: entry(db, behind.uuid), timeout=10, what="the second caller queued")
    free_agent(db, "2002")
    # 2002 is added to the head's offer; the caller behind stays waiting
    wait_until(lambda: rig.fs.originator.dialled.count("user/2002") == 1, timeout=10,
               what="2002 rung for the head")
    time.sleep(0.3)
    assert entry(db, behind.uuid)[0] == "waiting"
    held = db.execute("""SELECT count(*) FROM agents WHERE entry_id =
                         (SELECT id FROM queue_entries WHERE call_uuid = %s)""",
                      (head.uuid,)).fetchone()
    assert held == (2,)
    head.hangup("NORMAL_CLEARING")
    behind.hangup("NORMAL_CLEARING")

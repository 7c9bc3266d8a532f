"""The queue's order on a real FreeSWITCH (issue 19): while the head caller's offer rings at an
agent who does not answer, a second agent comes free. They are added to the head's ringing
offer (originate ... &intercept(<caller>)), not given to the caller behind; the added agent
answers and FreeSWITCH's intercept takes the head out of the bridge still ringing the first
agent (that phone's leg ends PICKED_OFF)."""

from __future__ import annotations

import time

from tests_fs.conftest import MEASURED
from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID
from tests_fs.test_queue import entry

SECOND = "1006"  # tests_fs/data.yaml's Sam Second, made a support agent for this scenario only


def hold(lab, extension: str, held: bool) -> None:
    with lab.db() as db:
        db.execute("""UPDATE agents SET ready_after = now() + make_interval(hours => %s)
                      WHERE employee_id = (SELECT id FROM employees WHERE extension = %s)""",
                   (1 if held else 0, extension))


def test_an_agent_who_comes_free_is_added_to_the_heads_ringing_offer(lab, sip):
    sip.phone("1003", answer_after=None)  # the first agent lets it ring
    sip.phone(SECOND, answer_after=1.0, talk=4)
    with lab.db() as db:
        db.execute("""INSERT INTO agents (employee_id, ready_after)
                      SELECT id, now() + interval '1 hour' FROM employees WHERE extension = %s
                      ON CONFLICT (employee_id) DO UPDATE SET ready_after = EXCLUDED.ready_after,
                          entry_id = NULL, entry_state = NULL""", (SECOND,))
        db.execute("""INSERT INTO agent_skills (employee_id, skill, level)
                      SELECT id, 'support', 2 FROM employees WHERE extension = %s
                      ON CONFLICT DO NOTHING""", (SECOND,))
    hold(lab, "1003", True)  # both agents busy until the two callers are in line
    try:
        mark = lab.monitor.mark()
        head = sip.call("7001", number="1002", profile="internal", auth_user="1002",
                        hangup_after=40)
        head_uuid = lab.monitor.channel(mark, "sofia/internal/1002@")
        wait_for(lambda: (e := entry(lab, head_uuid)) and e[0] == "waiting", 20,
                 "the head waiting")
        behind_number = "+15550008888"
        behind = sip.call(DID, number=behind_number, keys=[(1.0, "info", "3")],
                          hangup_after=30)
        behind_uuid = lab.monitor.channel(mark, f"sofia/external/{behind_number}@")
        wait_for(lambda: (e := entry(lab, behind_uuid)) and e[0] == "waiting", 20,
                 "the caller behind waiting")
        hold(lab, "1003", False)
        wait_for(lambda: (e := entry(lab, head_uuid)) and e[0] == "offered" and
                 e[2] == "1003", 10, "the head offered to 1003")
        time.sleep(1.0)  # 1003's phone rings (agent_ring_seconds 8)
        first_leg = lab.monitor.channel(mark, "sofia/internal/1003@")
        freed = time.monotonic()
        hold(lab, SECOND, False)  # the second agent's wrap-up is over, while 1003's phone rings
        _status, _reason, agent = wait_for(
            lambda: (e := entry(lab, head_uuid)) and e[0] == "answered" and e, 20,
            "the head answered")
        took = time.monotonic() - freed
        assert agent == SECOND
        with lab.db() as db:
            paused = db.execute("""SELECT ready_after > now() + interval '10 seconds'
                                   FROM agents a JOIN employees e ON e.id = a.employee_id
                                   WHERE e.extension = '1003'""").fetchone()
        # 1003's ring was cut, not ignored: no no-answer pause (read before 1003 rings out
        # for the caller behind, which does pause them)
        assert paused == (False,)
        # the caller behind never got the agent who came free; 1003, whose ring the head's
        # answer cut, is free again at once and may already ring for them
        behind_then = entry(lab, behind_uuid)
        assert behind_then[2] != SECOND, behind_then
        assert behind_then[0] in ("waiting", "offered"), behind_then
        cut = lab.monitor.wait(mark, "CHANNEL_HANGUP_COMPLETE", Unique_ID=first_leg)
        # the intercept's bridge: the added leg is its A leg (its Unique-ID), the head the other
        second_leg = lab.monitor.channel(mark, f"sofia/internal/{SECOND}@")
        bridged = lab.monitor.wait(mark, "CHANNEL_BRIDGE", Unique_ID=second_leg)
        assert bridged.get("Other-Leg-Unique-ID") == head_uuid
        assert head.wait(60) is not None
        assert behind.wait(60) is not None
        MEASURED.append(f"queue order: the added agent answered the head {took:.1f} s after "
                        f"coming free; 1003's leg ended {cut.get('Hangup-Cause')}")
    finally:
        hold(lab, "1003", False)
        with lab.db() as db:
            db.execute("""DELETE FROM agent_skills WHERE employee_id =
                          (SELECT id FROM employees WHERE extension = %s)""", (SECOND,))
            db.execute("""DELETE FROM agents WHERE employee_id =
                          (SELECT id FROM employees WHERE extension = %s)""", (SECOND,))

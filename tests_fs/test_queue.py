"""The hold queue on a real FreeSWITCH: a caller the account manager did not answer waits in
the support queue (the menu's 2 is not the queue's callback key), hears the music, and an
agent's phone takes the call."""

from __future__ import annotations

from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID, EMILY, calls_row


def entry(lab, uuid: str):
    with lab.db() as db:
        return db.execute("""SELECT q.status, q.reason, e.extension FROM queue_entries q
                             LEFT JOIN employees e ON e.id = q.agent_id
                             WHERE q.call_uuid = %s""", (uuid,)).fetchone()


def test_from_the_unanswered_manager_to_the_queue_and_an_agent(lab, sip):
    sip.phone("1002", answer_after=None)  # Emily's manager does not answer
    sip.phone("1003", answer_after=1.0, talk=3)  # the support agent does
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=EMILY, name="Emily Clark", keys=[(1.0, "info", "2")])
    uuid = lab.monitor.channel(mark, f"sofia/external/{EMILY}@")
    assert caller.wait(90) is not None
    status, _reason, agent = wait_for(lambda: (e := entry(lab, uuid)) and
                                      e[0] not in ("waiting", "offered") and e, 30,
                                      "the queue entry's end")
    assert (status, agent) == ("answered", "1003")
    route, path, cause, answered = calls_row(lab, uuid)
    assert route == "main/manager -> queue support"
    assert path == [{"menu": "main", "digits": "2"}]
    assert (cause, answered) == ("NORMAL_CLEARING", True)
    with lab.db() as db:
        assert db.execute("SELECT count(*) FROM queue_callbacks").fetchone()[0] == 0
    apps = lab.monitor.apps(mark, uuid)
    assert ("playback", "local_stream://moh") in apps  # the music
    assert ("flush_dtmf", "") in apps  # the menu's key forgotten before the queue
    # the music was stopped (its playback completed) before the agent's phone rang
    done = [e for e in lab.monitor.since(mark, "CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid)
            if e.get("Application") == "playback" and
            e.get("Application-Data") == "local_stream://moh"]
    assert done

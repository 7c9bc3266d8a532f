"""The hold queue on a real FreeSWITCH: a caller the account manager did not answer waits in
the support queue (the menu's 2 is not the queue's callback key), hears the music, and an
agent's phone takes the call."""

from __future__ import annotations

from tests_fs.conftest import MEASURED
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


def test_announced_over_the_music_then_the_callback_key_and_the_callback_is_made(lab, sip):
    """No agent free: the caller hears their place over the music (uuid_displace), presses 2
    for a callback; when the agent is free, the agent's phone rings first, then the customer's
    number through the gateway."""
    from tests_fs.conftest import setting
    from tests_fs.sip import FarEnd

    number = "+15550007777"
    lab.cli("presence", "set", "1003", "dnd")
    try:
        mark = lab.monitor.mark()
        caller = sip.call(DID, number=number, keys=[(1.0, "info", "3"), (6.0, "info", "2")])
        uuid = lab.monitor.channel(mark, f"sofia/external/{number}@")
        assert caller.wait(60) is not None
        with lab.db() as db:
            request = wait_for(lambda: db.execute(
                "SELECT queue, number, done_at FROM queue_callbacks WHERE number = %s",
                (number,)).fetchone(), 20, "the callback request")
        assert request == ("support", number, None)
        announced = [x for x in lab.log_lines() if x.get("event") == "announced" and
                     x.get("call_uuid") == uuid]
        assert announced
        assert announced[0]["position"] == 1
        apps = lab.monitor.apps(mark, uuid)
        assert ("flush_dtmf", "") in apps
        sip.phone("1003", answer_after=1.0, talk=4)
        pstn = sip.pstn(int(setting("IVR_APP_FS_PSTN_PORT")), {number: FarEnd(
            answer_after=1.0, talk=3)})
    finally:
        lab.cli("presence", "set", "1003", "available")
    with lab.db() as db:
        done = wait_for(lambda: db.execute(
            "SELECT done_by, attempts FROM queue_callbacks WHERE number = %s AND done_at IS "
            "NOT NULL", (number,)).fetchone(), 60, "the callback made")
    assert done[1] >= 1
    legs = [e for e in lab.monitor.since(mark, "CHANNEL_CREATE")
            if e.get("Call-Direction") == "outbound"]
    agent = next(e for e in legs if "sofia/internal/1003@" in (e.get("Channel-Name") or ""))
    customer = next(e for e in legs if number in (e.get("Channel-Name") or ""))
    assert int(agent["Event-Date-Timestamp"]) < int(customer["Event-Date-Timestamp"])
    # the customer sees the company (the queue's caller_id), not the agent's extension, and
    # the agent's phone saw the customer's number
    from tests_fs.test_caller_ids import from_of, invites_to

    invite = wait_for(lambda: invites_to(pstn, number), 10, "the customer's INVITE")
    assert from_of(invite[0]) == ("+74951117001", "+74951117001")
    assert agent.get("Caller-Caller-ID-Number") == number
    MEASURED.append("callback: customer leg shows caller ID "
                    f"{customer.get('Caller-Caller-ID-Number')!r}")


def test_dialled_from_a_phone_the_agent_lets_it_ring_out_and_is_paused(lab, sip):
    """7001 from 1002's registered phone: the support queue; agent 1003's phone rings out
    (agent_ring_seconds) and the caller waits on, in the same place; the agent is skipped
    for no_answer_pause_seconds."""
    sip.phone("1003", answer_after=None)
    mark = lab.monitor.mark()
    caller = sip.call("7001", number="1002", profile="internal", auth_user="1002",
                      hangup_after=16)
    uuid = lab.monitor.channel(mark, "sofia/internal/1002@")
    assert caller.wait(40) is not None
    status, reason, _agent = wait_for(lambda: (e := entry(lab, uuid)) and
                                      e[0] not in ("waiting", "offered") and e, 20,
                                      "the queue entry's end")
    assert (status, reason) == ("abandoned", "caller hung up")
    with lab.db() as db:
        offers, paused = db.execute(
            """SELECT q.offers, a.ready_after > now() FROM queue_entries q, agents a
               JOIN employees e ON e.id = a.employee_id
               WHERE q.call_uuid = %s AND e.extension = '1003'""", (uuid,)).fetchone()
    assert offers >= 1
    assert paused is True
    rang = lab.monitor.channel(mark, "sofia/internal/1003@")
    gone = lab.monitor.wait(mark, "CHANNEL_HANGUP_COMPLETE", Unique_ID=rang)
    assert gone.get("Hangup-Cause") in ("ALLOTTED_TIMEOUT", "NO_ANSWER", "ORIGINATOR_CANCEL")

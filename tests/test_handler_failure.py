"""A call handler that fails for any reason (issue 13): the caller hears the apology and goes
to the dialplan's fallback, as when ivr-app is down; the calls row is closed."""

from __future__ import annotations

from ivr_app.handlers import ivr as ivr_handler
from ivr_app.testing.fakeswitch.dialplan import Dialplan
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY


def with_fallback(fs, app) -> None:
    """The company number as the deployed dialplan has it: ivr-app, then (only if ivr-app
    lets the call go) the operator's desk. The harness's has the socket application alone."""
    fs.dialplan = Dialplan()
    fs.dialplan.load_xml(f"""<include><context name="public"><extension name="company">
      <condition field="destination_number" expression="^74951112233$">
        <action application="set" data="continue_on_fail=true"/>
        <action application="socket" data="127.0.0.1:{app.outbound.port} async full"/>
        <action application="bridge" data="user/1000"/>
      </condition></extension></context></include>""")


def test_a_failing_handler_hands_the_caller_to_the_fallback(ivr, db, monkeypatch):
    fs, app, out = ivr
    with_fallback(fs, app)

    def broken(self, name):
        raise RuntimeError("a bug in the menu")

    monkeypatch.setattr(ivr_handler.IvrFlow, "menu_loop", broken)
    bridged = []
    fs.observers.append(lambda name, headers: bridged.append(dict(headers))
                        if name == "CHANNEL_BRIDGE" else None)
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    wait_until(lambda: ch.destroyed.is_set(), timeout=20, what="the call over")
    heard = [p for u, p in fs.played if u == ch.uuid]
    assert heard[-1] == app.prompts.path(app.menus.prompts["technical_problem"], "en")
    # the dialplan's own bridge after the socket application: the operator took the caller
    assert [(b["Unique-ID"], b["Other-Leg-Channel-Name"]) for b in bridged] == \
        [(ch.uuid, "sofia/internal/1000@127.0.0.1")]
    row = wait_until(lambda: db.execute(
        "SELECT route, ended_at IS NOT NULL FROM calls WHERE uuid = %s", (ch.uuid,)).fetchone(),
        timeout=10, what="the calls row")
    assert row[1] is True
    assert "call handler failed: back to the dialplan's fallback" in out.getvalue()
    assert "RuntimeError: a bug in the menu" in out.getvalue()


def test_a_handler_failing_during_a_queue_offer_frees_the_agent_and_the_entry(ivr, db,
                                                                             monkeypatch):
    """The handler fails right after an agent's offer rang out: that agent is free again at
    once (not paused), their external legs given back, the entry closed as overflow, and the
    caller on the dialplan's fallback."""
    from ivr_app.handlers import queue_added
    from ivr_app.testing.fakeswitch.originate import NEVER_ANSWERS

    fs, app, out = ivr
    with_fallback(fs, app)
    for target in ("user/1001", "user/1002", "sofia/gateway/pstn/+79161110001",
                   "sofia/gateway/pstn/+74955550001"):
        fs.originator.far_end(target, NEVER_ANSWERS)
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))

    def broken(self):
        raise RuntimeError("a bug after the offer")

    monkeypatch.setattr(queue_added.AddedAgent, "no_more", broken)
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits",
               timeout=10, what="the menu")
    fs.press(ch.uuid, "3")
    wait_until(lambda: ch.destroyed.is_set(), timeout=30, what="the call over")
    entry = wait_until(lambda: db.execute(
        "SELECT status, reason FROM queue_entries WHERE call_uuid = %s AND status <> 'waiting' "
        "AND status <> 'offered'", (ch.uuid,)).fetchone(), timeout=10, what="the entry closed")
    assert entry == ("overflow", "ivr-app failed: to the dialplan's fallback")
    agents = db.execute("SELECT entry_id, ready_after <= now() FROM agents").fetchall()
    assert agents
    assert all(a == (None, True) for a in agents)  # nobody left offered, nobody paused
    assert db.execute("SELECT count(*) FROM external_legs").fetchone() == (0,)
    assert "call handler failed: back to the dialplan's fallback" in out.getvalue()

"""The control connection cut in the middle of a call (issue 13): the call goes on (its own
outbound socket), the control connection comes back by itself and the events resume."""

from __future__ import annotations

from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY, at_menu, call, ended


def test_a_cut_control_link_mid_call_comes_back_and_the_call_goes_on(ivr, db):
    fs, app, out = ivr
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.3, talk=300))  # 3 s at 0.01
    ch = call(fs, EMILY, "Emily Clark")
    at_menu(fs, ch)
    before = app.control.connections
    control = [s for s in fs.listeners if not s.outbound and s.channel is None]
    assert len(control) == 1
    control[0]._close_socket()  # the link drops: no goodbye, as a cable or a firewall would
    fs.press(ch.uuid, "0")  # the caller asks for the operator (call time runs 100x here)
    wait_until(lambda: app.control.connections == before + 1 and app.control.connected.is_set(),
               timeout=5, what="the control connection back")
    assert not ch.hungup.is_set()  # the call never noticed
    # the operator's call, answered while the link was down or after: known again (the
    # reconnect's resync from `show channels`, or the new connection's CHANNEL_ANSWER)
    wait_until(lambda: app.on_call.busy("1000"), timeout=10, what="1000 on the phone")
    ended(ch)
    row = wait_until(lambda: db.execute(
        "SELECT route, employee_answered FROM calls WHERE uuid = %s AND ended_at IS NOT NULL",
        (ch.uuid,)).fetchone(), timeout=10, what="the calls row")
    assert row == ("main/extension 1000", True)
    lines = out.getvalue()
    assert '"control connection failed"' in lines
    assert '"control connection up"' in lines.split('"control connection failed"')[-1]

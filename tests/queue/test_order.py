"""Queue order and the expected wait, by hand."""

from __future__ import annotations

import datetime as dt

from ivr_app.queue.order import Waiting, expected_wait_minutes, ordered, position

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def at(s):
    return T0 + dt.timedelta(seconds=s)


def test_vip_then_team_customers_then_everyone_first_come_first_served():
    q = [Waiting("a", at(0)), Waiting("b", at(5), team_customer=True), Waiting("c", at(9)),
         Waiting("d", at(30), vip=True), Waiting("e", at(31), team_customer=True)]
    assert [w.call_uuid for w in ordered(q)] == ["d", "b", "e", "a", "c"]
    assert position(q, "a") == 4
    assert position(q, "zz") is None


def test_positions_move_up_as_callers_ahead_leave():
    q = [Waiting("a", at(0)), Waiting("b", at(1)), Waiting("c", at(2))]
    assert position(q, "c") == 3
    assert position([w for w in q if w.call_uuid != "a"], "c") == 2


def test_expected_wait_in_whole_minutes_rounded_up():
    # 2 agents, 3 min average handle: positions 1-2 are served in the first wave
    assert expected_wait_minutes(1, 2, 180) == 3
    assert expected_wait_minutes(3, 2, 180) == 6
    assert expected_wait_minutes(1, 4, 20) == 1  # never "0 minutes"
    assert expected_wait_minutes(1, 0, 180) is None

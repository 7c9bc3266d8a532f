"""recording.routes: a selected route is any step of a call's route."""

from __future__ import annotations

from ivr_app.recording.policy import Policy


def test_a_selected_route_matches_any_step_of_the_route():
    policy = Policy("selected", ("queue support",))
    assert policy.for_route("queue support")
    assert policy.for_route("main/manager -> queue support")
    assert policy.for_route("queue sales -> queue support")
    assert not policy.for_route("main/manager -> voicemail 1002")
    assert not Policy("none", ("queue support",)).for_route("queue support")

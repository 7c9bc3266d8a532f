"""What a call to an employee does, given their profile, the caller and the time.

In order:

1. the rules of the employee's effective state whose caller condition and time window match,
   lowest priority number first ("meeting: my manager and VIPs ring my mobile");
2. the forward (``*72``), unless the state is do-not-disturb, vacation or meeting, which keep
   it for later instead of destroying it;
3. the state's default: available rings every enabled device; on a call, in a meeting, away,
   DND and vacation go to voicemail.

A rule that rings devices none of which is enabled, or forwards nowhere, falls through to the
next one: a call is never sent into nothing.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ivr_app.presence.model import Action, Caller, Decision, Device, Profile, Rule, State

_FORWARD_KEPT_FOR_LATER = {State.DND, State.VACATION, State.MEETING}


UTC = ZoneInfo("UTC")


def decide(profile: Profile, caller: Caller, now: dt.datetime, tz: ZoneInfo = UTC) -> Decision:
    state = profile.effective_state(now)
    local = now.astimezone(tz).time()
    for rule in sorted((r for r in profile.rules if r.state is state), key=lambda r: r.priority):
        if not rule.caller.matches(caller) or not rule.active_at(local):
            continue
        decision = _apply(rule, profile, state)
        if decision is not None:
            return decision
    if profile.forward_to and state not in _FORWARD_KEPT_FOR_LATER:
        return Decision(Action.FORWARD, forward_to=profile.forward_to,
                        why=f"{state}: forwarded")
    if state is State.AVAILABLE:
        devices = enabled(profile.devices)
        if devices:
            return Decision(Action.RING, devices, why="available: every enabled device")
    return Decision(Action.VOICEMAIL, why=f"{state}: default")


def enabled(devices: tuple[Device, ...] | list[Device] | object) -> tuple[Device, ...]:
    return tuple(d for d in devices if d.enabled)  # type: ignore[attr-defined]


def _apply(rule: Rule, profile: Profile, state: State) -> Decision | None:
    why = f"{state}: rule {rule.priority}"
    if rule.action is Action.RING:
        devices = tuple(d for d in enabled(profile.devices)
                        if not rule.devices or d.kind in rule.devices)
        return Decision(Action.RING, devices, why=why) if devices else None
    if rule.action is Action.FORWARD:
        target = rule.forward_to or profile.forward_to
        return Decision(Action.FORWARD, forward_to=target, why=why) if target else None
    return Decision(rule.action, why=why)

"""Find-me-follow-me: the devices a decision selected, as one dial string.

    {ignore_early_media=true,originate_timeout=31,...}
        [leg_timeout=20]user/1002,
        [leg_delay_start=5,leg_timeout=25,group_confirm_key=1,
         group_confirm_file=...]sofia/gateway/pstn/+447700900123

All legs of one call ring together (``,``); a device's ring delay makes timed groups inside it
(``leg_delay_start``), its timeout drops a leg that is not answered in time (``leg_timeout``).
External legs (mobile, home: anything dialled through the gateway) must press
``presence.confirm_key`` after the prompt, so a mobile's voicemail that answers at once never
takes the call; ``ignore_early_media`` keeps a carrier's early-media announcement from
counting as an answer. External numbers pass the toll-fraud guard and are capped per employee;
a refused one is dropped and reported, the others still ring.

Caller IDs are set per leg (``[origination_caller_id_number=...]``, which FreeSWITCH prefers
over ``{...}`` and over the ringing channel's ``effective_caller_id_*``): an internal leg (a
desk, ``user/...``) shows the customer, an external leg the company number
(:class:`Shown`), so a carrier never sees a number that is not the company's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ivr_app.config import PresenceConfig
from ivr_app.esl.dialstring import DialString, Leg
from ivr_app.presence import destination
from ivr_app.presence.model import Device
from ivr_app.presence.tollfraud import NumberGuard, NumberRefused


@dataclass(frozen=True)
class Shown:
    """The caller ID each kind of leg presents: ``internal`` on the employees' own phones (the
    customer's number and name), ``external`` on legs through the gateway (the company
    number). Each a mapping of ``origination_caller_id_number`` / ``_name``."""

    internal: Mapping[str, str] = field(default_factory=dict)
    external: Mapping[str, str] = field(default_factory=dict)


def company(number: str) -> dict[str, str]:
    """The caller ID of the company number (name and number alike); {} when none is set."""
    if not number:
        return {}
    return {"origination_caller_id_number": number, "origination_caller_id_name": number}


@dataclass(frozen=True)
class Plan:
    dial: DialString | None  # None: nothing left to ring
    timeout_s: int
    refused: Sequence[tuple[Device, str]] = field(default_factory=tuple)
    external: int = 0  # external legs in the dial string


def plan(devices: Sequence[Device], cfg: PresenceConfig, guard: NumberGuard,
         external_in_use: int = 0, shown: Shown | None = None, **variables: object) -> Plan:
    """``variables`` go on every leg (ivr_app_* metadata); ``shown``: each leg's caller ID;
    ``external_in_use``: the employee's external legs already ringing or talking for other
    calls, which count against ``presence.max_external_legs``."""
    legs: list[Leg] = []
    refused: list[tuple[Device, str]] = []
    external = 0
    timeout = 0
    for device in sorted(devices, key=lambda d: (d.ring_delay_s, d.kind != "desk")):
        leg_vars: dict[str, object] = {"leg_timeout": device.ring_timeout_s}
        if device.ring_delay_s:
            leg_vars["leg_delay_start"] = device.ring_delay_s
        try:
            dest = destination.parse(device.destination)
        except destination.BadDestination as exc:  # put into the database by hand
            refused.append((device, str(exc)))
            continue
        target = dest.dial_target(cfg.gateway)
        if dest.external:  # a number, or an explicit gateway: guard, cap and confirm key
            try:
                guard.check(dest.number or "")
            except NumberRefused as exc:
                refused.append((device, str(exc)))
                continue
            if external + external_in_use >= cfg.max_external_legs:
                refused.append((device, f"more than {cfg.max_external_legs} external legs"))
                continue
            external += 1
            leg_vars |= confirm_vars(cfg)
        if shown is not None:
            leg_vars |= shown.external if dest.external else shown.internal
        legs.append(Leg(target, leg_vars))
        timeout = max(timeout, device.ring_delay_s + device.ring_timeout_s)
    if not legs:
        return Plan(None, 0, tuple(refused), 0)
    # the whole attempt: the slowest leg, plus time for an external leg to press its key
    total = timeout + (cfg.confirm_timeout_seconds if external else 0)
    dial = DialString.simultaneous(legs, ignore_early_media=True, originate_timeout=total,
                                   **variables)
    return Plan(dial, total, tuple(refused), external)


def confirm_vars(cfg: PresenceConfig) -> dict[str, object]:
    """Per leg, FreeSWITCH 1.10 honours the key and the file (check_channel_status reads them
    from the peer channel) but not group_confirm_read_timeout, which only a global key sets:
    the prompt repeats every 5 s until the key, the leg's timeout, or another leg winning."""
    return {"group_confirm_key": cfg.confirm_key, "group_confirm_file": cfg.confirm_prompt}


def forward_leg(number: str, cfg: PresenceConfig, guard: NumberGuard, timeout_s: int,
                shown: Shown | None = None, external_in_use: int = 0) -> Leg:
    """A forward: an extension rings its desk; anything external passes the guard, counts
    against the external-leg cap and must press the confirm key, like any external leg
    (:class:`NumberRefused` otherwise, or for a destination that is none)."""
    try:
        dest = destination.parse(number)
    except destination.BadDestination as exc:
        raise NumberRefused(str(exc)) from None
    leg_vars: dict[str, object] = {"leg_timeout": timeout_s}
    if dest.external:
        guard.check(dest.number or "")
        if external_in_use >= cfg.max_external_legs:
            raise NumberRefused(f"more than {cfg.max_external_legs} external legs")
        leg_vars |= confirm_vars(cfg)
    if shown is not None:
        leg_vars |= shown.external if dest.external else shown.internal
    return Leg(dest.dial_target(cfg.gateway), leg_vars)


"""Dial strings for ``bridge`` / ``originate``, built from parts that each pass the quoting gate.

    {ignore_early_media=true}[leg_timeout=20]user/1001,[leg_delay_start=5,group_confirm_key=1]sofia/gateway/gw1/+7916...

``,`` rings legs together, ``|`` tries groups in sequence, ``:_:`` starts enterprise
(independent) groups. Handlers and services describe legs; only this module writes the syntax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ivr_app.esl.quoting import Target, UnsafeValue, quote


def _vars(values: Mapping[str, object], what: str) -> str:
    """``a=1,b=2``; when a value holds a comma, ``^^;a=1;b=x,y`` (FreeSWITCH's way to change
    the separator inside {} and [], switch_event_create_brackets)."""
    parts = []
    for name, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{quote(name, Target.VAR_NAME, what)}="
                     f"{quote(str(value), Target.DIAL_VAR, f'{what} {name}')}")
    if not any("," in p for p in parts):
        return ",".join(parts)
    if any(";" in p for p in parts):
        raise UnsafeValue(f"{what}: values hold both ',' and ';': no separator is left")
    return "^^;" + ";".join(parts)


@dataclass(frozen=True)
class Leg:
    target: str  # user/1001, sofia/gateway/gw1/+7916..., loopback/1001/default
    variables: Mapping[str, object] = field(default_factory=dict)

    def render(self) -> str:
        target = quote(self.target, Target.DIAL_TARGET, "dial target")
        vs = _vars(self.variables, "leg variable")
        return f"[{vs}]{target}" if vs else target


@dataclass(frozen=True)
class DialString:
    """Groups tried in sequence (``|``); the legs of a group ring together (``,``)."""

    groups: Sequence[Sequence[Leg]]
    variables: Mapping[str, object] = field(default_factory=dict)  # {..} for every leg
    enterprise: bool = False  # join groups with :_: (all at once, independently)

    @classmethod
    def simultaneous(cls, legs: Sequence[Leg], **variables: object) -> DialString:
        return cls([list(legs)], variables)

    @classmethod
    def sequential(cls, legs: Sequence[Leg], **variables: object) -> DialString:
        return cls([[leg] for leg in legs], variables)

    def render(self) -> str:
        if not self.groups or not all(self.groups):
            raise ValueError("a dial string needs at least one leg in every group")
        joiner = ":_:" if self.enterprise else "|"
        body = joiner.join(",".join(leg.render() for leg in g) for g in self.groups)
        vs = _vars(self.variables, "dial variable")
        return f"{{{vs}}}{body}" if vs else body

    def __str__(self) -> str:
        return self.render()

"""``bind_meta_app`` as FreeSWITCH 1.10 runs it (src/switch_ivr_async.c, meta_on_dtmf), and what
a bridge does with the keys pressed on one leg (src/switch_ivr_bridge.c).

``bind_meta_app KEY LISTEN RESPOND APP[::ARGS]`` on a channel: LISTEN ``a`` watches the keys
its own phone sends (the recv hook: a consumed key is never queued, so no DTMF event), ``b``
the keys its bridge peer sends *to* it (the send hook: the peer's bridge thread has dequeued
the key already, so the peer's DTMF event fires, but the key never reaches this channel's
phone). The meta key (``*``, or ``bind_meta_key``) is consumed and arms the binding; the next
key is consumed too, mapped or not, and runs the mapped application (RESPOND ``s``: on the
leg that pressed, ``o``: the other one; ``i``: inline); ``**`` lets one ``*`` through; a key
more than 5 s after the meta key is passed on as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr_app.testing.fakeswitch.channel import Channel

META_TIMEOUT_S = 5.0


@dataclass
class Direction:
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (respond, app)
    armed: bool = False
    last: float = 0.0


@dataclass
class Meta:
    meta_key: str = "*"
    recv: Direction = field(default_factory=Direction)  # LISTEN a
    send: Direction = field(default_factory=Direction)  # LISTEN b


def bind(ch: Channel, data: str) -> None:
    """The ``bind_meta_app`` application (mod_dptools dtmf_bind_function)."""
    words = data.split(" ", 3)
    if len(words) != 4:
        ch.switch.log.warning("fakeswitch: bind_meta_app usage", data=data)
        return
    key, listen, respond, app = words
    meta = ch.meta or Meta(meta_key=(ch.vars.get("bind_meta_key") or "*")[:1])
    ch.meta = meta
    if "a" in listen:
        meta.recv.keys[key] = (respond, app)
    if "b" in listen:
        meta.send.keys[key] = (respond, app)


def passes(ch: Channel, digit: str, direction: str, sender: Channel | None = None) -> bool:
    """False when a binding of ``ch`` consumes ``digit`` (``direction``: "recv" for a key of
    its own phone, "send" for one its peer ``sender`` sends it)."""
    meta = ch.meta
    if meta is None:
        return True
    d = meta.recv if direction == "recv" else meta.send
    if not d.keys:
        return True
    now = time.monotonic()
    tf = ch.switch.time_factor
    if d.armed and now - d.last > META_TIMEOUT_S * tf:
        d.armed = False
        return True
    d.last = now
    if digit == meta.meta_key:
        if d.armed:
            d.armed = False
            return True
        d.armed = True
        return False
    if not d.armed:
        return True
    d.armed = False
    bound = d.keys.get(digit)
    if bound is not None:
        respond, app = bound
        pressed_on = ch if direction == "recv" else (sender or ch)
        other = ch.other if pressed_on is ch else ch
        target = other if "o" in respond else pressed_on
        name, _, args = app.partition("::")
        ch.switch.meta_apps.append((target.uuid, name, args))
        if name == "set" and target is not None:
            var, _, value = args.partition("=")
            target.vars[var] = value
    return False

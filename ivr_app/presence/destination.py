"""Where a device, a forward or a callback rings, parsed once into what it is.

A destination is one of three things, and nothing else:

* an **internal user**: ``user/1001``, ``user/1001@domain`` or ``1001`` (2-8 digits): a phone
  of FreeSWITCH's directory;
* an **external number**: E.164 (``+447700900123``): dialled through ``presence.gateway``;
* an **explicit gateway**: ``sofia/gateway/<name>/<E.164 number>``: dialled through that
  gateway, and external like any number.

Whatever the spelling, every external destination is an E.164 number that the toll-fraud
guard checks, that counts against the external-leg cap, and whose leg must press the confirm
key. Before, only destinations starting with ``+`` counted as external: a device
``sofia/gateway/pstn/900...`` skipped the guard, the cap and the key. Anything else
(``loopback/``, ``sofia/internal/...``, ``error/``, a second leg) is refused when the data is
loaded, with the file and line, never at the moment a customer calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXTENSION = re.compile(r"^[0-9]{2,8}$")
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_USER = re.compile(r"^user/([0-9]{2,8})(?:@([A-Za-z0-9.-]{1,253}))?$")
_GATEWAY = re.compile(r"^sofia/gateway/([A-Za-z0-9_.-]{1,64})/(\+[1-9][0-9]{1,14})$")

EXPECTED = ("an extension (1001 or user/1001), an E.164 number (+447700900123) or "
            "sofia/gateway/<gateway>/<E.164 number>")


class BadDestination(ValueError):
    """``str()`` says what the destination must be."""


@dataclass(frozen=True)
class Destination:
    text: str  # as written
    user: str | None = None  # the extension, for an internal user
    domain: str | None = None  # user/1001@domain
    number: str | None = None  # the E.164 number, for anything external
    gateway: str | None = None  # an explicit gateway; None: presence.gateway

    @property
    def external(self) -> bool:
        return self.number is not None

    def dial_target(self, default_gateway: str) -> str:
        """The leg's dial target: ``user/1001[@domain]`` or ``<gateway>/<number>``, where
        ``default_gateway`` is presence.gateway (``sofia/gateway/pstn``)."""
        if self.user is not None:
            return f"user/{self.user}" + (f"@{self.domain}" if self.domain else "")
        gateway = f"sofia/gateway/{self.gateway}" if self.gateway else default_gateway
        return f"{gateway}/{self.number}"


def parse(text: str) -> Destination:
    """The destination ``text`` names, or :class:`BadDestination`."""
    if EXTENSION.match(text):
        return Destination(text, user=text)
    if m := _USER.match(text):
        return Destination(text, user=m.group(1), domain=m.group(2))
    if E164.match(text):
        return Destination(text, number=text)
    if m := _GATEWAY.match(text):
        return Destination(text, number=m.group(2), gateway=m.group(1))
    raise BadDestination(f"must be {EXPECTED}, not {text!r}")


def problem(text: str) -> str | None:
    """What is wrong with ``text`` as a destination, or None."""
    try:
        parse(text)
    except BadDestination as exc:
        return str(exc)
    return None

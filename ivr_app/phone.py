"""Phone numbers as the database keeps them: E.164 (``+74951234567``)."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d+")


def to_e164(number: str, default_country: str = "") -> str | None:
    """The E.164 form of a caller-ID number, or None when it cannot be one.

    ``+74951234567``, ``74951234567`` and ``0074951234567`` all give ``+74951234567``;
    with ``default_country="7"`` a national ``84951234567`` does too. Extensions and
    anonymous callers give None."""
    raw = number.strip()
    digits = "".join(_DIGITS.findall(raw))
    if not digits:
        return None
    if raw.startswith("+"):
        e164 = "+" + digits
    elif digits.startswith("00"):
        e164 = "+" + digits[2:]
    elif default_country == "7" and len(digits) == 11 and digits.startswith("8"):
        e164 = "+7" + digits[1:]
    elif len(digits) >= 11:
        e164 = "+" + digits
    elif default_country and len(digits) == 10:
        e164 = "+" + default_country + digits
    else:
        return None
    return e164 if re.fullmatch(r"\+[1-9]\d{7,14}", e164) else None

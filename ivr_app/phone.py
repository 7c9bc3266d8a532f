"""Phone numbers as the database keeps them: E.164 (``+74951234567``).

phonenumbers (Google's libphonenumber data) knows every country's numbering plan, trunk
prefixes and lengths; a regex would not (``8 495 ...`` is a Russian national number,
``0044...`` an international prefix, ``1001`` an extension).
"""

from __future__ import annotations

import phonenumbers


def to_e164(number: str, default_region: str = "") -> str | None:
    """The E.164 form of a caller-ID number, or None when it is not a valid phone number
    (an extension, ``anonymous``, garbage)."""
    raw = number.strip()
    if not raw or len(raw) > 32:
        return None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    elif not raw.startswith("+") and not default_region and raw.isdigit() and len(raw) >= 11:
        raw = "+" + raw  # a full international number sent without the plus
    try:
        parsed = phonenumbers.parse(raw, default_region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

"""The caller's name and number exactly as the caller sent them.

For a SIP call the name as sent is ``sip_from_display``: sofia url-decodes the From's display
name into the caller profile (``Bob%0AEvil`` becomes a name holding a newline; seen on
1.10.12), unless Remote-Party-ID / P-Asserted-Identity gave the name (``sip_cid_type``): then
the profile's name is the one as sent. And the outbound connect reply is a plain (url-encoded)
event in which FreeSWITCH leaves a ``%`` followed by two hex digits as it is
(switch_url_encode without double_encode), so such a value cannot be told from an encoded one:
it is read again with ``uuid_getvar``, whose reply is not encoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ivr_app.esl.wire import header_value

# FreeSWITCH leaves a valid %XX as it is, so such a sequence may be the caller's own text.
# Not %20 (blank) and %2B (+): nearly every name and number holds one, and a caller typing
# those three characters gets the blank or + they stand for (a harmless difference).
_MAYBE_ENCODED = re.compile(rb"%(?!20|2B)[0-9A-F]{2}")


def exact_caller_id(data: dict[str, str], head: bytes,
                    getvar: Callable[[str], str | None]) -> dict[str, str]:
    """The Caller-Caller-ID-Name / -Number values to use, from the decoded connect data, its
    raw ``head`` and ``getvar`` (uuid_getvar; None when it could not answer)."""
    sip = "variable_sip_from_display" in data and "variable_sip_cid_type" not in data
    # (the header the Call reads, the variable holding the value as sent, its header)
    sources = [("Caller-Caller-ID-Name", "sip_from_display", "variable_sip_from_display")
               if sip else ("Caller-Caller-ID-Name", "caller_id_name", "Caller-Caller-ID-Name"),
               ("Caller-Caller-ID-Number", "caller_id_number", "Caller-Caller-ID-Number")]
    out = {}
    for header, variable, raw_header in sources:
        out[header] = data.get(raw_header, "")
        raw = header_value(head, raw_header.encode())
        if raw is None or not _MAYBE_ENCODED.search(raw):
            continue
        exact = getvar(variable)
        if exact is not None:
            out[header] = exact
    return out

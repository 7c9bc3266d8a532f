"""Event Socket passwords that must never guard a production FreeSWITCH.

One check for everything that handles the password: ``ivr-app serve`` refuses to start with
one (unless ``--insecure-dev``), ``ivr-app freeswitch install`` refuses to write one.
"""

from __future__ import annotations

STOCK_DEFAULT = "ClueCon"  # FreeSWITCH's published default, refused below


def weakness(password: str) -> str | None:
    """Why ``password`` must not be used, or None."""
    if not password:
        return "empty (FreeSWITCH would accept no password at all, or refuse every login)"
    if password == STOCK_DEFAULT:
        return ("ClueCon is FreeSWITCH's published default (CVE-2019-19492): anyone who "
                "reaches the port controls every call")
    return None

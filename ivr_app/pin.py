"""Employee PINs, stored only as salted scrypt hashes (standard library, memory-hard).

A PIN has few digits, so the hash alone cannot protect it against an offline attack; the
lockout after repeated failures (presence menu) is the real defence, and the hash keeps a
database dump from handing out PINs in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PIN_FORMAT = re.compile(r"^[0-9]{4,12}$")
_N, _R, _P = 2**14, 8, 1


def valid_pin(pin: str) -> bool:
    return bool(PIN_FORMAT.fullmatch(pin))


def hash_pin(pin: str) -> str:
    if not valid_pin(pin):
        raise ValueError("a PIN is 4-12 digits")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str | None) -> bool:
    if not stored or not valid_pin(pin):
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)

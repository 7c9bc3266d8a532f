"""JSON POSTs to a configured URL, retried with exponential backoff, off the call's path.

Shared by the screen pop and the voicemail notifications: the caller never waits for it, and
a receiver that is down gets the same message again (receivers must be idempotent; every
message carries its own id)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import gevent


def post_json(url: str, data: bytes, *, timeout: float, retries: int, log: Any, what: str,
              **context: Any) -> bool:
    """True once the receiver answered 2xx; False after ``retries`` more attempts."""
    delay = 0.5
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=data, method="POST",  # noqa: S310 - the configured http(s) URL
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                if 200 <= resp.status < 300:
                    return True
                error = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            error = str(exc)
        log.warning(f"{what} webhook failed", attempt=attempt + 1, error=error, **context)
        if attempt < retries:
            gevent.sleep(delay)
            delay = min(delay * 2, 30.0)
    log.error(f"{what} webhook gave up", retries=retries, **context)
    return False

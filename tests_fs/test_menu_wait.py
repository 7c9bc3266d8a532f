"""The caller's wait after a menu key on the real FreeSWITCH (issue 20): 200 calls at 10/s
press 9 (repeat: no extension and no longer option starts with it) after the main menu's
prompt; each step's ``wait_ms`` (FreeSWITCH's own clock: the key's DTMF event to the next
PLAYBACK_START) must be p95 <= 150 ms. Twenty calls press 1 (sales, and the first digit of
the employees' extensions, 1000-1006): that prefix waits the menu's inter_digit_ms."""

from __future__ import annotations

import statistics

from tests_fs.conftest import MEASURED
from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID

CALLS, RATE, AMBIGUOUS = 200, 10, 20


def steps(lab, since: int, digits: str) -> list[dict]:
    return [x for x in lab.log_lines()[since:]
            if x.get("event") == "menu step" and x.get("digits") == digits]


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def test_an_unambiguous_key_answers_at_once_an_ambiguous_prefix_waits(lab, sip):
    since = len(lab.log_lines())
    key_at = lab.prompt_seconds("welcome") + lab.prompt_seconds("main_menu") + 1.0
    nines = sip.call(DID, number="+15550009999", keys=[(key_at, "info", "9")],
                     hangup_after=2.0, count=CALLS, rate=RATE, max_seconds=60)
    assert nines.wait(CALLS / RATE + key_at + 60) == 0, "a call of the 200 failed (SIPp)"
    waits = [x["wait_ms"] for x in wait_for(
        lambda: (lambda s: s if len(s) >= CALLS else None)(steps(lab, since, "9")), 30,
        f"{CALLS} menu steps for key 9")]
    assert len(waits) == CALLS
    assert {x["result"] for x in steps(lab, since, "9")} == {"repeat"}
    p50, p95 = quantile(waits, 0.50), quantile(waits, 0.95)
    MEASURED.append(f"menu key 9 (acts at once), {CALLS} calls at {RATE}/s: wait p50 "
                    f"{p50:.1f} ms, p95 {p95:.1f} ms, max {max(waits):.1f} ms")
    assert p95 <= 150

    ones = sip.call(DID, number="+15550001110", keys=[(key_at, "info", "1")],
                    hangup_after=4.0, count=AMBIGUOUS, rate=RATE, max_seconds=60)
    assert ones.wait(AMBIGUOUS / RATE + key_at + 60) == 0
    prefixed = wait_for(
        lambda: (lambda s: s if len(s) >= AMBIGUOUS else None)(steps(lab, since, "1")), 30,
        f"{AMBIGUOUS} menu steps for key 1")
    assert {x["result"] for x in prefixed} == {"menu"}  # sales, after the inter-digit wait
    waited = [x["wait_ms"] for x in prefixed]
    MEASURED.append(f"menu key 1 (a prefix of extensions 1000-1006), {AMBIGUOUS} calls: wait p50 "
                    f"{quantile(waited, 0.50):.1f} ms (inter_digit_ms 2000)")
    assert min(waited) >= 2000

"""A slow query in one greenlet must not stall the gevent hub (older psycopg builds did).

The process is monkey-patched by ivr_app.testing.gevent_patch, exactly as the entry point does.
"""

from __future__ import annotations

import itertools
import time

import gevent
from gevent import monkey
from psycopg_pool import ConnectionPool


def test_process_is_monkey_patched():
    assert monkey.is_module_patched("socket")
    assert monkey.is_module_patched("select")


def test_slow_query_does_not_block_a_10ms_timer(database_url):
    ticks: list[float] = []
    stop = False

    def timer() -> None:
        while not stop:
            gevent.sleep(0.01)
            ticks.append(time.monotonic())

    with ConnectionPool(database_url, min_size=1, max_size=2, open=True) as pool:
        pool.wait(timeout=10)
        ticker = gevent.spawn(timer)
        gevent.sleep(0.05)  # let the ticker run before the query starts
        started = time.monotonic()
        with pool.connection() as conn:
            conn.execute("SELECT pg_sleep(0.5)")
        ended = time.monotonic()
        stop = True
        ticker.join(timeout=2)

    during = [t for t in ticks if started <= t <= ended]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert ended - started >= 0.5
    # A blocked hub gives 0-1 ticks during the query and one gap of ~0.5 s.
    assert len(during) >= 20, f"only {len(during)} timer ticks during a 0.5 s query"
    assert max(gaps) < 0.25, f"timer stalled for {max(gaps):.3f} s"

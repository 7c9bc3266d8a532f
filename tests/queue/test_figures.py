"""The report's figures against an example worked out by hand."""

from __future__ import annotations

import datetime as dt

from ivr_app.queue.figures import Entry, figures

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_figures_match_the_hand_computed_example():
    entries = [
        Entry(T0, "answered", 5, "1001", 120),     # within 20 s
        Entry(T0, "answered", 15, "1002", 60),     # within
        Entry(T0, "answered", 40, "1001", 180),    # late
        Entry(T0, "abandoned", 8),                 # short abandon: not counted in SL
        Entry(T0, "abandoned", 50),                # counted, and a miss
        Entry(T0, "overflow", 300),                # max wait: counted, a miss
        Entry(T0, "waiting", 12),                  # still waiting: not offered yet
    ]
    f = figures(entries, threshold_s=20)
    # offered 6; SL = 2 answered within 20 s / (6 - 1 short abandon) = 2/5
    assert (f.offered, f.answered, f.abandoned, f.overflowed) == (6, 3, 2, 1)
    assert f.service_level == 0.4
    assert f.asa_s == 20.0  # (5 + 15 + 40) / 3
    assert f.longest_wait_s == 300
    assert f.per_agent == {"1001": (2, 300.0), "1002": (1, 60.0)}


def test_nothing_offered_has_no_service_level():
    f = figures([Entry(T0, "waiting", 3)], threshold_s=20)
    assert f.offered == 0
    assert f.service_level is None
    assert f.asa_s is None

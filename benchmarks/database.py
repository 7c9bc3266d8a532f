"""The PostgreSQL a benchmark runs against: DATABASE_URL when it answers, otherwise a throwaway
cluster (fsync off) started for the run and removed after it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ivr_app.testing import pgcluster


@contextlib.contextmanager
def bench_database(name: str) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if pgcluster.answers(url):
        assert url is not None
        yield url
        return
    cluster = pgcluster.ThrowawayCluster().start()
    try:
        yield pgcluster.create_database(cluster.url(), name)
    finally:
        cluster.stop()

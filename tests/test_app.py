"""The composition root's shutdown: live calls finish within the grace period, or are cut."""

from __future__ import annotations

import io
import json
import time

import gevent
import pytest

from ivr_app import config, logs
from ivr_app.app import App


@pytest.fixture
def app(database_url, prompt_cache):
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    cfg = config.load(None, {"DATABASE_URL": database_url,
                             "IVR_APP_IVR_PROMPT_CACHE_DIR": str(prompt_cache),
                             "IVR_APP_SERVICE_SHUTDOWN_GRACE_SECONDS": "0.5"})
    a = App(cfg, None, {}, logs.get_logger("app"))
    a.start(telephony=False)
    a.output = out  # type: ignore[attr-defined]
    return a


def events(app) -> list[dict]:
    return [json.loads(x) for x in app.output.getvalue().splitlines()]


def test_live_call_finishes_inside_the_grace_period(app):
    finished = []

    def call():
        gevent.sleep(0.1)
        finished.append(True)

    app.calls.spawn(call)
    app.shutdown()
    assert finished == [True]
    assert not [e for e in events(app) if e["event"] == "grace period over, cutting calls"]


def test_call_longer_than_the_grace_period_is_cut(app):
    cut = []

    def call():
        try:
            gevent.sleep(30)
        except gevent.GreenletExit:
            cut.append(True)
            raise

    app.calls.spawn(call)
    started = time.monotonic()
    app.shutdown()
    assert cut == [True]
    assert time.monotonic() - started < 5
    (warning,) = [e for e in events(app) if e["event"] == "grace period over, cutting calls"]
    assert warning["cut"] == 1

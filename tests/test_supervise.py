"""No greenlet dies silently (issue 13): service loops restart, tasks and stray greenlets are
logged with their tracebacks."""

from __future__ import annotations

import gevent
import structlog
import structlog.testing

from ivr_app import supervise
from ivr_app.testing.waiting import wait_until


def test_a_service_loop_that_raises_is_logged_and_started_again():
    runs = []

    def loop():
        runs.append(1)
        if len(runs) < 3:
            raise ValueError(f"bug #{len(runs)}")
        # the third run returns: the service is over

    with structlog.testing.capture_logs() as logged:
        g = supervise.forever(loop, log=structlog.get_logger(), what="wallboard",
                              restart_first=0.01)
        g.join(timeout=5)
    assert g.dead
    assert len(runs) == 3
    failed = [x for x in logged if x["event"] == "service loop failed: restarting"]
    assert [x["service"] for x in failed] == ["wallboard", "wallboard"]
    assert all(x["exc_info"] is True for x in failed)
    assert failed[1]["restart_in"] == 0.02  # doubling


def test_killing_a_service_loop_stops_it_for_good():
    g = supervise.forever(lambda: gevent.sleep(10), log=structlog.get_logger(), what="x")
    gevent.sleep(0.01)
    g.kill(timeout=1)
    assert g.dead
    gevent.sleep(0.05)
    assert g.dead


def test_a_failing_task_is_logged_with_its_name():
    with structlog.testing.capture_logs() as logged:
        g = supervise.spawn(lambda n: 1 / n, 0, log=structlog.get_logger(), what="lamp")
        g.join(timeout=2)
    assert g.value is None
    assert [(x["event"], x["task"]) for x in logged] == [("task failed", "lamp")]


def test_a_stray_greenlets_exception_reaches_the_structured_log():
    hub = gevent.get_hub()
    before = hub.print_exception
    try:
        with structlog.testing.capture_logs() as logged:
            supervise.log_hub_errors(structlog.get_logger())
            g = gevent.spawn(lambda: {}["missing"])
            g.join(timeout=2)
            wait_until(lambda: logged, timeout=2, what="the log line")
        assert logged[0]["event"] == "greenlet failed"
        assert logged[0]["exc_info"][0] is KeyError
    finally:
        hub.print_exception = before

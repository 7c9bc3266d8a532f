"""No greenlet dies silently.

* :func:`forever`: the service loops that live as long as the process (the control
  connection's supervisor and dispatcher, the presence listener, the recording writer, the
  outbox prober, the callback dialler, the queue wallboard, the digit map): if one raises, the
  exception is logged with its traceback and the loop starts again (1 s, doubling to 30 s),
  so one bug costs a moment of that service, never the service until the next restart.
* :func:`spawn`: a short task off a call's path (a lamp, a webhook, a reconcile): its failure
  is logged with its traceback and the name of the task.
* :func:`log_hub_errors`: anything else a greenlet lets escape reaches the structured log
  (gevent's hub would print it to stderr, outside the JSON log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent

RESTART_FIRST, RESTART_MAX = 1.0, 30.0


def forever(loop: Callable[[], Any], *, log: Any, what: str,
            restart_first: float = RESTART_FIRST) -> gevent.Greenlet:
    """Run ``loop()`` in a greenlet, again whenever it raises; it ends when ``loop`` returns
    or the greenlet is killed (GreenletExit is a stop, not a failure)."""

    def run() -> None:
        delay = restart_first
        while True:
            try:
                loop()
                return
            except Exception:
                log.exception("service loop failed: restarting", service=what,
                              restart_in=round(delay, 2))
            gevent.sleep(delay)
            delay = min(RESTART_MAX, delay * 2)

    return gevent.spawn(run)


def spawn(fn: Callable[..., Any], *args: Any, log: Any, what: str,
          **kwargs: Any) -> gevent.Greenlet:
    """``gevent.spawn(fn, *args, **kwargs)`` for a task whose result nobody reads: an
    exception is logged as ``what`` failing, with its traceback (and the greenlet's value is
    None)."""

    def run() -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("task failed", task=what)
            return None

    return gevent.spawn(run)


def log_hub_errors(log: Any) -> None:
    """Route what gevent's hub would print to stderr (an exception no one caught in a
    greenlet, a failing callback) into the structured log, with its traceback."""
    hub = gevent.get_hub()

    def print_exception(context: Any, kind: Any, value: Any, tb: Any) -> None:
        log.error("greenlet failed", context=repr(context)[:200], exc_info=(kind, value, tb))

    hub.print_exception = print_exception

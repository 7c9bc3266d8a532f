"""An application started on a call without waiting (hold music), and how to stop it.

FreeSWITCH clears the break flag as each application starts (switch_core_session_exec), so a
``uuid_break`` sent before the application's CHANNEL_EXECUTE is lost and the music plays on
(captured: outbound-break-before-start). :func:`stop_running` waits for the start first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gevent
import gevent.event

from ivr_app.esl.errors import CallEnded, CommandFailed
from ivr_app.esl.events import Event

if TYPE_CHECKING:
    from ivr_app.esl.call import Call


class Running:
    """An application started with :meth:`Call.start`: ``started`` is set by its
    CHANNEL_EXECUTE, ``done`` by its CHANNEL_EXECUTE_COMPLETE (or fails with CallEnded)."""

    def __init__(self, app: str, app_uuid: str) -> None:
        self.app, self.app_uuid = app, app_uuid
        self.started = gevent.event.Event()
        self.done: gevent.event.AsyncResult = gevent.event.AsyncResult()

    def ready(self) -> bool:
        return self.done.ready()

    def get(self, timeout: float) -> Event:
        """Its CHANNEL_EXECUTE_COMPLETE; CallEnded, or gevent.Timeout after ``timeout``."""
        return self.done.get(timeout=timeout)


def stop_running(call: Call, running: Running, *, start_wait: float = 2.0,
                 end_wait: float = 2.0, tries: int = 3) -> bool:
    """End an application started with Call.start (hold music); True once it is over.

    Waits for its CHANNEL_EXECUTE first, since a uuid_break sent before it lands is
    lost (outbound-break-before-start: the music would play on, the caller stranded),
    then breaks and waits for its completion, breaking again if it did not come. Every
    wait has a deadline; it never raises Timeout, and CallEnded only if the call ended."""
    if running.ready():
        return True
    if not running.started.wait(start_wait):
        call.log.warning("application not started yet, breaking anyway", app=running.app)
    for attempt in range(1, tries + 1):
        if call.ended:
            return running.ready()
        try:
            call.break_()
        except CommandFailed as exc:  # the channel is already gone
            call.log.info("break refused", app=running.app, error=str(exc))
            return running.ready()
        try:
            running.get(timeout=end_wait)
            return True
        except gevent.Timeout:
            call.log.warning("application did not end on break", app=running.app,
                             attempt=attempt)
        except CallEnded:
            return True
    return False


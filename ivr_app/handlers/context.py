"""What every call handler gets besides its Call: configuration and the services it may use.

Built once by the composition root (ivr_app/app.py) and passed in; no module-level state.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from ivr_app.config import Config
from ivr_app.db.pool import run_or
from ivr_app.digitmap import DigitMap
from ivr_app.esl.dialstring import DialString
from ivr_app.menus import MenuSet
from ivr_app.outbox.ops import Op
from ivr_app.outbox.outbox import WRITTEN, Outbox, Submitted
from ivr_app.prompts import PromptStore
from ivr_app.queue.say import SayLanguages
from ivr_app.recording.service import RecordingService
from ivr_app.screenpop import ScreenPop

T = TypeVar("T")


# what a caller hears where an optional prompt is missing (see HandlerContext.prompt_or)
CONFIRM_TONE = "tone_stream://%(200,100,880);loops=2"  # two short beeps: done
ERROR_TONE = "tone_stream://%(500,500,480,620);loops=2"  # the reorder tone: not done


class OtherLegs(Protocol):
    """What a flow may do to legs other than its call's (ivr_app/esl/control.py; every
    value goes through the quoting gate there)."""

    def originate_intercept(self, dial: DialString, call_uuid: str, timeout: float) -> str: ...
    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool: ...
    def exists(self, uuid: str) -> bool: ...


@dataclass(frozen=True)
class HandlerContext:
    config: Config
    pool: ConnectionPool | None
    log: Any
    menus: MenuSet | None = None
    prompts: PromptStore | None = None
    screen_pop: ScreenPop | None = None
    recording: RecordingService | None = None
    db_wait_seconds: float = 1.0
    # every write of the call's path goes through it (ivr_app/outbox); None: straight to the
    # pool (tests of a single flow)
    outbox: Outbox | None = None
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    on_call: Callable[[str], bool] = lambda _extension: False  # from channel events
    busy_extensions: Callable[[], list[str]] = lambda: []  # all extensions on a call now
    # external legs per employee in use by this node's calls (the toll-fraud cap)
    external_legs: collections.Counter[str] = field(default_factory=collections.Counter)
    say: SayLanguages | None = None  # the languages FreeSWITCH can say (queue/say.py)
    # which menu keys may begin an extension (digitmap.DialableExtensions; the default,
    # an unread directory, lets every digit wait for more)
    digit_map: Callable[[], DigitMap] = DigitMap
    # the caller's wait after a menu key: (menu, waited, seconds) -> a metric
    observe_key_wait: Callable[[str, bool, float], None] = lambda _m, _w, _s: None
    # FreeSWITCH's control connection, for the channels a call's flow starts beside its own
    # (a queue's added agent, ivr_app/handlers/queue_added.py); None: no such channels
    control: OtherLegs | None = None

    def prompt(self, name: str, language: str) -> str:
        """The file or tone to play for the named prompt, in the caller's language."""
        assert self.menus is not None
        assert self.prompts is not None
        return self.prompts.path(self.menus.prompts[name], language)

    def prompt_or(self, name: str, language: str, fallback: str) -> str:
        """The named prompt if the menus file has it, else ``fallback`` (a tone): optional
        prompts such as presence confirmations never stop a call."""
        if self.menus is None or name not in self.menus.prompts:
            return fallback
        return self.prompt(name, language)

    def db(self, what: str, fn: Callable[[psycopg.Connection], T], default: T,
           log: Any = None, wait: float | None = None) -> T:
        """Run ``fn`` on a pooled connection. A database outage or a slow query (the pool's
        statement_timeout) gives ``default``: a call never fails because PostgreSQL did.
        ``wait``: how long to wait for a free connection (default db_wait_seconds). While
        the database is known to be down (the outbox's breaker), ``default`` at once."""
        message = "database unavailable for the call, going on without it"
        if self.outbox is not None:
            return self.outbox.read(what, fn, default, log or self.log,
                                    wait or self.db_wait_seconds, message)
        return run_or(self.pool, what, fn, default, log or self.log,
                      wait or self.db_wait_seconds, message)

    def write(self, op: Op, log: Any = None) -> Submitted:
        """A write of the call's path: to PostgreSQL now, or to the outbox's journal (replayed
        in order, exactly once, when PostgreSQL is back). Never raises for the database."""
        if self.outbox is not None:
            return self.outbox.submit(op, log or self.log)
        failed = object()
        result = run_or(self.pool, op.name, op.apply, failed, log or self.log,
                        self.db_wait_seconds, "database unavailable, the write is lost")
        return Submitted("lost") if result is failed else Submitted(WRITTEN, result)

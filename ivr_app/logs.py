"""structlog setup: human console output on a terminal, JSON lines otherwise.

Loggers are passed down explicitly; a call's logger is bound once with the call's UUID
(:func:`call_logger`), so every line logged for a call carries ``call_uuid``.

Libraries log through the standard library (psycopg_pool, greenswitch, Python's warnings):
their records go through the same renderer (a ``structlog.stdlib.ProcessorFormatter`` on the
root logger's handler), so every line of the log has one format, with ``level``, ``logger``,
``timestamp`` and ``event``; ours carry ``logger`` too (``ivr_app.<component>``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class _StdlibHandler(logging.StreamHandler):
    """The root handler :func:`configure` installs (and replaces on the next call)."""


def _logger_name(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    component = event.get("component")
    event.setdefault("logger", f"ivr_app.{component}" if component else "ivr_app")
    return event


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog, and the standard library's root logger beside it, for this
    process (called by the entry point and on reload)."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _logger_name,
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = _StdlibHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ]))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    # warnings.warn(...) as log records too, not bare text (off first: whoever replaced
    # warnings.showwarning since the last call, a test runner, is captured again)
    logging.captureWarnings(False)
    logging.captureWarnings(True)


def get_logger(component: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger().bind(component=component)


def call_logger(base: Any, call_uuid: str, **fields: Any) -> Any:
    """The logger of one call: every line carries the call's UUID (and whatever else is bound)."""
    return base.bind(call_uuid=call_uuid, **fields)

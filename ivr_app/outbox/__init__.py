"""The durable outbox: every write of a call's path, to PostgreSQL at once or, when it does not
answer, to an fsync'd local journal replayed in order and exactly once (see outbox.py).

    ops.py      the writes, named and typed, serialised as data
    journal.py  the fsync'd JSON-lines journal (torn last line, rewrite, rejected file)
    breaker.py  the circuit breaker: no waiting for a database known to be down
    outbox.py   submit (write or journal) and read (default while the breaker is open)
    replay.py   replay in order, exactly once; the prober greenlet
    legacy.py   the recording spool of earlier versions, imported once
"""

from __future__ import annotations

from typing import Any


def start(config: Any, pool: Any, log: Any) -> tuple[Any, Any]:
    """The process's outbox and its running prober, from the ``outbox`` settings."""
    from ivr_app.outbox.breaker import Breaker
    from ivr_app.outbox.journal import Journal
    from ivr_app.outbox.legacy import import_recording_spool
    from ivr_app.outbox.outbox import Outbox
    from ivr_app.outbox.replay import Prober

    cfg = config.outbox
    journal = Journal(config.path(cfg.directory), log.bind(component="outbox")).open()
    import_recording_spool(config.path(cfg.legacy_recording_spool), journal, log)
    outbox = Outbox(pool, journal, Breaker(cfg.breaker_seconds, log.bind(component="outbox")),
                    log)
    return outbox, Prober(outbox, cfg.probe_interval_seconds, cfg.probe_timeout_seconds).start()

"""After a crash: files on disk and rows in PostgreSQL, matched.

* a file with no row (the process died between RECORD_STOP and the attach, and the spool entry
  was lost with the disk's last write, or the metadata never arrived): an orphan; ``fix``
  attaches it from the file itself (the call UUID is its name);
* a ``complete`` row whose file is gone: ``fix`` marks it ``missing``;
* writes still waiting in the outbox's journal (recordings among them): ``fix`` replays them,
  all of them in order (ivr_app/outbox/replay.py), exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ivr_app import logs
from ivr_app.db.recordings import RecordingMeta, attach_many
from ivr_app.outbox.breaker import Breaker
from ivr_app.outbox.journal import Journal
from ivr_app.outbox.outbox import Outbox
from ivr_app.outbox.replay import replay
from ivr_app.recording import files

UUID_NAME = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                       r"(?:-\d+)?\.wav$")


@dataclass
class Report:
    orphans: list[Path] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)
    spooled: int = 0  # writes waiting in the outbox's journal
    unknown: list[Path] = field(default_factory=list)  # a .wav not named by a call UUID
    fixed: int = 0


def reconcile(conn: psycopg.Connection, directory: Path, journal: Journal, fix: bool) -> Report:
    report = Report()
    known = {p for (p,) in conn.execute("SELECT path FROM recordings").fetchall()}
    for path in sorted(directory.rglob("*.wav")) if directory.is_dir() else []:
        if str(path) in known:
            continue
        if not UUID_NAME.match(path.name):
            report.unknown.append(path)
            continue
        report.orphans.append(path)
    for rec_id, path in conn.execute(
            "SELECT id, path FROM recordings WHERE status = 'complete' ORDER BY id").fetchall():
        if not Path(path).is_file():
            report.missing.append((rec_id, path))
    report.spooled = len(journal.entries())
    if not fix:
        return report
    metas = []
    for path in report.orphans:
        info = files.inspect(path)
        m = UUID_NAME.match(path.name)
        assert m is not None
        metas.append(RecordingMeta(call_uuid=m.group(1), path=str(path), status="complete",
                                   sha256=info.sha256 if info else None,
                                   bytes=info.bytes if info else None,
                                   duration_ms=info.duration_ms if info else None,
                                   reason="reconcile"))
    if metas:
        attach_many(conn, metas)
    with conn.transaction():
        for rec_id, _path in report.missing:
            conn.execute("UPDATE recordings SET status = 'missing' WHERE id = %s", (rec_id,))
    replayed = 0
    if report.spooled:
        log = logs.get_logger("outbox")
        done = replay(Outbox(None, journal, Breaker(1.0, log), log), conn, deadline=30.0)
        replayed = done.applied + done.duplicates
    report.fixed = len(metas) + len(report.missing) + replayed
    return report

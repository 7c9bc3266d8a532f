"""The recording spool of the versions before the outbox, imported once.

Those versions kept recording metadata PostgreSQL could not take in
``<recording spool>/pending.jsonl`` (one RecordingMeta per JSON line, default
``var/spool/recordings``). An install upgraded with entries still there would never attach
them: at start they become one ``recordings.attached`` write in the outbox's journal (fsync'd),
then the file is renamed ``pending.jsonl.imported``. A crash between the two imports it again
at the next start: attaching is idempotent by (call UUID, path), so nothing is doubled.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ivr_app.db.recordings import RecordingMeta
from ivr_app.outbox import ops
from ivr_app.outbox.journal import Entry, Journal

SPOOL_FILE = "pending.jsonl"
_FIELDS = {f.name for f in dataclasses.fields(RecordingMeta)}


def import_recording_spool(directory: Path, journal: Journal, log: Any) -> int:
    """How many spooled recordings went into the journal (0: no old spool there)."""
    spool = directory / SPOOL_FILE
    if not spool.is_file():
        return 0
    metas, torn = [], 0
    for line in spool.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            metas.append(RecordingMeta(**{k: v for k, v in data.items() if k in _FIELDS}))
        except (ValueError, TypeError):
            torn += 1  # a line torn by a crash mid-write: reconcile finds its file
    if metas:
        journal.append(Entry.of(ops.RecordingsAttached(metas=[m.as_dict() for m in metas])))
    spool.rename(spool.with_name(SPOOL_FILE + ".imported"))
    log.warning("old recording spool imported into the outbox journal", spool=str(spool),
                recordings=len(metas), unreadable_lines=torn)
    return len(metas)

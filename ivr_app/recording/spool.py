"""A local, fsync'd spool for recording metadata PostgreSQL could not take.

Each entry is one JSON line appended and fsync'd before ``append`` returns, so a crash or a
power cut after that loses nothing. ``replay`` hands the entries to the attach function in
order and rewrites the file (temp + rename + fsync) with whatever is still pending. Attaching
is idempotent by (call UUID, path), so an entry replayed twice is attached once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ivr_app.db.recordings import RecordingMeta

SPOOL_FILE = "pending.jsonl"


class Spool:
    def __init__(self, directory: Path):
        self.directory = directory
        self.file = directory / SPOOL_FILE

    def append(self, metas: Sequence[RecordingMeta]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fresh = not self.file.exists()
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, "".join(json.dumps(m.as_dict()) + "\n" for m in metas).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if fresh:
            _fsync_dir(self.directory)

    def pending(self) -> list[RecordingMeta]:
        if not self.file.exists():
            return []
        out = []
        for line in self.file.read_text().splitlines():
            if line.strip():
                try:
                    out.append(RecordingMeta(**json.loads(line)))
                except (ValueError, TypeError):
                    continue  # a line torn by a crash mid-write: its call is re-found by reconcile
        return out

    def replay(self, attach: Callable[[Sequence[RecordingMeta]], None],
               batch: int = 500) -> int:
        """Attach what is pending; returns how many went in. Raises what attach raises (the
        entries not attached stay in the spool)."""
        entries = self.pending()
        done = 0
        try:
            while done < len(entries):
                attach(entries[done:done + batch])
                done += min(batch, len(entries) - done)
        finally:
            if done:
                self._rewrite(entries[done:])
        return done

    def _rewrite(self, rest: Sequence[RecordingMeta]) -> None:
        if not rest:
            self.file.unlink(missing_ok=True)
            _fsync_dir(self.directory)
            return
        tmp = self.file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(json.dumps(m.as_dict()) + "\n" for m in rest).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self.file)
        _fsync_dir(self.directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

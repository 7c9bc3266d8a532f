"""The outbox's local journal: one JSON line per write PostgreSQL could not take.

    {"id": "<uuid4>", "op": "calls.ended", "args": {...}, "journaled_at": "..."}

``append`` writes the line, flushes and ``os.fsync``s it before it returns, so a crash or a
power cut after that loses nothing. A process killed in the middle of a write leaves a torn
last line (no newline): it was never acknowledged, so reading skips it with a log line and
opening the journal cuts it off, before the next line is appended behind it. ``drop`` removes
the first lines once they are in PostgreSQL (temp file + rename + fsync: a crash leaves either
the old or the new file). Lines that can never be applied go to ``rejected.jsonl`` beside it,
with the error, for a person to look at.

Only greenlets of one process write here between them; none of these file operations yields
to another greenlet. Another process (``ivr-app recordings reconcile --fix``, ``ivr-app outbox
replay``) is kept out by an exclusive lock on ``journal.lock`` around every change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid as uuid_mod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr_app.outbox.ops import Op, now_iso

JOURNAL_FILE = "journal.jsonl"
REJECTED_FILE = "rejected.jsonl"
LOCK_FILE = "journal.lock"


@dataclass(frozen=True)
class Entry:
    id: str
    op: str
    args: dict[str, Any]
    journaled_at: str

    @classmethod
    def of(cls, op: Op, entry_id: str | None = None) -> Entry:
        return cls(entry_id or str(uuid_mod.uuid4()), op.name, op.args(), now_iso())

    def line(self) -> bytes:
        return (json.dumps({"id": self.id, "op": self.op, "args": self.args,
                            "journaled_at": self.journaled_at}, ensure_ascii=False,
                           separators=(",", ":")) + "\n").encode()


class Journal:
    def __init__(self, directory: Path, log: Any):
        self.directory = directory
        self.file = directory / JOURNAL_FILE
        self.rejected_file = directory / REJECTED_FILE
        self.log = log
        self.count = 0  # lines waiting (known without reading the file)
        self.opened = False

    def open(self) -> Journal:
        """Create the directory, cut a torn last line, count what waits."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._cut_torn_tail()
            self.count = len(self._read())
        self.opened = True
        return self

    # -- writing ----------------------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        """Durable when it returns: written, flushed and fsync'd."""
        with self._locked():
            fresh = not self.file.exists()
            with open(self.file, "ab") as f:
                f.write(entry.line())
                f.flush()
                os.fsync(f.fileno())
            if fresh:
                _fsync_dir(self.directory)
        self.count += 1

    def reject(self, entry: Entry, error: str) -> None:
        """An entry that can never be applied, kept for a person (never replayed)."""
        line = json.loads(entry.line())
        line["error"] = error
        line["rejected_at"] = now_iso()
        with open(self.rejected_file, "ab") as f:
            f.write((json.dumps(line, ensure_ascii=False) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def drop(self, ids: set[str], lines: frozenset[bytes] = frozenset()) -> None:
        """Remove the entries ``ids`` (applied or rejected) and the unreadable ``lines``
        (rejected): the rest is rewritten, in order."""
        if not ids and not lines:
            return
        with self._locked():
            rest = [line for line in self._raw_lines()
                    if line not in lines and _id_of(line) not in ids]
            if not rest:
                self.file.unlink(missing_ok=True)
            else:
                tmp = self.file.with_suffix(".tmp")
                with open(tmp, "wb") as f:
                    f.write(b"".join(rest))
                    f.flush()
                    os.fsync(f.fileno())
                tmp.replace(self.file)
            _fsync_dir(self.directory)
            self.count = len(rest)

    # -- reading ----------------------------------------------------------------------------

    def entries(self) -> list[Entry | tuple[bytes, str]]:
        """What waits, in order: an Entry per good line, (line, error) for one that cannot be
        read (kept in order so the caller rejects it). A torn last line is skipped (logged)."""
        with self._locked():
            found = self._read()
        self.count = len(found)
        return found

    def _read(self) -> list[Entry | tuple[bytes, str]]:
        out: list[Entry | tuple[bytes, str]] = []
        for line in self._raw_lines():
            try:
                data = json.loads(line)
                out.append(Entry(str(data["id"]), str(data["op"]), dict(data["args"]),
                                 str(data.get("journaled_at", ""))))
            except (ValueError, KeyError, TypeError) as exc:
                out.append((line, f"unreadable journal line: {exc}"))
        return out

    def _raw_lines(self) -> list[bytes]:
        """The complete lines (each ending in a newline); a torn tail is left out, logged."""
        try:
            data = self.file.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            self.log.warning("torn journal line ignored (a write cut short by a crash)",
                             journal=str(self.file), bytes=len(lines[-1]))
            lines.pop()
        return [line for line in lines if line.strip()]

    def _cut_torn_tail(self) -> None:
        try:
            data = self.file.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            self.log.warning("torn journal line cut off (a write cut short by a crash; it "
                             "was never acknowledged)", journal=str(self.file),
                             bytes=len(data) - keep)
            with open(self.file, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _id_of(line: bytes) -> str | None:
    try:
        return str(json.loads(line)["id"])
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

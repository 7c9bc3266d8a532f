"""Recording files: named by call UUID and date (never by caller ID), checked by sha256."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import wave
from dataclasses import dataclass
from pathlib import Path


def path_for(directory: Path, call_uuid: str, when: dt.datetime, n: int = 1) -> Path:
    """<dir>/YYYY/MM/DD/<call uuid>[-n].wav: a caller ID never becomes a file name."""
    name = f"{call_uuid}.wav" if n == 1 else f"{call_uuid}-{n}.wav"
    return directory / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}" / name


@dataclass(frozen=True)
class FileInfo:
    bytes: int
    sha256: str | None  # None: the file is there but ivr-app may not read it
    duration_ms: int | None

    @property
    def readable(self) -> bool:
        return self.sha256 is not None


def under(path: Path, directory: Path) -> bool:
    """``path`` names a file inside ``directory`` (both made absolute, symlinks resolved)."""
    if not str(path):
        return False
    real, root = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([real, root]) == root


def inspect(path: Path, restrict: bool = True) -> FileInfo | None:
    """Size, checksum and length of a finished recording (None if it is not there).

    A recording is personal data: a file ivr-app owns is made readable by its owner only.
    FreeSWITCH's own files (another user, every real install) cannot be chmod'ed by ivr-app:
    their mode comes from FreeSWITCH's umask and the shared group (freeswitch/README.md). A
    file ivr-app may not read is still reported (its size, no checksum), never dropped.
    Blocking file I/O: the recording service runs it in gevent's thread pool."""
    try:
        st = os.stat(path)
        if restrict and st.st_uid == os.geteuid():
            os.chmod(path, 0o600)
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    except PermissionError:
        return FileInfo(st.st_size, None, None)
    duration = None
    try:
        with wave.open(str(path), "rb") as w:
            duration = int(w.getnframes() * 1000 / w.getframerate())
    except (wave.Error, EOFError):
        pass
    return FileInfo(size, h.hexdigest(), duration)

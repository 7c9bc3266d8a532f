"""How long things play, and recordings that are real WAV files.

Durations follow FreeSWITCH's sources: ``tone_stream://%(on,off,freq)`` plays on+off ms per
segment (``;loops=N`` repeats, ``-1`` forever), ``silence_stream://N`` N ms (-1: forever),
``local_stream://...`` (music on hold) forever, a WAV file its own length, ``say:`` about
0.4 s per word. A missing file plays nothing and fails.
"""

from __future__ import annotations

import math
import os
import re
import struct
import wave
from collections.abc import Sequence
from pathlib import Path

FOREVER = math.inf
_TONE_SEG = re.compile(r"%\((\d+),(\d+),[\d,.]+\)")


def duration(path: str, sound_dirs: tuple[Path, ...] = (),
             sound_prefix: Path | None = None) -> float | None:
    """Seconds of audio in ``path``; inf for endless streams; None if it cannot be played.

    ``file_string://a!b`` plays its parts in turn, skipping those that do not open
    (mod_file_string's next_file); a relative part is read under the global sound_prefix."""
    if path.startswith("file_string://"):
        parts = [p for p in path[len("file_string://"):].split("!") if p]
        lengths = []
        for part in parts:
            if not os.path.isabs(part) and "://" not in part and sound_prefix is not None:
                part = str(sound_prefix / part)
            seconds = duration(part, sound_dirs)
            if seconds is not None:
                lengths.append(seconds)
        return sum(lengths) if lengths else None
    if path.startswith("tone_stream://"):
        spec = path[len("tone_stream://"):]
        loops = 1
        m = re.search(r";loops=(-?\d+)", spec)
        if m:
            loops = int(m.group(1))
        segs = _TONE_SEG.findall(spec)
        one = sum(int(a) + int(b) for a, b in segs) / 1000.0
        if loops < 0:
            return FOREVER
        return one * max(loops, 1)
    if path.startswith("silence_stream://"):
        ms = int(path[len("silence_stream://"):].split(",")[0] or 0)
        return FOREVER if ms < 0 else ms / 1000.0
    if path.startswith("local_stream://"):
        return FOREVER
    if path.startswith("say:"):  # say:<module> <type> <method> [<gender>] <text>
        return 0.4 * max(1, len(path[4:].split()[-1]))
    candidates = [Path(path)] if os.path.isabs(path) else [d / path for d in sound_dirs]
    for p in candidates:
        if p.is_file():
            try:
                with wave.open(str(p), "rb") as w:
                    return w.getnframes() / float(w.getframerate())
            except (wave.Error, EOFError):
                return None
    return None


def write_wav(path: Path, seconds: float, *, channels: int = 1, rate: int = 8000,
              tone_hz: float = 440.0, silent: Sequence[tuple[float, float]] = ()) -> int:
    """A 16-bit PCM WAV of ``seconds`` (a quiet tone, so it is not all zeros), all zeros in
    the ``silent`` windows (seconds from the start: a masked recording); returns bytes."""
    frames = max(0, round(seconds * rate))
    quiet = [(round(a * rate), round(b * rate)) for a, b in silent]
    path.parent.mkdir(parents=True, exist_ok=True)
    amp = 2000
    one_period = [int(amp * math.sin(2 * math.pi * tone_hz * i / rate)) for i in range(rate // 40)]
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        chunk = bytearray()
        for i in range(frames):
            s = 0 if any(a <= i < b for a, b in quiet) else one_period[i % len(one_period)]
            chunk += struct.pack("<h", s) * channels
            if len(chunk) >= 65536:
                w.writeframes(bytes(chunk))
                chunk.clear()
        w.writeframes(bytes(chunk))
    return path.stat().st_size

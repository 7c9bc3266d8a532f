"""record_session / uuid_record: real WAV files of the call's length, RECORD_START/RECORD_STOP.

Faithful to src/switch_ivr_async.c and the inbound-record capture:

* ``{var=value}`` in front of the path sets nothing in FreeSWITCH 1.10: the braces stay in
  ``Record-File-Path`` (and in the file name). Such a relative path is written under the
  switch's ``recordings_dir`` (FreeSWITCH's ``$${recordings_dir}``), never the process's cwd.
* Stereo when the channel has ``RECORD_STEREO=true``; 8 kHz 16-bit PCM.
* ``uuid_record <uuid> mask|unmask <path>``: while masked every frame is written as zeros on
  every channel (record_callback writes ``null_data``); a real run showed the zeros exactly
  between the two keys.
* Completion cause: ``success-silence`` when the call hangs up (the tone counts as speech),
  ``success-maxtime`` when stopped or at the limit.
* Shorter than ``RECORD_MIN_SEC`` (channel variable; 0 by default): the file is removed,
  ``RECORD_DISCARDED=true`` is set and the cause is ``input-too-short``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import gevent

from ivr_app.testing.fakeswitch import media
from ivr_app.testing.fakeswitch.channel import Channel

if TYPE_CHECKING:
    from ivr_app.testing.fakeswitch.switch import FakeSwitch


@dataclass
class Recording:
    path: str
    started: float
    stereo: bool
    limit: float = 0.0
    masked_since: float | None = None
    masked_total: float = 0.0
    masked: list[tuple[float, float]] = field(default_factory=list)  # wall-clock windows
    timer: gevent.Greenlet | None = field(default=None, repr=False)


class Recorder:
    def __init__(self, switch: FakeSwitch):
        self.switch = switch

    def start(self, ch: Channel, path: str, limit: float = 0.0) -> None:
        if path in ch.recordings:
            return
        rec = Recording(path, time.monotonic(), ch.vars.get("RECORD_STEREO") == "true", limit)
        ch.recordings[path] = rec
        if self._on_hangup not in ch.on_teardown:
            ch.on_teardown.append(self._on_hangup)
        ch.fire("RECORD_START", post=[("Record-File-Path", path)])
        if limit:
            rec.timer = gevent.spawn_later(limit * self.switch.time_factor, self.stop, ch, path,
                                           "success-maxtime")

    def mask(self, ch: Channel, path: str, on: bool) -> None:
        rec = ch.recordings.get(path)
        if rec is None:
            return
        if on and rec.masked_since is None:
            rec.masked_since = time.monotonic()
        elif not on and rec.masked_since is not None:
            rec.masked_total += time.monotonic() - rec.masked_since
            rec.masked.append((rec.masked_since, time.monotonic()))
            rec.masked_since = None

    def _on_hangup(self, ch: Channel) -> None:
        for path in list(ch.recordings):
            self.stop(ch, path, "success-silence")

    def stop(self, ch: Channel, path: str, cause: str = "success-maxtime") -> None:
        if path == "all":
            for p in list(ch.recordings):
                self.stop(ch, p, cause)
            return
        rec = ch.recordings.pop(path, None)
        if rec is None:
            return
        if rec.timer is not None and gevent.getcurrent() is not rec.timer:
            rec.timer.kill(block=False)
        wall = time.monotonic() - rec.started
        seconds = wall / self.switch.time_factor if self.switch.time_factor else wall
        if rec.limit:
            seconds = min(seconds, rec.limit)
        min_sec = int(ch.vars.get("RECORD_MIN_SEC", "0") or 0)
        target = Path(path)
        if not target.is_absolute():
            target = self.switch.recordings_dir / target
        if seconds < min_sec:
            target.unlink(missing_ok=True)
            ch.vars["RECORD_DISCARDED"] = "true"
            ch.vars["record_completion_cause"] = "input-too-short"
            ch.fire("RECORD_STOP", post=[("Record-File-Path", path),
                                         ("Record-Completion-Cause", "input-too-short")])
            return
        if rec.masked_since is not None:  # still masked when it stopped
            rec.masked.append((rec.masked_since, time.monotonic()))
        scale = self.switch.time_factor or 1.0
        silent = [((a - rec.started) / scale, (b - rec.started) / scale) for a, b in rec.masked]
        size = media.write_wav(target, seconds, channels=2 if rec.stereo else 1, silent=silent)
        samples = int(seconds * 8000)
        ch.vars.update({"record_file_size": str(size), "record_samples": str(samples),
                        "record_seconds": str(int(seconds)), "record_ms": str(int(seconds * 1000)),
                        "record_completion_cause": cause})
        ch.fire("RECORD_STOP", post=[("Record-File-Path", path),
                                     ("Record-Completion-Cause", cause)])

"""Reading the FreeSWITCH wire captures (tests/fixtures/fs-captures, from ../shared/fs-captures).

Each directory holding a ``transcript.jsonl`` is one TCP connection: one JSON object per
``recv()`` (``rx``) or ``sendall()`` (``tx``), bytes as latin-1.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fs-captures"


@dataclass(frozen=True)
class Chunk:
    t: float
    direction: str  # "rx" (from FreeSWITCH) or "tx" (to FreeSWITCH)
    data: bytes


@dataclass(frozen=True)
class Transcript:
    name: str  # e.g. "outbound-basic/ctl"
    chunks: tuple[Chunk, ...]

    def rx(self) -> list[bytes]:
        return [c.data for c in self.chunks if c.direction == "rx" and c.data]

    def tx(self) -> list[bytes]:
        return [c.data for c in self.chunks if c.direction == "tx" and c.data]

    def rx_bytes(self) -> bytes:
        return b"".join(self.rx())


def load(path: Path) -> Transcript:
    chunks = []
    for line in path.read_text().splitlines():
        o = json.loads(line)
        chunks.append(Chunk(o["t"], o["dir"], o["data"].encode("latin-1")))
    return Transcript(str(path.parent.relative_to(CAPTURES)), tuple(chunks))


def all_transcripts() -> list[Transcript]:
    return [load(p) for p in sorted(CAPTURES.rglob("transcript.jsonl"))]


@dataclass(frozen=True)
class Summary:
    """The capture's own counts, from the ``capture.py verify`` output in its README."""

    messages: int
    content_types: Counter
    event_names: Counter


def summaries() -> dict[str, Summary]:
    text = (CAPTURES / "README.md").read_text()
    out: dict[str, Summary] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^OK  (\S+): .* (\d+) messages, ", line)
        if m:
            current = m.group(1)
            out[current] = Summary(int(m.group(2)), Counter(), Counter())
            continue
        m = re.match(r"^    (Content-Type|Event-Name): (.*)$", line)
        if m and current:
            target = out[current].content_types if m.group(1) == "Content-Type" \
                else out[current].event_names
            for item in m.group(2).split(", "):
                key, _, count = item.rpartition("=")
                target[key] = int(count)
    return out


def describe(t: Transcript) -> list[str]:
    """One line per sent command / received message: how a capture reads at a glance."""
    from ivr_app.esl.events import event_from_message
    from ivr_app.esl.wire import Framer

    framer = Framer()
    lines = []
    for c in t.chunks:
        if c.direction == "tx":
            first = c.data.decode("latin-1").split("\n\n")[0].replace("\n", " | ")
            lines.append(f"{c.t:8.3f} >> {first or '<close>'}")
            continue
        if not c.data:
            lines.append(f"{c.t:8.3f} << <EOF>")
            continue
        for m in framer.feed(c.data):
            ev = event_from_message(m)
            if ev is None:
                extra = m.reply_text or m.body[:60].decode("latin-1").replace("\n", "\\n")
                disp = m.get("Content-Disposition") or ""
                lines.append(f"{c.t:8.3f} << {m.content_type} {disp} {extra!r}")
            else:
                info = [ev.name]
                for k in ("Channel-Name", "Application", "Application-Response",
                          "Application-UUID", "Hangup-Cause", "DTMF-Digit", "Channel-State",
                          "Answer-State"):
                    v = ev.get(k)
                    if v:
                        info.append(f"{k}={v}")
                lines.append(f"{c.t:8.3f} << {' '.join(info)}")
    return lines


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        print("\n".join(describe(load(CAPTURES / name / "transcript.jsonl"))))

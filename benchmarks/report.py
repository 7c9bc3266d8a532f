"""BENCHMARKS.md is made of sections, one per benchmark script, each replaced by its own run."""

from __future__ import annotations

import re
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nReproduce with `make bench` (every script under benchmarks/; each "
          "section says which one made it and when).\n")


def write_section(name: str, text: str) -> None:
    body = FILE.read_text() if FILE.exists() else HEADER
    if not body.startswith("# Benchmarks"):
        body = HEADER
    block = f"<!-- section:{name} -->\n{text.strip()}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:"
                         rf"{re.escape(name)} -->", re.S)
    body = pattern.sub(lambda _m: block, body) if pattern.search(body) else \
        body.rstrip() + "\n\n" + block + "\n"
    FILE.write_text(body)

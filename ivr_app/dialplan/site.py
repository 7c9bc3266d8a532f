"""The site's numbers (dialplan/site.example.yaml): DIDs to IVR entries, extensions, star codes,
queues, and where ivr-app listens. Validated with file:line errors like every YAML we read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr_app import yamlfile
from ivr_app.errors import ConfigError

E164ISH = re.compile(r"^\+?[0-9]{3,15}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
EXTENSION = re.compile(r"^[0-9]{2,8}$")
STAR = re.compile(r"^\*[0-9]{2,3}$")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
STAR_ACTIONS = ("available", "meeting", "away", "dnd_on", "dnd_off", "forward", "forward_off",
                "presence_menu")


@dataclass(frozen=True)
class Did:
    number: str
    entry: str
    caller_id: str = ""  # what external legs of its calls present (E.164); "": ivr.company_number

    @property
    def digits(self) -> str:
        return self.number.lstrip("+")

    @property
    def slug(self) -> str:
        return self.digits


@dataclass(frozen=True)
class Site:
    source: str
    domain: str
    ivr_host: str
    ivr_port: int
    dids: tuple[Did, ...]
    extensions: tuple[str, ...]
    star_codes: tuple[tuple[str, str], ...]
    queues: tuple[tuple[str, str], ...]
    operator: str
    when_ivr_app_down: str
    park_timeout: int
    ring_seconds: int


def load(path: str | Path) -> Site:
    return parse(yamlfile.load(path))


def parse(located: yamlfile.Located) -> Site:
    problems: list[str] = []

    def bad(p: tuple, message: str) -> None:
        problems.append(located.problem(p, message))

    data = located.data if isinstance(located.data, dict) else {}
    allowed = {"domain", "ivr_app", "dids", "extensions", "star_codes", "queues", "operator",
               "when_ivr_app_down", "park_timeout", "ring_seconds"}
    for k in data:
        if k not in allowed:
            bad((k,), "unknown key (expected one of: " + ", ".join(sorted(allowed)) + ")")

    def text(d: dict, p: tuple, key: str, pattern: re.Pattern, message: str,
             default: str | None = None) -> str:
        v = d.get(key, default)
        if not isinstance(v, str) or not pattern.match(v):
            bad((*p, key), message + (" (quote it in YAML)" if isinstance(v, int) else ""))
            return default or ""
        return v

    def integer(key: str, default: int, lo: int, hi: int) -> int:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            bad((key,), f"must be an integer {lo}-{hi}")
            return default
        return v

    domain = text(data, (), "domain", HOST, "must be a host name or address", "127.0.0.1")
    ivr: Any = data.get("ivr_app", {}) or {}
    if not isinstance(ivr, dict):
        bad(("ivr_app",), "must be a mapping with host and port")
        ivr = {}
    host = text(ivr, ("ivr_app",), "host", HOST, "must be a host name or address", "127.0.0.1")
    port = ivr.get("port", 8084)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        bad(("ivr_app", "port"), "must be an integer 1-65535")
        port = 8084
    dids = []
    for i, raw in enumerate(data.get("dids", []) or []):
        d = raw if isinstance(raw, dict) else {}
        if not isinstance(raw, dict):
            bad(("dids", i), "must be a mapping with number and entry")
        number = text(d, ("dids", i), "number", E164ISH, "must be a phone number like "
                      "+74951112233, quoted")
        entry = text(d, ("dids", i), "entry", NAME, "must be a menu name", "main")
        for k in d:
            if k not in ("number", "entry", "caller_id"):
                bad(("dids", i, k), "unknown key (expected one of: caller_id, entry, number)")
        caller_id = text(d, ("dids", i), "caller_id", E164, "must be an E.164 number like "
                         "+74951112233, quoted", "") if "caller_id" in d else ""
        dids.append(Did(number, entry, caller_id))
    if not dids:
        bad(("dids",), "at least one number must reach the IVR")
    exts = []
    for i, e in enumerate(data.get("extensions", []) or []):
        if not isinstance(e, str) or not EXTENSION.match(e):
            bad(("extensions", i), "must be an extension of 2-8 digits, quoted")
        else:
            exts.append(e)
    stars = []
    for code, action in (data.get("star_codes", {}) or {}).items():
        if not isinstance(code, str) or not STAR.match(code):
            bad(("star_codes", code), "a star code is * and 2-3 digits, quoted")
        elif action not in STAR_ACTIONS:
            bad(("star_codes", code), "must be one of: " + ", ".join(STAR_ACTIONS))
        else:
            stars.append((code, action))
    queues = []
    for name, ext in (data.get("queues", {}) or {}).items():
        if not isinstance(ext, str) or not EXTENSION.match(ext):
            bad(("queues", name), "must be the queue's extension, quoted")
        else:
            queues.append((str(name), ext))
    operator = text(data, (), "operator", EXTENSION, "must be an extension, quoted", "1000")
    down = data.get("when_ivr_app_down", "voicemail")
    if down not in ("voicemail", "ring"):
        bad(("when_ivr_app_down",), "must be voicemail or ring (the operator's desk)")
        down = "voicemail"
    park_timeout = integer("park_timeout", 300, 10, 7200)
    ring = integer("ring_seconds", 25, 5, 300)
    taken = [e for e in exts] + [q for _, q in queues]
    for dup in sorted({x for x in taken if taken.count(x) > 1}):
        bad(("extensions",), f"{dup} is used twice (extensions and queues share a context)")
    if problems:
        raise ConfigError(problems)
    return Site(located.source, domain, host, port, tuple(dids), tuple(exts), tuple(stars),
                tuple(queues), operator, down, park_timeout, ring)

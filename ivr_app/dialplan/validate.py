"""Validating dialplan XML before FreeSWITCH sees it.

``reloadxml`` answers ``+OK`` even when the XML is broken (the error hides inside the
brackets) and keeps the old tree, so nothing is deployed that has not passed this: a real XML
parser (lxml, with line numbers), every condition's regular expression compiles, every
application exists (FreeSWITCH's own list over ESL when connected, a known list otherwise),
every ``transfer`` target is an extension of the dialplan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lxml import etree

# the mod_dptools / mod_* applications a FreeSWITCH 1.10 vanilla build has that dialplans of
# this kind use; `show application` over ESL gives the real list when FreeSWITCH is reachable
KNOWN_APPS = frozenset((
    "answer", "pre_answer", "ring_ready", "hangup", "set", "export", "unset", "multiset",
    "set_global", "bridge", "transfer", "socket", "park", "playback", "endless_playback", "say",
    "sleep", "play_and_get_digits", "read", "record_session", "stop_record_session",
    "voicemail", "log", "info", "echo", "respond", "redirect", "deflect", "send_dtmf",
    "start_dtmf", "stop_dtmf", "fifo", "callcenter", "conference", "lua", "javascript",
    "sched_hangup", "sched_transfer", "set_user", "bind_digit_action", "limit", "hash", "db",
    "event",
))


def context_of(path: str) -> str | None:
    """public/ivr-app.xml is included into context public, default/... into default."""
    return path.split("/")[0] if "/" in path else None


def validate(files: Mapping[str, str], applications: Iterable[str] | None = None) -> list[str]:
    """Problems, one line each: ``file:line: what``; empty when the dialplan is fine."""
    apps = frozenset(applications) if applications is not None else KNOWN_APPS
    problems: list[str] = []
    parsed: list[tuple[str, str | None, etree._Element]] = []
    for rel, text in files.items():
        try:
            root = etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False,
                                                                   no_network=True))
        except etree.XMLSyntaxError as exc:
            line = exc.position[0] if exc.position else 0
            problems.append(f"{rel}:{line}: XML: {exc.msg}")
            continue
        parsed.append((rel, context_of(rel), root))
    # extensions per context, for transfer targets
    patterns: dict[str, list[re.Pattern]] = {}
    for rel, ctx, root in parsed:
        for ctx_name, ext in _extensions(root, ctx):
            for cond in ext.iter("condition"):
                expr = cond.get("expression")
                if expr is None:
                    continue
                try:
                    rx = re.compile(expr)
                except re.error as exc:
                    problems.append(f"{rel}:{cond.sourceline}: extension "
                                    f"{ext.get('name')}: expression {expr!r}: {exc}")
                    continue
                if cond.get("field") == "destination_number":
                    patterns.setdefault(ctx_name, []).append(rx)
    for rel, ctx, root in parsed:
        for ctx_name, ext in _extensions(root, ctx):
            names = [e.get("name") for _, e in _extensions(root, ctx)]
            if names.count(ext.get("name")) > 1:
                problems.append(f"{rel}:{ext.sourceline}: extension name "
                                f"{ext.get('name')!r} used twice")
            for action in ext.iter("action", "anti-action"):
                app = action.get("application") or ""
                if app not in apps:
                    problems.append(f"{rel}:{action.sourceline}: extension {ext.get('name')}: "
                                    f"no application {app!r} in FreeSWITCH")
                if app == "transfer":
                    problems += _transfer_target(rel, action, ctx_name, patterns)
    return sorted(set(problems), key=_order)


def _extensions(root: etree._Element, ctx: str | None) -> list[tuple[str, etree._Element]]:
    out = []
    if root.tag == "include" and ctx is not None and root.find("context") is None:
        out += [(ctx, e) for e in root.iter("extension")]
    for c in root.iter("context"):
        out += [(c.get("name") or "", e) for e in c.iter("extension")]
    return out


def _transfer_target(rel: str, action: etree._Element, ctx: str,
                     patterns: Mapping[str, list[re.Pattern]]) -> list[str]:
    words = (action.get("data") or "").split()
    if not words or "$" in words[0]:
        return []  # a target computed at run time cannot be checked here
    target_ctx = words[2] if len(words) > 2 else ctx
    if not any(p.search(words[0]) for p in patterns.get(target_ctx, [])):
        return [f"{rel}:{action.sourceline}: transfer to {words[0]} in context {target_ctx}: "
                "no extension matches it"]
    return []


def _order(problem: str) -> tuple[str, int]:
    m = re.match(r"^([^:]*):(\d+):", problem)
    return (m.group(1), int(m.group(2))) if m else (problem, 0)

"""IVR menus from YAML: a tree of menus, validated at start with file:line errors.

The file (``ivr.menus`` in the configuration; ``config/menus.example.yaml`` is the commented
reference) names its prompts once and builds menus from them. Every reference is checked at
load: a menu option pointing at a missing menu, a prompt that is not defined, a key that is
not a DTMF key, hours that do not parse. Nothing is looked up by string at call time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr_app import yamlfile
from ivr_app.errors import ConfigError
from ivr_app.queue import spec as queue_spec
from ivr_app.queue.spec import QueueSpec

ACTIONS = ("menu", "transfer", "manager", "queue", "voicemail", "directory", "repeat", "back",
           "hangup")
KEYS = re.compile(r"^[0-9*#]$")
EXTENSION = re.compile(r"^[0-9]{2,8}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class Prompt:
    """One prompt: a sound file (relative to the sounds directory), a FreeSWITCH tone or
    stream (``tone_stream://``, ``silence_stream://``...), or text per language, rendered to
    WAV by ``ivr-app prompts build``."""

    name: str
    file: str | None = None
    tone: str | None = None
    text: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    action: str
    target: str | None = None


@dataclass(frozen=True)
class Hours:
    """Open spans per weekday (0 = Monday), in the company's time zone."""

    name: str
    spans: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]

    def open_at(self, local: dt.datetime) -> bool:
        t = local.time()
        return any(start <= t < end for start, end in self.spans.get(local.weekday(), ()))


@dataclass(frozen=True)
class Menu:
    name: str
    prompt: str
    options: Mapping[str, Action]
    greeting: str | None = None
    hours: str | None = None
    after_hours_greeting: str | None = None
    after_hours_action: Action | None = None
    timeout_ms: int = 5000
    inter_digit_ms: int = 2000
    max_tries: int = 3
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None
    direct_dial: bool = False
    on_failure: Action = Action("hangup")


@dataclass(frozen=True)
class MenuSet:
    source: str
    entry: str
    languages: tuple[str, ...]
    timezone: str
    prompts: Mapping[str, Prompt]
    menus: Mapping[str, Menu]
    hours: Mapping[str, Hours]
    holidays: frozenset[dt.date]
    vip: str = "manager"
    manager_fallback: tuple[Action, ...] = ()
    queues: Mapping[str, QueueSpec] = field(default_factory=dict)
    voicemail_box: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, menu: Menu, now: dt.datetime) -> bool:
        """Business hours of ``menu`` at ``now`` (aware), holidays closed all day."""
        if menu.hours is None:
            return True
        local = now.astimezone(self.tz)
        if local.date() in self.holidays:
            return False
        return self.hours[menu.hours].open_at(local)


class _Reader:
    def __init__(self, located: yamlfile.Located):
        self.located = located
        self.problems: list[str] = []

    def bad(self, path: tuple, message: str) -> None:
        self.problems.append(self.located.problem(path, message))

    def mapping(self, value: Any, path: tuple, allowed: set[str] | None = None) -> dict:
        if not isinstance(value, dict):
            self.bad(path, "must be a mapping")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.bad((*path, key), "unknown key (expected one of: "
                             + ", ".join(sorted(allowed)) + ")")
        return value

    def text(self, d: dict, path: tuple, key: str, required: bool = False,
             pattern: re.Pattern | None = None, message: str = "must be a string") -> str | None:
        if key not in d or d[key] is None:
            if required:
                self.bad((*path, key), "is required")
            return None
        v = d[key]
        if not isinstance(v, str) or not v:
            self.bad((*path, key), message + (" (quote it in YAML)" if isinstance(v, int)
                                              else ""))
            return None
        if pattern is not None and not pattern.match(v):
            self.bad((*path, key), message)
            return None
        return v

    def integer(self, d: dict, path: tuple, key: str, default: int, lo: int, hi: int) -> int:
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.bad((*path, key), f"must be an integer {lo}-{hi}")
            return default
        return v


def load(path: str | Path) -> MenuSet:
    return parse(yamlfile.load(path))


def parse(located: yamlfile.Located) -> MenuSet:
    r = _Reader(located)
    top = r.mapping(located.data if located.data is not None else {}, (),
                    {"entry", "languages", "timezone", "hours", "holidays", "vip",
                     "manager_fallback", "prompts", "menus", "queues", "voicemail_box"})
    languages = _languages(r, top)
    timezone = r.text(top, (), "timezone") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        r.bad(("timezone",), f"unknown time zone {timezone!r} (an IANA name like Europe/Moscow)")
        timezone = "UTC"
    hours = {name: _hours(r, name, spec) for name, spec in
             r.mapping(top.get("hours", {}) or {}, ("hours",)).items()}
    holidays = _holidays(r, top.get("holidays", []) or [])
    prompts = {name: _prompt(r, name, spec, languages) for name, spec in
               r.mapping(top.get("prompts", {}) or {}, ("prompts",)).items()}
    queues = {str(qname): queue_spec.parse(r, str(qname), raw) for qname, raw in
              r.mapping(top.get("queues", {}) or {}, ("queues",)).items()}
    queue_spec.check_references(r, queues)
    menus_raw = r.mapping(top.get("menus", {}) or {}, ("menus",))
    menus = {name: _menu(r, name, spec) for name, spec in menus_raw.items()}
    entry = r.text(top, (), "entry", required=True)
    vip = r.text(top, (), "vip") or "manager"
    if vip not in ("manager", "menu"):
        r.bad(("vip",), "must be manager (VIP callers skip the menu) or menu")
    fallback = tuple(a for i, raw in enumerate(top.get("manager_fallback", []) or [])
                     if (a := _action(r, ("manager_fallback", i), raw)) is not None)
    voicemail_box = r.text(top, (), "voicemail_box", pattern=EXTENSION,
                           message="must be an extension, quoted")
    # cross references
    if entry is not None and entry not in menus:
        r.bad(("entry",), f"no menu named {entry!r}")
    for name, menu in menus.items():
        base = ("menus", name)
        for key, p in (("prompt", menu.prompt), ("greeting", menu.greeting),
                       ("invalid_prompt", menu.invalid_prompt),
                       ("timeout_prompt", menu.timeout_prompt),
                       ("after_hours_greeting", menu.after_hours_greeting)):
            if p is not None and p not in prompts:
                r.bad((*base, key), f"no prompt named {p!r}")
        if menu.hours is not None and menu.hours not in hours:
            r.bad((*base, "hours"), f"no hours named {menu.hours!r}")
        actions = [((*base, "options", k), a) for k, a in menu.options.items()]
        actions.append(((*base, "on_failure"), menu.on_failure))
        if menu.after_hours_action is not None:
            actions.append(((*base, "after_hours", "action"), menu.after_hours_action))
        for path, a in actions:
            _check_target(r, path, a, menus, queues)
    for i, a in enumerate(fallback):
        _check_target(r, ("manager_fallback", i), a, menus, queues)
    for name, menu in menus.items():
        if menu.direct_dial and "#" in menu.options:
            r.bad(("menus", name, "options", "#"), "# ends a direct-dial extension in a menu "
                  "with direct_dial: use another key")
        if any(a.action == "directory" for a in menu.options.values()) and \
                "directory" not in prompts:
            r.bad(("menus", name, "options"), "the directory action needs a prompt named "
                  "directory")
    if r.problems:
        raise ConfigError(sorted(set(r.problems), key=_line))
    return MenuSet(located.source, entry or "", languages, timezone, prompts, menus, hours,
                   holidays, vip, fallback, queues, voicemail_box)


def _line(problem: str) -> tuple[int, str]:
    m = re.match(r"^[^:]*:(\d+):", problem)
    return (int(m.group(1)) if m else 0, problem)


def _languages(r: _Reader, top: dict) -> tuple[str, ...]:
    raw = top.get("languages", ["en"])
    if not isinstance(raw, list) or not raw:
        r.bad(("languages",), "must be a list of two-letter codes, the default first")
        return ("en",)
    out = []
    for i, lang in enumerate(raw):
        if not isinstance(lang, str) or not LANGUAGE.match(lang):
            r.bad(("languages", i), "must be a two-letter language code such as en or ru")
        else:
            out.append(lang)
    return tuple(out) or ("en",)


def _hours(r: _Reader, name: str, spec: Any) -> Hours:
    path = ("hours", name)
    d = r.mapping(spec, path)
    spans: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for days, ranges in d.items():
        first, _, last = str(days).partition("-")
        if first not in DAYS or (last and last not in DAYS):
            r.bad((*path, days), "days must be like mon, mon-fri or sat-sun")
            continue
        lo, hi = DAYS.index(first), DAYS.index(last or first)
        day_list = list(range(lo, hi + 1)) if lo <= hi else list(range(lo, 7)) + \
            list(range(0, hi + 1))
        values = ranges if isinstance(ranges, list) else [ranges]
        for value in values:
            m = SPAN.match(value) if isinstance(value, str) else None
            if not m:
                r.bad((*path, days), 'must be "HH:MM-HH:MM" or a list of them')
                continue
            start = dt.time(int(m.group(1)), int(m.group(2)))
            end_h = int(m.group(3))
            end = dt.time.max if end_h == 24 else dt.time(end_h, int(m.group(4)))
            if end <= start:
                r.bad((*path, days), f"{value}: the end must come after the start")
                continue
            for day in day_list:
                spans.setdefault(day, []).append((start, end))
    return Hours(name, {k: tuple(v) for k, v in spans.items()})


def _holidays(r: _Reader, raw: Any) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        r.bad(("holidays",), "must be a list of dates (YYYY-MM-DD)")
        return frozenset()
    out = set()
    for i, v in enumerate(raw):
        if isinstance(v, dt.date):
            out.add(v)
            continue
        try:
            out.add(dt.date.fromisoformat(str(v)))
        except ValueError:
            r.bad(("holidays", i), "must be a date YYYY-MM-DD")
    return frozenset(out)


def _prompt(r: _Reader, name: str, spec: Any, languages: tuple[str, ...]) -> Prompt:
    path = ("prompts", name)
    d = r.mapping(spec, path, {"file", "tone", "text"})
    file = r.text(d, path, "file")
    tone = r.text(d, path, "tone", pattern=re.compile(r"^(tone_stream|silence_stream|"
                                                      r"local_stream)://"),
                  message="must be a tone_stream://, silence_stream:// or local_stream:// URL")
    text: dict[str, str] = {}
    if "text" in d:
        raw = r.mapping(d["text"], (*path, "text"))
        for lang, t in raw.items():
            if lang not in languages:
                r.bad((*path, "text", lang), f"language {lang!r} is not in languages")
            elif not isinstance(t, str) or not t.strip():
                r.bad((*path, "text", lang), "must be the text to say")
            else:
                text[lang] = t
        missing = [lang for lang in languages if lang not in text]
        if missing and not file:
            r.bad((*path, "text"), "no text for " + ", ".join(missing))
    if file and ("\\" in file or file.startswith("/") or ".." in Path(file).parts):
        r.bad((*path, "file"), "must be a path inside the sounds directory")
    if sum(x is not None and x != {} for x in (file, tone, text or None)) != 1 and \
            not (file and text):
        r.bad(path, "needs exactly one of file, tone, text (a file may also have text)")
    return Prompt(name, file, tone, text)


def _action(r: _Reader, path: tuple, raw: Any) -> Action | None:
    d = r.mapping(raw, path, {"action", "target"})
    action = r.text(d, path, "action", required=True)
    if action is None:
        return None
    if action not in ACTIONS:
        r.bad((*path, "action"), "must be one of: " + ", ".join(ACTIONS))
        return None
    before = len(r.problems)
    target = r.text(d, path, "target")
    if len(r.problems) > before:
        return None  # reported once, not again by the reference checks
    return Action(action, target)


def _check_target(r: _Reader, path: tuple, a: Action, menus: Mapping[str, Menu],
                  queues: Mapping[str, QueueSpec]) -> None:
    if a.action == "menu" and a.target not in menus:
        r.bad((*path, "target"), f"no menu named {a.target!r}")
    elif a.action == "transfer" and (a.target is None or not EXTENSION.match(a.target)):
        r.bad((*path, "target"), "must be the extension to transfer to, quoted")
    elif a.action == "queue" and a.target not in queues:
        r.bad((*path, "target"), f"no queue named {a.target!r} in queues")
    elif a.action == "voicemail" and a.target is not None and not EXTENSION.match(a.target):
        r.bad((*path, "target"), "must be a mailbox extension, quoted")


def _menu(r: _Reader, name: str, spec: Any) -> Menu:
    path = ("menus", name)
    d = r.mapping(spec, path, {"greeting", "prompt", "options", "hours", "after_hours",
                               "timeout_ms", "inter_digit_ms", "max_tries", "invalid_prompt",
                               "timeout_prompt", "direct_dial", "on_failure"})
    options: dict[str, Action] = {}
    for key, raw in r.mapping(d.get("options", {}) or {}, (*path, "options")).items():
        k = str(key)
        if not KEYS.match(k):
            r.bad((*path, "options", key), "a menu key is one of 0-9, * or #, quoted")
            continue
        a = _action(r, (*path, "options", key), raw)
        if a is not None:
            options[k] = a
    ah = r.mapping(d.get("after_hours", {}) or {}, (*path, "after_hours"), {"greeting", "action"})
    direct = d.get("direct_dial", False)
    if not isinstance(direct, bool):
        r.bad((*path, "direct_dial"), "must be true or false")
        direct = False
    on_failure = _action(r, (*path, "on_failure"), d["on_failure"]) if "on_failure" in d \
        else Action("hangup")
    return Menu(
        name=name,
        prompt=r.text(d, path, "prompt", required=True) or "",
        options=options,
        greeting=r.text(d, path, "greeting"),
        hours=r.text(d, path, "hours"),
        after_hours_greeting=r.text(ah, (*path, "after_hours"), "greeting"),
        after_hours_action=_action(r, (*path, "after_hours", "action"), ah["action"])
        if "action" in ah else None,
        timeout_ms=r.integer(d, path, "timeout_ms", 5000, 500, 60000),
        inter_digit_ms=r.integer(d, path, "inter_digit_ms", 2000, 200, 30000),
        max_tries=r.integer(d, path, "max_tries", 3, 1, 10),
        invalid_prompt=r.text(d, path, "invalid_prompt"),
        timeout_prompt=r.text(d, path, "timeout_prompt"),
        direct_dial=direct,
        on_failure=on_failure or Action("hangup"),
    )

"""What a hold queue is, as the menus file defines it (``queues:``), validated at load.

One mapping per queue; every key is optional::

    queues:
      support:
        skills: {support: 1}          # agents need each skill at this level or above
        music: local_stream://moh     # hold music (an endless stream or a file, looped)
        announce_every_seconds: 30    # position / expected wait over the music (0: never)
        announce_position: true
        announce_wait: true
        max_wait_seconds: 600         # then on_max_wait
        on_max_wait: {action: voicemail}   # voicemail [target] | callback | queue <target>
        max_length: 20                # callers beyond it go to on_full at once
        on_full: {action: voicemail}
        service_level: {seconds: 20, percent: 80}  # 80 % answered within 20 s
        wrap_up_seconds: 10           # after a queue call, before the agent's next offer
        agent_ring_seconds: 15        # an offer rings the agent's phones this long
        no_answer_pause_seconds: 30   # an agent who let an offer ring out is skipped this long
        handle_seconds: 180           # average handle time until history says otherwise
        keys: {"1": voicemail, "2": callback}   # what a waiting caller may press
        voicemail_box: "7001"
        callback_attempts: 3          # a callback's customer not answering is tried again
        callback_retry_seconds: 300   # ... after this long, this many times in all
        caller_id: "+74951112233"     # what external legs of this queue's calls show (E.164)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SKILL = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
EXIT_ACTIONS = ("voicemail", "callback", "queue", "hangup")
KEY_ACTIONS = ("voicemail", "callback")


@dataclass(frozen=True)
class Exit:
    """Where a caller goes when they stop waiting (max wait, full queue, a key)."""

    action: str  # voicemail | callback | queue | hangup
    target: str | None = None


@dataclass(frozen=True)
class QueueSpec:
    name: str
    skills: Mapping[str, int] = field(default_factory=dict)
    music: str = "local_stream://moh"
    announce_every_seconds: int = 30
    announce_position: bool = True
    announce_wait: bool = True
    max_wait_seconds: int = 600
    on_max_wait: Exit = Exit("voicemail")
    max_length: int = 50
    on_full: Exit = Exit("voicemail")
    service_level_seconds: int = 20
    service_level_percent: int = 80
    wrap_up_seconds: int = 10
    agent_ring_seconds: int = 15
    no_answer_pause_seconds: int = 30
    handle_seconds: int = 180
    keys: Mapping[str, str] = field(default_factory=dict)
    voicemail_box: str | None = None
    callback_attempts: int = 3
    callback_retry_seconds: int = 300
    caller_id: str | None = None  # the company number external legs present (E.164)


class Reader(Protocol):
    def bad(self, path: tuple, message: str) -> None: ...
    def mapping(self, value: Any, path: tuple, allowed: set[str] | None = None) -> dict: ...
    def text(self, d: dict, path: tuple, key: str, required: bool = False,
             pattern: re.Pattern | None = None, message: str = ...) -> str | None: ...
    def integer(self, d: dict, path: tuple, key: str, default: int, lo: int,
                hi: int) -> int: ...


ALLOWED = {"skills", "music", "announce_every_seconds", "announce_position", "announce_wait",
           "max_wait_seconds", "on_max_wait", "max_length", "on_full", "service_level",
           "wrap_up_seconds", "agent_ring_seconds", "no_answer_pause_seconds", "handle_seconds",
           "keys", "voicemail_box", "callback_attempts", "callback_retry_seconds", "caller_id"}


def parse(r: Reader, name: str, raw: Any) -> QueueSpec:
    path = ("queues", name)
    if not NAME.match(str(name)):
        r.bad(path, "a queue name is lower-case letters, digits, - or _")
    if isinstance(raw, str):
        r.bad(path, "a queue is a mapping of its settings now (music, skills, max wait ...), "
                    "not a dialplan extension")
        return QueueSpec(str(name))
    d = r.mapping(raw if raw is not None else {}, path, ALLOWED)
    skills: dict[str, int] = {}
    raw_skills = d.get("skills", {str(name): 1})
    for skill, level in r.mapping(raw_skills, (*path, "skills")).items():
        if not isinstance(skill, str) or not SKILL.match(skill):
            r.bad((*path, "skills", str(skill)), "a skill is lower-case letters, digits, - or _")
        elif isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            r.bad((*path, "skills", skill), "must be the minimum level 1-10")
        else:
            skills[skill] = level
    if isinstance(raw_skills, dict) and not raw_skills:
        r.bad((*path, "skills"), "a queue needs at least one skill (its agents have it)")
    sl = r.mapping(d.get("service_level", {}) or {}, (*path, "service_level"),
                   {"seconds", "percent"})
    keys: dict[str, str] = {}
    for key, action in r.mapping(d.get("keys", {}) or {}, (*path, "keys")).items():
        k = str(key)
        if not re.match(r"^[0-9*#]$", k):
            r.bad((*path, "keys", key), "a key is one of 0-9, * or #, quoted")
        elif action not in KEY_ACTIONS:
            r.bad((*path, "keys", key), "must be one of: " + ", ".join(KEY_ACTIONS))
        else:
            keys[k] = action
    return QueueSpec(
        name=str(name), skills=skills,
        music=r.text(d, path, "music") or "local_stream://moh",
        announce_every_seconds=r.integer(d, path, "announce_every_seconds", 30, 0, 3600),
        announce_position=_flag(r, d, path, "announce_position"),
        announce_wait=_flag(r, d, path, "announce_wait"),
        max_wait_seconds=r.integer(d, path, "max_wait_seconds", 600, 5, 86400),
        on_max_wait=_exit(r, d, path, "on_max_wait"),
        max_length=r.integer(d, path, "max_length", 50, 1, 10000),
        on_full=_exit(r, d, path, "on_full"),
        service_level_seconds=r.integer(sl, (*path, "service_level"), "seconds", 20, 1, 3600),
        service_level_percent=r.integer(sl, (*path, "service_level"), "percent", 80, 1, 100),
        wrap_up_seconds=r.integer(d, path, "wrap_up_seconds", 10, 0, 3600),
        agent_ring_seconds=r.integer(d, path, "agent_ring_seconds", 15, 5, 300),
        no_answer_pause_seconds=r.integer(d, path, "no_answer_pause_seconds", 30, 0, 3600),
        handle_seconds=r.integer(d, path, "handle_seconds", 180, 10, 7200),
        keys=keys,
        voicemail_box=r.text(d, path, "voicemail_box", pattern=re.compile(r"^[0-9]{2,8}$"),
                             message="must be a mailbox extension, quoted"),
        callback_attempts=r.integer(d, path, "callback_attempts", 3, 1, 20),
        callback_retry_seconds=r.integer(d, path, "callback_retry_seconds", 300, 0, 86400),
        caller_id=r.text(d, path, "caller_id", pattern=E164,
                         message="must be an E.164 number like +74951112233, quoted"),
    )


def _flag(r: Reader, d: dict, path: tuple, key: str) -> bool:
    v = d.get(key, True)
    if not isinstance(v, bool):
        r.bad((*path, key), "must be true or false")
        return True
    return v


def _exit(r: Reader, d: dict, path: tuple, key: str) -> Exit:
    if key not in d:
        return Exit("voicemail")
    e = r.mapping(d[key], (*path, key), {"action", "target"})
    action = e.get("action")
    if action not in EXIT_ACTIONS:
        r.bad((*path, key, "action"), "must be one of: " + ", ".join(EXIT_ACTIONS))
        return Exit("voicemail")
    target = e.get("target")
    if target is not None and not isinstance(target, str):
        r.bad((*path, key, "target"), "must be a string (quote it in YAML)")
        target = None
    if action == "queue" and not target:
        r.bad((*path, key, "target"), "names the queue to move the caller to")
    if action == "voicemail" and target and not re.match(r"^[0-9]{2,8}$", target):
        r.bad((*path, key, "target"), "must be a mailbox extension, quoted")
    return Exit(action, target)


def check_references(r: Reader, queues: Mapping[str, QueueSpec]) -> None:
    """A queue's exits name queues that exist, and never itself."""
    for name, q in queues.items():
        for key, ex in (("on_max_wait", q.on_max_wait), ("on_full", q.on_full)):
            if ex.action == "queue" and ex.target:
                if ex.target not in queues:
                    r.bad(("queues", name, key, "target"), f"no queue named {ex.target!r}")
                elif ex.target == name:
                    r.bad(("queues", name, key, "target"), "must be another queue")

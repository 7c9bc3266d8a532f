"""The company directory: employees, their devices, customers and their phone numbers.

``load_file`` reads a YAML file of people (the demo data, or a site's first import), validates
it with file:line errors, and upserts it by natural keys (extension, phone number), so loading
the same file twice changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ivr_app import yamlfile
from ivr_app.errors import ConfigError
from ivr_app.pin import hash_pin, valid_pin
from ivr_app.presence import destination

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
EXTENSION = re.compile(r"^[0-9]{2,8}$")
DEVICE_KINDS = ("desk", "mobile", "home", "other")
SKILL = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Device:
    kind: str
    destination: str
    enabled: bool = True
    ring_delay_s: int = 0
    ring_timeout_s: int = 25


@dataclass(frozen=True)
class Employee:
    extension: str
    name: str
    email: str | None = None
    pin: str | None = None
    manager: str | None = None
    devices: tuple[Device, ...] = ()
    rules: tuple[Rule, ...] | None = None  # None: the file says nothing, keep what is stored
    # queue skills and their levels (1-10); None: the file says nothing, keep what is stored
    skills: dict[str, int] | None = None


@dataclass(frozen=True)
class Rule:
    """One row of presence_rules (ivr_app/presence/rules.py says what they mean)."""

    state: str
    action: str
    priority: int
    caller_match: dict
    devices: tuple[str, ...] = ()
    forward_to: str | None = None
    active_from: str | None = None
    active_to: str | None = None


RULE_STATES = ("available", "on_call", "meeting", "away", "dnd", "vacation")
RULE_ACTIONS = ("ring", "voicemail", "forward", "reject")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True)
class Customer:
    name: str
    phones: tuple[str, ...]
    company: str | None = None
    vip: bool = False
    language: str = "en"
    account_manager: str | None = None


@dataclass(frozen=True)
class Directory:
    employees: tuple[Employee, ...] = ()
    customers: tuple[Customer, ...] = field(default_factory=tuple)


class _Reader:
    """Typed access to one YAML mapping, collecting file:line problems instead of failing fast."""

    def __init__(self, located: yamlfile.Located, problems: list[str]):
        self.located, self.problems = located, problems

    def problem(self, path: tuple, message: str) -> None:
        self.problems.append(self.located.problem(path, message))

    def mapping(self, value: Any, path: tuple, allowed: set[str]) -> dict | None:
        if not isinstance(value, dict):
            self.problem(path, "must be a mapping")
            return None
        for key in value:
            if key not in allowed:
                self.problem((*path, key), "unknown key (expected one of: "
                             + ", ".join(sorted(allowed)) + ")")
        return value

    def string(self, d: dict, path: tuple, key: str, *, required: bool = False,
               pattern: re.Pattern | None = None, message: str = "must be a string") -> str | None:
        if key not in d or d[key] is None:
            if required:
                self.problem((*path, key), "is required")
            return None
        value = d[key]
        if not isinstance(value, str) or not value.strip():
            self.problem((*path, key), message + (" (quote it in YAML)"
                                                  if isinstance(value, int) else ""))
            return None
        if pattern and not pattern.fullmatch(value):
            self.problem((*path, key), message)
            return None
        return value

    def boolean(self, d: dict, path: tuple, key: str, default: bool) -> bool:
        value = d.get(key, default)
        if not isinstance(value, bool):
            self.problem((*path, key), "must be true or false")
            return default
        return value

    def integer(self, d: dict, path: tuple, key: str, default: int, lo: int, hi: int) -> int:
        value = d.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.problem((*path, key), f"must be an integer {lo}-{hi}")
            return default
        return value

    def sequence(self, d: dict, path: tuple, key: str) -> list:
        value = d.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem((*path, key), "must be a list")
            return []
        return value


def parse(located: yamlfile.Located) -> Directory:
    problems: list[str] = []
    r = _Reader(located, problems)
    top = r.mapping(located.data if located.data is not None else {}, (),
                    {"employees", "customers"})
    if top is None:
        raise ConfigError(problems)
    employees = [e for i, raw in enumerate(r.sequence(top, (), "employees"))
                 if (e := _employee(r, raw, ("employees", i))) is not None]
    customers = [c for i, raw in enumerate(r.sequence(top, (), "customers"))
                 if (c := _customer(r, raw, ("customers", i))) is not None]
    extensions = {}
    for i, e in enumerate(employees):
        if e.extension in extensions:
            r.problem(("employees", i, "extension"), f"extension {e.extension} appears twice")
        extensions[e.extension] = e
    for i, e in enumerate(employees):
        if e.manager and e.manager not in extensions:
            r.problem(("employees", i, "manager"), f"no employee with extension {e.manager}")
    numbers: set[str] = set()
    for i, c in enumerate(customers):
        if c.account_manager and c.account_manager not in extensions:
            r.problem(("customers", i, "account_manager"),
                      f"no employee with extension {c.account_manager}")
        for j, number in enumerate(c.phones):
            if number in numbers:
                r.problem(("customers", i, "phones", j), f"{number} belongs to two customers")
            numbers.add(number)
    if problems:
        raise ConfigError(problems)
    return Directory(tuple(employees), tuple(customers))


def _employee(r: _Reader, raw: Any, path: tuple) -> Employee | None:
    d = r.mapping(raw, path, {"extension", "name", "email", "pin", "manager", "devices",
                              "rules", "skills"})
    if d is None:
        return None
    before = len(r.problems)
    ext = r.string(d, path, "extension", required=True, pattern=EXTENSION,
                   message="must be 2-8 digits, quoted")
    name = r.string(d, path, "name", required=True)
    email = r.string(d, path, "email")
    pin = r.string(d, path, "pin", message="must be 4-12 digits, quoted")
    if pin is not None and not valid_pin(pin):
        r.problem((*path, "pin"), "must be 4-12 digits, quoted")
    manager = r.string(d, path, "manager", pattern=EXTENSION, message="must be an extension")
    devices = []
    for j, dev_raw in enumerate(r.sequence(d, path, "devices")):
        dp = (*path, "devices", j)
        dd = r.mapping(dev_raw, dp, {"kind", "destination", "enabled", "ring_delay_s",
                                     "ring_timeout_s"})
        if dd is None:
            continue
        kind = r.string(dd, dp, "kind", required=True,
                        pattern=re.compile("|".join(DEVICE_KINDS)),
                        message="must be one of: " + ", ".join(DEVICE_KINDS))
        dest = r.string(dd, dp, "destination", required=True)
        if dest is not None and (why := destination.problem(dest)):
            r.problem((*dp, "destination"), why)
        devices.append(Device(kind or "other", dest or "", r.boolean(dd, dp, "enabled", True),
                              r.integer(dd, dp, "ring_delay_s", 0, 0, 300),
                              r.integer(dd, dp, "ring_timeout_s", 25, 1, 600)))
    rules = _rules(r, d, path) if "rules" in d else None
    skills = _skills(r, d, path) if "skills" in d else None
    if len(r.problems) > before:
        return None
    return Employee(ext or "", name or "", email, pin, manager, tuple(devices), rules, skills)


def _skills(r: _Reader, d: dict, path: tuple) -> dict[str, int]:
    """skills: {support: 3, sales: 1}: what queues may offer them, with a level 1-10."""
    raw = d.get("skills") or {}
    if not isinstance(raw, dict):
        r.problem((*path, "skills"), "must be a mapping of skill: level (1-10)")
        return {}
    out = {}
    for skill, level in raw.items():
        if not isinstance(skill, str) or not SKILL.match(skill):
            r.problem((*path, "skills", str(skill)),
                      "a skill is lower-case letters, digits, - or _ (up to 40)")
        elif isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            r.problem((*path, "skills", skill), "must be a level 1-10")
        else:
            out[skill] = level
    return out


def _rules(r: _Reader, d: dict, path: tuple) -> tuple[Rule, ...]:
    """rules: [{state, action, priority?, callers?: [any|manager|vip|+E164...], devices?,
    forward_to?, from?: "HH:MM", to?: "HH:MM"}, ...]; priority defaults to the list order."""
    out: list[Rule] = []
    seen: set[tuple[str, int]] = set()
    for j, raw in enumerate(r.sequence(d, path, "rules")):
        rp = (*path, "rules", j)
        rd = r.mapping(raw, rp, {"state", "action", "priority", "callers", "devices",
                                 "forward_to", "from", "to"})
        if rd is None:
            continue
        state = r.string(rd, rp, "state", required=True,
                         pattern=re.compile("|".join(RULE_STATES)),
                         message="must be one of: " + ", ".join(RULE_STATES))
        action = r.string(rd, rp, "action", required=True,
                          pattern=re.compile("|".join(RULE_ACTIONS)),
                          message="must be one of: " + ", ".join(RULE_ACTIONS))
        priority = r.integer(rd, rp, "priority", (j + 1) * 10, 1, 10_000)
        if (state or "", priority) in seen:
            r.problem((*rp, "priority"), f"another {state} rule has priority {priority}")
        seen.add((state or "", priority))
        match: dict = {}
        for k, who in enumerate(r.sequence(rd, rp, "callers") or ["any"]):
            if who in ("any", "manager", "vip"):
                match[who] = True
            elif isinstance(who, str) and E164.fullmatch(who):
                match.setdefault("numbers", []).append(who)
            else:
                r.problem((*rp, "callers", k), "must be any, manager, vip or an E.164 number")
        kinds = []
        for k, kind in enumerate(r.sequence(rd, rp, "devices")):
            if kind not in DEVICE_KINDS:
                r.problem((*rp, "devices", k), "must be one of: " + ", ".join(DEVICE_KINDS))
            kinds.append(str(kind))
        forward = r.string(rd, rp, "forward_to")
        if action == "forward" and not forward:
            r.problem(rp, "a forward rule needs forward_to")
        start, end = r.string(rd, rp, "from"), r.string(rd, rp, "to")
        for key, value in (("from", start), ("to", end)):
            if value is not None and not HHMM.fullmatch(value):
                r.problem((*rp, key), "must be a time such as \"08:30\", quoted")
        if (start is None) != (end is None):
            r.problem(rp, "a time window needs both from and to")
        out.append(Rule(state or "", action or "", priority, match, tuple(kinds), forward,
                        start, end))
    return tuple(out)


def _customer(r: _Reader, raw: Any, path: tuple) -> Customer | None:
    d = r.mapping(raw, path, {"name", "company", "vip", "language", "account_manager", "phones"})
    if d is None:
        return None
    before = len(r.problems)
    name = r.string(d, path, "name", required=True)
    company = r.string(d, path, "company")
    vip = r.boolean(d, path, "vip", False)
    language = r.string(d, path, "language", pattern=re.compile("[a-z]{2}"),
                        message="must be a two-letter language code such as en or ru") or "en"
    manager = r.string(d, path, "account_manager", pattern=EXTENSION,
                       message="must be an extension")
    phones = []
    for j, number in enumerate(r.sequence(d, path, "phones")):
        if not isinstance(number, str) or not E164.fullmatch(number):
            r.problem((*path, "phones", j), "must be an E.164 number such as +74951234567, quoted")
        else:
            phones.append(number)
    if len(r.problems) > before:
        return None
    return Customer(name or "", tuple(phones), company, vip, language, manager)


def load_file(path: str | Path) -> Directory:
    return parse(yamlfile.load(path))


@dataclass(frozen=True)
class LoadResult:
    employees: int
    devices: int
    customers: int
    phones: int


def store(conn: psycopg.Connection, directory: Directory) -> LoadResult:
    """Upsert the directory in one transaction (by extension and phone number)."""
    devices = phones = 0
    with conn.transaction():
        ids: dict[str, int] = {}
        for e in directory.employees:
            row = conn.execute(
                """INSERT INTO employees (extension, name, email, pin_hash)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (extension) DO UPDATE
                   SET name = EXCLUDED.name, email = EXCLUDED.email,
                       pin_hash = COALESCE(EXCLUDED.pin_hash, employees.pin_hash)
                   RETURNING id""",
                (e.extension, e.name, e.email, hash_pin(e.pin) if e.pin else None),
            ).fetchone()
            assert row is not None
            ids[e.extension] = row[0]
            conn.execute(
                "INSERT INTO presence (employee_id) VALUES (%s) ON CONFLICT DO NOTHING", (row[0],)
            )
            for dev in e.devices:
                conn.execute(
                    """INSERT INTO employee_devices
                         (employee_id, kind, destination, enabled, ring_delay_s, ring_timeout_s)
                       VALUES (%s, %s, %s, %s, %s, %s)
                       ON CONFLICT (employee_id, kind, destination) DO UPDATE
                       SET enabled = EXCLUDED.enabled, ring_delay_s = EXCLUDED.ring_delay_s,
                           ring_timeout_s = EXCLUDED.ring_timeout_s""",
                    (row[0], dev.kind, dev.destination, dev.enabled, dev.ring_delay_s,
                     dev.ring_timeout_s),
                )
                devices += 1
            if e.rules is not None:  # the file lists them: they replace the stored ones
                conn.execute("DELETE FROM presence_rules WHERE employee_id = %s", (row[0],))
                for rule in e.rules:
                    conn.execute(
                        """INSERT INTO presence_rules (employee_id, state, priority,
                               caller_match, action, devices, forward_to, active_from,
                               active_to)
                           VALUES (%s, %s, %s, %s, %s, %s::device_kind[], %s, %s, %s)""",
                        (row[0], rule.state, rule.priority, Jsonb(rule.caller_match),
                         rule.action, list(rule.devices), rule.forward_to, rule.active_from,
                         rule.active_to))
            if e.skills is not None:  # the file lists them: they replace the stored ones
                conn.execute("DELETE FROM agent_skills WHERE employee_id = %s", (row[0],))
                for skill, level in e.skills.items():
                    conn.execute("INSERT INTO agent_skills (employee_id, skill, level) "
                                 "VALUES (%s, %s, %s)", (row[0], skill, level))
                if e.skills:
                    conn.execute("INSERT INTO agents (employee_id) VALUES (%s) "
                                 "ON CONFLICT DO NOTHING", (row[0],))
                else:
                    conn.execute("DELETE FROM agents WHERE employee_id = %s AND entry_id IS NULL",
                                 (row[0],))
        for e in directory.employees:
            conn.execute("UPDATE employees SET manager_id = %s WHERE id = %s",
                         (ids.get(e.manager) if e.manager else None, ids[e.extension]))
        for c in directory.customers:
            manager_id = _employee_id(conn, c.account_manager) if c.account_manager else None
            existing = conn.execute(
                "SELECT customer_id FROM customer_phone_numbers WHERE number = ANY(%s) LIMIT 1",
                (list(c.phones),),
            ).fetchone()
            if existing:
                customer_id = existing[0]
                conn.execute(
                    """UPDATE customers SET name = %s, company = %s, vip = %s, language = %s,
                       account_manager_id = %s WHERE id = %s""",
                    (c.name, c.company, c.vip, c.language, manager_id, customer_id),
                )
            else:
                row = conn.execute(
                    """INSERT INTO customers (name, company, vip, language, account_manager_id)
                       VALUES (%s, %s, %s, %s, %s) RETURNING id""",
                    (c.name, c.company, c.vip, c.language, manager_id),
                ).fetchone()
                assert row is not None
                customer_id = row[0]
            for number in c.phones:
                conn.execute(
                    """INSERT INTO customer_phone_numbers (customer_id, number) VALUES (%s, %s)
                       ON CONFLICT (number) DO UPDATE SET customer_id = EXCLUDED.customer_id""",
                    (customer_id, number),
                )
                phones += 1
    return LoadResult(len(directory.employees), devices, len(directory.customers), phones)


def _employee_id(conn: psycopg.Connection, extension: str) -> int | None:
    row = conn.execute("SELECT id FROM employees WHERE extension = %s", (extension,)).fetchone()
    return row[0] if row else None


def summary(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """What the database holds, for printing: employees with devices, customers with numbers."""
    employees = conn.execute(
        """SELECT e.extension, e.name, COALESCE(m.extension, ''), p.state::text,
                  COALESCE(string_agg(d.kind || '=' || d.destination, ', '
                                      ORDER BY d.kind, d.destination), '')
           FROM employees e
           LEFT JOIN employees m ON m.id = e.manager_id
           LEFT JOIN presence p ON p.employee_id = e.id
           LEFT JOIN employee_devices d ON d.employee_id = e.id AND d.enabled
           GROUP BY e.id, m.extension, p.state ORDER BY e.extension"""
    ).fetchall()
    customers = conn.execute(
        """SELECT c.name, COALESCE(c.company, ''), c.vip, c.language,
                  COALESCE(m.extension || ' ' || m.name, ''),
                  COALESCE(string_agg(n.number, ', ' ORDER BY n.number), '')
           FROM customers c
           LEFT JOIN employees m ON m.id = c.account_manager_id
           LEFT JOIN customer_phone_numbers n ON n.customer_id = c.id
           GROUP BY c.id, m.extension, m.name ORDER BY c.name"""
    ).fetchall()
    return {"employees": employees, "customers": customers}

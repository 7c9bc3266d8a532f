"""Configuration: defaults -> one YAML file -> environment, merged once into immutable objects.

Every section is a frozen dataclass whose fields carry their own validator (``spec``). A file with
problems yields one line per problem, naming the file, line and key::

    ivr-app.yaml:12: esl.port: must be an integer 1-65535

Environment overrides: every setting can be set as ``IVR_APP_<SECTION>_<KEY>`` (upper case,
e.g. ``IVR_APP_ESL_PASSWORD``); ``DATABASE_URL`` is honoured for ``database.url``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr_app import yamlfile
from ivr_app.errors import ConfigError

# --------------------------------------------------------------------------- value specs


class Spec:
    """Converts and checks one setting. ``message`` says what a valid value looks like."""

    message = "invalid value"
    secret = False

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def from_env(self, text: str) -> Any:
        return self.check(text)

    def show(self, value: Any) -> str:
        return "***" if self.secret and value else repr(value)


class Int(Spec):
    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self.message = f"must be an integer {lo}-{hi}"

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise ValueError(self.message)
        return value

    def from_env(self, text: str) -> int:
        try:
            return self.check(int(text.strip()))
        except ValueError:
            raise ValueError(self.message) from None


class Float(Spec):
    def __init__(self, lo: float, hi: float):
        self.lo, self.hi = lo, hi
        self.message = f"must be a number {lo:g}-{hi:g}"

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(self.message)
        if not self.lo <= value <= self.hi:
            raise ValueError(self.message)
        return float(value)

    def from_env(self, text: str) -> float:
        try:
            return self.check(float(text.strip()))
        except ValueError:
            raise ValueError(self.message) from None


class Bool(Spec):
    message = "must be true or false"
    _words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(self.message)
        return value

    def from_env(self, text: str) -> bool:
        try:
            return self._words[text.strip().lower()]
        except KeyError:
            raise ValueError(self.message) from None


class Str(Spec):
    def __init__(
        self,
        *,
        pattern: str | None = None,
        choices: tuple[str, ...] | None = None,
        allow_empty: bool = False,
        secret: bool = False,
        message: str | None = None,
    ):
        self.pattern = re.compile(pattern) if pattern else None
        self.choices = choices
        self.allow_empty = allow_empty
        self.secret = secret
        if message:
            self.message = message
        elif choices:
            self.message = "must be one of: " + ", ".join(choices)
        else:
            self.message = "must be a non-empty string" if not allow_empty else "must be a string"

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            # A YAML scalar like 0123 or 8021 is not a string: quote it in the file.
            raise ValueError(self.message + " (quote it in YAML)")
        if not value and not self.allow_empty:
            raise ValueError(self.message)
        if "\x00" in value or "\n" in value or "\r" in value:
            raise ValueError("must not contain line breaks or NUL")
        if self.choices and value not in self.choices:
            raise ValueError(self.message)
        if self.pattern and value and not self.pattern.fullmatch(value):
            raise ValueError(self.message)
        return value


class DatabaseUrl(Str):
    message = "must be a PostgreSQL URL: postgresql://user:password@host:port/dbname"
    secret = True

    def __init__(self) -> None:
        super().__init__(allow_empty=True, message=self.message)

    def check(self, value: Any) -> str:
        value = super().check(value)
        if value and not re.match(r"^(postgres|postgresql)://", value):
            raise ValueError(self.message)
        return value

    def show(self, value: Any) -> str:
        """Mask only the password: ops want to see which host a node talks to."""
        if not value:
            return "'' (unset)"
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return repr(urlunsplit(parts._replace(netloc=netloc)))
        return repr(value)


def setting(default: Any, spec: Spec, doc: str = "") -> Any:
    return field(default=default, metadata={"spec": spec, "doc": doc})


def section(cls: type) -> Any:
    return field(default_factory=cls, metadata={"section": cls})


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class ServiceConfig:
    node_name: str = setting(
        "", Str(allow_empty=True, pattern=r"[A-Za-z0-9_.-]{1,63}",
                message="must be 1-63 letters, digits, '.', '_' or '-'"),
        "this node's name in logs and cluster messages (default: the host name)",
    )
    shutdown_grace_seconds: float = setting(
        30.0, Float(0, 3600), "on SIGTERM, how long live calls may go on before they are cut"
    )


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = setting(
        "", Str(allow_empty=True, pattern=r"(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}",
                message="must be host:port, e.g. 127.0.0.1:9464"),
        "where /metrics (the Prometheus format) is served (empty: off)")


@dataclass(frozen=True)
class LoggingConfig:
    level: str = setting("info", Str(choices=("debug", "info", "warning", "error")))
    format: str = setting(
        "auto", Str(choices=("auto", "console", "json")),
        "auto: human-readable on a terminal, JSON lines otherwise",
    )


@dataclass(frozen=True)
class EslConfig:
    host: str = setting("127.0.0.1", Str(), "FreeSWITCH's Event Socket address (inbound control)")
    port: int = setting(8021, Int(1, 65535))
    password: str = setting("ClueCon", Str(secret=True))
    connect_timeout_seconds: float = setting(5.0, Float(0.1, 120))
    reconnect_min_seconds: float = setting(0.5, Float(0.05, 60))
    reconnect_max_seconds: float = setting(
        2.0, Float(0.1, 600),
        "backoff cap: every call FreeSWITCH hands over meanwhile falls back to the dialplan's "
        "own route, so a local switch is retried often")
    liveness_seconds: float = setting(
        30.0, Float(1, 600), "no HEARTBEAT or api answer for this long: the connection is dead"
    )


@dataclass(frozen=True)
class OutboundConfig:
    host: str = setting("127.0.0.1", Str(), "where the dialplan's `socket` app connects to us")
    port: int = setting(8084, Int(0, 65535), "0 picks a free port (tests)")
    max_calls: int = setting(
        500, Int(1, 100_000), "calls over this get an explicit busy answer, never silence"
    )


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = setting("", DatabaseUrl(), "or DATABASE_URL")
    pool_min: int = setting(1, Int(0, 1000))
    pool_max: int = setting(10, Int(1, 1000))
    connect_timeout_seconds: float = setting(5.0, Float(0.1, 120))
    statement_timeout_ms: int = setting(
        2000, Int(0, 3_600_000), "a query on a call path never blocks a call longer than this"
    )


_EXAMPLE_MENUS = str(Path(__file__).resolve().parents[1] / "config" / "menus.example.yaml")


@dataclass(frozen=True)
class IvrConfig:
    menus: str = setting(_EXAMPLE_MENUS, Str(), "the menus YAML (relative: to this file)")
    sounds_dir: str = setting("sounds", Str(), "recorded prompts (relative: to this file)")
    prompt_cache_dir: str = setting(
        "var/prompts", Str(), "where `ivr-app prompts build` puts rendered text prompts"
    )
    default_region: str = setting(
        "", Str(allow_empty=True, pattern=r"[A-Z]{2}",
                message="must be an ISO country code such as RU or GB"),
        "country for caller IDs without a country code (RU: 8 495 ... is +7 495 ...)",
    )
    voicemail_domain: str = setting("127.0.0.1", Str(), "the FreeSWITCH domain of mailboxes")
    company_number: str = setting(
        "", Str(allow_empty=True, pattern=r"\+[1-9][0-9]{6,14}",
                message="must be an E.164 number like +74951112233 (quoted)"),
        "the caller ID external legs present (follow-me, forwards, callbacks) when neither "
        "the queue nor the DID names one")
    ring_timeout_seconds: int = setting(25, Int(5, 300), "how long an employee's phone rings")


@dataclass(frozen=True)
class ScreenPopConfig:
    webhook_url: str = setting(
        "", Str(allow_empty=True, pattern=r"https?://\S+", message="must be an http(s) URL"),
        "POSTed a JSON card when a call is offered to an employee (empty: off)",
    )
    timeout_seconds: float = setting(2.0, Float(0.1, 60))
    retries: int = setting(5, Int(0, 20), "with exponential backoff, never holding the call")


@dataclass(frozen=True)
class RecordingConfig:
    policy: str = setting("none", Str(choices=("none", "all", "selected")),
                          "none | all calls | selected routes, queues and employees")
    routes: str = setting("", Str(allow_empty=True, pattern=r"[a-z0-9 _/,.-]*",
                                  message="must be route prefixes, comma-separated"),
                          "with policy selected: menus/queues whose calls are recorded")
    employees: str = setting("", Str(allow_empty=True, pattern=r"[0-9, ]*",
                                     message="must be extensions, comma-separated"),
                             "with policy selected: employees whose calls are recorded")
    consent_prompt: str = setting(
        "", Str(allow_empty=True), "a prompt of the menus played before recording starts"
    )
    directory: str = setting("/var/lib/freeswitch/recordings/ivr-app", Str(),
                             "where FreeSWITCH writes recordings (shared with ivr-app)")
    stereo: bool = setting(True, Bool(), "caller and employee on their own channels")
    min_seconds: int = setting(2, Int(0, 60), "shorter recordings are discarded by FreeSWITCH")


@dataclass(frozen=True)
class OutboxConfig:
    directory: str = setting(
        "var/spool/outbox", Str(),
        "the journal: every write PostgreSQL could not take (calls rows, timeline, queue, "
        "voicemails, callbacks, recordings) waits here, fsync'd, and is replayed in order")
    breaker_seconds: float = setting(
        5.0, Float(0.1, 600),
        "after a failed connection, call steps do not wait for PostgreSQL for this long "
        "(reads give their default, writes go to the journal; a probe closes it sooner)")
    probe_interval_seconds: float = setting(
        1.0, Float(0.05, 60), "how often PostgreSQL is probed and the journal replayed")
    probe_timeout_seconds: float = setting(
        2.0, Float(0.1, 60), "the deadline of one probe, and of one replayed write")
    legacy_recording_spool: str = setting(
        "var/spool/recordings", Str(),
        "where versions before the outbox spooled recordings: a pending.jsonl there is "
        "imported into the journal once, at start")


# Premium-rate and satellite ranges never reached by a forward or follow-me leg: international
# networks and Inmarsat (+870, +881, +882, +883), the International Premium Rate Service (+979),
# and the premium ranges of the countries the example site calls (US/CA 900/976, UK 09/0871,
# France 089, Germany 0900/0137, Russia 809).
DEFAULT_BLOCKED = (r"\+(870|881|882|883|979)\d* \+1(900|976)\d* \+44(9|871)\d* "
                   r"\+33(89)\d* \+49(900|137)\d* \+7809\d*")


@dataclass(frozen=True)
class PresenceConfig:
    gateway: str = setting("sofia/gateway/pstn", Str(pattern=r"[A-Za-z0-9_./-]+",
                                                      message="must be a dial-string prefix "
                                                              "such as sofia/gateway/pstn"),
                           "external numbers (mobile, home, forwards) are dialled through this")
    confirm_key: str = setting("1", Str(pattern=r"[0-9*#]", message="must be one key"),
                               "external legs press this to take the call")
    confirm_prompt: str = setting("ivr/ivr-accept_reject_voicemail.wav", Str(),
                                  "played to an external leg that answered (a file)")
    confirm_timeout_seconds: int = setting(10, Int(2, 60), "added to the ringing time so an "
                                                           "external leg can press the key")
    allowed_numbers: str = setting(r"\+[1-9]\d{6,14}", Str(),
                                   "regexes (blank-separated) an external number must match")
    blocked_numbers: str = setting(DEFAULT_BLOCKED, Str(allow_empty=True),
                                   "regexes (blank-separated) refused even when allowed")
    max_external_legs: int = setting(3, Int(0, 20), "external legs ringing at once per employee")
    timezone: str = setting("UTC", Str(), "where rules' time windows are read")
    pin_max_failures: int = setting(3, Int(1, 20), "wrong PINs before the presence menu locks")
    pin_lockout_minutes: int = setting(15, Int(1, 1440), "how long the lockout lasts")
    ringback: str = setting("tone_stream://%(2000,4000,440,480);loops=-1", Str(),
                            "what a caller hears while an employee's phones ring (a tone, "
                            "a file, or local_stream://moh for music)")
    voicemail_webhook_url: str = setting(
        "", Str(allow_empty=True, pattern=r"https?://\S+", message="must be an http(s) URL"),
        "POSTed a JSON notice of every voicemail (an SMS gateway, a chat bot; empty: off)")
    smtp_host: str = setting("", Str(allow_empty=True),
                             "mail server for voicemail e-mails to employees (empty: off)")
    smtp_port: int = setting(25, Int(1, 65535), "its port")
    smtp_from: str = setting("ivr-app@localhost", Str(pattern=r"[^@\s]+@[^@\s]+",
                                                      message="must be an e-mail address"),
                             "the From: of voicemail e-mails")


_EXAMPLE_SITE = str(Path(__file__).resolve().parents[1] / "dialplan" / "site.example.yaml")


@dataclass(frozen=True)
class QueueConfig:
    dispatch_interval_seconds: float = setting(
        0.5, Float(0.05, 10.0), "how often a waiting caller's node looks for a free agent "
                                "(a key press is acted on at once)")
    say_sounds_dirs: str = setting(
        "", Str(allow_empty=True, pattern=r"([a-z]{2}=/\S+)(\s+[a-z]{2}=/\S+)*",
                message="must be blank-separated language=/absolute/dir pairs"),
        "where FreeSWITCH's say files live per language, e.g. ru=/usr/share/freeswitch/"
        "sounds/ru/RU/elena (empty or a missing language: FreeSWITCH's global sound_prefix)")
    stats_interval_seconds: float = setting(
        5.0, Float(0.5, 3600.0), "how often one node fires the ivr_app::queue_stats event")

    def say_dir(self, language: str) -> str | None:
        for pair in self.say_sounds_dirs.split():
            lang, _, directory = pair.partition("=")
            if lang == language:
                return directory
        return None


@dataclass(frozen=True)
class DialplanConfig:
    site: str = setting(_EXAMPLE_SITE, Str(), "the site's numbers (relative: to this file)")
    target_dir: str = setting(
        "/etc/freeswitch/dialplan", Str(), "FreeSWITCH's conf/dialplan directory to deploy into"
    )


@dataclass(frozen=True)
class Config:
    service: ServiceConfig = section(ServiceConfig)
    logging: LoggingConfig = section(LoggingConfig)
    metrics: MetricsConfig = section(MetricsConfig)
    esl: EslConfig = section(EslConfig)
    outbound: OutboundConfig = section(OutboundConfig)
    database: DatabaseConfig = section(DatabaseConfig)
    ivr: IvrConfig = section(IvrConfig)
    screen_pop: ScreenPopConfig = section(ScreenPopConfig)
    dialplan: DialplanConfig = section(DialplanConfig)
    recording: RecordingConfig = section(RecordingConfig)
    outbox: OutboxConfig = section(OutboxConfig)
    presence: PresenceConfig = section(PresenceConfig)
    queue: QueueConfig = section(QueueConfig)
    source: str = field(default="<defaults>", metadata={"internal": True})

    def path(self, value: str) -> Path:
        """A path setting: relative paths are relative to the configuration file."""
        p = Path(value)
        if p.is_absolute() or self.source.startswith("<"):
            return p
        return Path(self.source).resolve().parent / p

    @property
    def node_name(self) -> str:
        return self.service.node_name or os.uname().nodename


ENV_ALIASES: Mapping[str, tuple[str, str]] = {"DATABASE_URL": ("database", "url")}

# --------------------------------------------------------------------------- loading


def load(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then the environment. Raises ConfigError."""
    if path is None:
        located = yamlfile.Located(source="<defaults>", data={})
    else:
        located = yamlfile.load(path)
    return from_located(located, environ)


def from_located(located: yamlfile.Located, environ: Mapping[str, str] | None = None) -> Config:
    problems: list[str] = []
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([located.problem((), "the file must be a mapping of sections")])
    config = _build(Config, data, (), located, problems)
    config = _apply_env(config, environ if environ is not None else {}, problems)
    problems += _cross_checks(config, located)
    if problems:
        raise ConfigError(sorted(problems, key=_by_line))
    return replace(config, source=located.source)


def _by_line(problem: str) -> tuple[int, int]:
    """File problems in line order; environment problems after them."""
    m = re.match(r"^[^:]*:(\d+):", problem)
    return (0, int(m.group(1))) if m else (1, 0)


def _build(cls: type, data: dict, path: tuple, located: yamlfile.Located, problems: list[str]):
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in known:
            problems.append(
                located.problem((*path, key), "unknown key (expected one of: "
                                + ", ".join(sorted(known)) + ")")
            )
    values: dict[str, Any] = {}
    for name, f in known.items():
        sub = (*path, name)
        if name not in data:
            continue
        raw = data[name]
        if "section" in f.metadata:
            if raw is None:
                continue
            if not isinstance(raw, dict):
                problems.append(located.problem(sub, "must be a mapping"))
                continue
            values[name] = _build(f.metadata["section"], raw, sub, located, problems)
        else:
            try:
                values[name] = f.metadata["spec"].check(raw)
            except ValueError as exc:
                problems.append(located.problem(sub, str(exc)))
    return cls(**values)


def env_name(section_name: str, key: str) -> str:
    return f"IVR_APP_{section_name}_{key}".upper()


def _apply_env(config: Config, environ: Mapping[str, str], problems: list[str]) -> Config:
    overrides: dict[tuple[str, str], tuple[str, str]] = {}
    for alias, target in ENV_ALIASES.items():
        if environ.get(alias):
            overrides[target] = (alias, environ[alias])
    for sec in _sections():
        for f in fields(sec.metadata["section"]):
            name = env_name(sec.name, f.name)
            if name in environ:
                overrides[(sec.name, f.name)] = (name, environ[name])
    for (sec_name, key), (var, text) in overrides.items():
        sec_obj = getattr(config, sec_name)
        spec: Spec = next(f for f in fields(sec_obj) if f.name == key).metadata["spec"]
        try:
            value = spec.from_env(text)
        except ValueError as exc:
            problems.append(f"environment {var}: {sec_name}.{key}: {exc}")
            continue
        config = replace(config, **{sec_name: replace(sec_obj, **{key: value})})
    return config


def _cross_checks(config: Config, located: yamlfile.Located) -> list[str]:
    out = []
    if config.esl.reconnect_min_seconds > config.esl.reconnect_max_seconds:
        out.append(located.problem(("esl", "reconnect_min_seconds"),
                                   "must not be larger than esl.reconnect_max_seconds"))
    if config.database.pool_min > config.database.pool_max:
        out.append(located.problem(("database", "pool_min"),
                                   "must not be larger than database.pool_max"))
    for key in ("allowed_numbers", "blocked_numbers"):
        for pattern in getattr(config.presence, key).split():
            try:
                re.compile(pattern)
            except re.error as exc:
                out.append(located.problem(("presence", key), f"{pattern!r}: {exc}"))
    try:
        ZoneInfo(config.presence.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        out.append(located.problem(("presence", "timezone"),
                                   f"unknown time zone {config.presence.timezone!r}"))
    return out


def _sections():
    return [f for f in fields(Config) if "section" in f.metadata]


def describe(config: Config) -> list[str]:
    """The effective configuration, one ``key = value`` line each, secrets masked."""
    lines = []
    for sec in _sections():
        obj = getattr(config, sec.name)
        for f in fields(obj):
            lines.append(f"{sec.name}.{f.name} = {f.metadata['spec'].show(getattr(obj, f.name))}")
    return lines


def defaults_reference() -> list[tuple[str, str, str, str]]:
    """(key, default, env var, doc) for every setting: the README's configuration table."""
    rows = []
    for sec in _sections():
        for f in fields(sec.metadata["section"]):
            default = f.default if f.default is not MISSING else ""
            rows.append((f"{sec.name}.{f.name}", repr(default), env_name(sec.name, f.name),
                         f.metadata.get("doc", "")))
    return rows

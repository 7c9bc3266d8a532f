"""The one quoting gate: every value from outside on its way into FreeSWITCH passes here.

Caller ID, DTMF, database fields and configuration values all end up in ESL command lines,
``sendmsg`` headers, application arguments or dial strings. ``quote(value, target)`` refuses
what can never be safe there (CR, LF, NUL: they would end the header or command and let the
value write its own), escapes what the target syntax needs, and neutralises FreeSWITCH's
``${var}`` / ``$${global}`` / ``${api args}`` expansion, which would otherwise let a caller-ID name
read channel variables or run API commands.

How FreeSWITCH treats an application argument (src/switch_channel.c,
``switch_channel_expand_variables_check``): expansion runs only if the text holds ``${`` or
escaped data (``\\\\``, ``\\'``, ...); then ``\\$`` is a literal dollar and ``\\\\`` a backslash.
So a value that needs it gets every backslash doubled and every dollar escaped; one that does
not is left alone (escaping it would leave the backslashes in, since nothing would expand).
Blank-separated arguments (play_and_get_digits, say) are then split by
``switch_separate_string``: single quotes group words (a prompt path with spaces).
``ivr_app/testing/fakeswitch/fsstrings.py`` models both; tests/esl/test_quoting.py checks the
gate against it with hypothesis.
"""

from __future__ import annotations

import enum
import re

from ivr_app.errors import IvrAppError


class UnsafeValue(IvrAppError, ValueError):
    code = "unsafe-esl-value"
    exit_code = 2


class Target(enum.Enum):
    HEADER = "header"  # a sendmsg header value or an api/command argument: one line
    APP_ARG = "app-arg"  # a whole application argument (expanded by FreeSWITCH)
    SET_VALUE = "set-value"  # the value of the `set` application: expanded twice (see below)
    REGEX = "regex"  # a regular expression word of a blank-separated argument
    ARG_TOKEN = "arg-token"  # noqa: S105 - one word of a blank-separated application argument
    VAR_NAME = "var-name"  # a channel variable name
    UUID = "uuid"  # a channel / job UUID
    DIAL_TARGET = "dial-target"  # one leg of a dial string: user/1001, +7495..., sofia/gw/x/123
    DIAL_VAR = "dial-var"  # a value inside {name=value} / [name=value] of a dial string
    DTMF = "dtmf"  # digits to send: 0-9 * # A-D, w/W pauses


_FORBIDDEN = re.compile(r"[\r\n\x00]")
ENTERPRISE = ":_:"  # FreeSWITCH's enterprise originate separator
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# user/1001, +74951234567, 1001, sofia/gateway/gw1/+7495..., loopback/7100/public, error/USER_BUSY
_DIAL_TARGET = re.compile(r"^[A-Za-z0-9+*#_.@:/=%-]{1,200}$")
# () , ; for values such as tone_stream://%(300,0,440); a , in a value makes dialstring.py
# switch the variable separator with FreeSWITCH's ^^ syntax
# (letters of any script: a caller's name in Cyrillic is as harmless as in Latin)
_DIAL_VAR = re.compile(r"^[\w +*#.@:/%(),;=-]{0,200}$")
_NOT_DISPLAY = re.compile(r"[^\w .+()@-]+")
_NOT_NUMBER = re.compile(r"[^0-9A-Za-z+*#._-]+")
_DTMF = re.compile(r"^[0-9*#A-Da-dwW]{1,64}$")


def _expansion_sensitive(value: str) -> bool:
    """Would FreeSWITCH run variable expansion over this text? (see the module doc)"""
    dol = False
    for ch in value:
        if ch == "$":
            dol = True
        elif dol:
            if ch == "{":
                return True
            if ch != "\\":
                dol = False
    return "\\" in value


def _neutralise(value: str) -> str:
    if not _expansion_sensitive(value):
        return value
    return value.replace("\\", "\\\\").replace("$", "\\$")


def quote(value: object, target: Target, what: str = "value") -> str:
    """``value`` made safe for ``target``, or :class:`UnsafeValue` naming ``what``."""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnsafeValue(f"{what}: expected text, got {type(value).__name__}")
        value = str(value)
    if _FORBIDDEN.search(value):
        raise UnsafeValue(f"{what}: line breaks and NUL are not allowed: {value!r}")
    if target is Target.HEADER:
        return value
    if target is Target.APP_ARG:
        return _neutralise(value)
    if target is Target.SET_VALUE:
        # mod_dptools base_set() expands the value again after the application argument was
        # expanded once, so it needs neutralising twice.
        return _neutralise(_neutralise(value))
    if target is Target.REGEX:
        if not value or " " in value or "'" in value or '"' in value:
            raise UnsafeValue(f"{what}: a regex here cannot hold blanks or quotes: {value!r}")
        if re.search(r"\\(?:[\\nrts'\"]|$)", value):
            raise UnsafeValue(f"{what}: \\\\, \\n, \\r, \\t, \\s would be unescaped by "
                              f"FreeSWITCH; use a class like [0-9] or [ ] instead: {value!r}")
        return value
    if target is Target.ARG_TOKEN:
        if not value:
            raise UnsafeValue(f"{what}: empty word in a blank-separated argument")
        if "'" in value or "\\" in value:
            raise UnsafeValue(f"{what}: quotes and backslashes are not allowed here: {value!r}")
        if value.startswith("^^"):
            raise UnsafeValue(f"{what}: must not start with ^^ (delimiter change)")
        return f"'{value}'" if " " in value else value
    if target is Target.VAR_NAME:
        if not _VAR_NAME.match(value):
            raise UnsafeValue(f"{what}: not a channel variable name: {value!r}")
        return value
    if target is Target.UUID:
        if not _UUID.match(value):
            raise UnsafeValue(f"{what}: not a UUID: {value!r}")
        return value.lower()
    if target in (Target.DIAL_TARGET, Target.DIAL_VAR) and ENTERPRISE in value:
        # switch_ivr_originate splits the whole dial string on :_: before it reads a leg or
        # a {variable}: one value could add a leg of its own
        raise UnsafeValue(f"{what}: {ENTERPRISE} starts another dial string: {value!r}")
    if target is Target.DIAL_TARGET:
        if not _DIAL_TARGET.match(value) or "${" in value:
            raise UnsafeValue(f"{what}: not a safe dial target: {value!r}")
        return value
    if target is Target.DIAL_VAR:
        if not _DIAL_VAR.match(value):
            raise UnsafeValue(f"{what}: not allowed in a dial-string variable: {value!r}")
        return f"'{value}'" if " " in value else value
    if target is Target.DTMF:
        if not _DTMF.match(value):
            raise UnsafeValue(f"{what}: not DTMF digits: {value!r}")
        return value
    raise AssertionError(target)  # pragma: no cover - exhaustive


def display_name(value: str, limit: int = 80) -> str:
    """A caller's name as the name shown on the phones we ring (``origination_caller_id_name``).

    FreeSWITCH copies the caller's display name into the From of every leg, and sofia cannot
    build an INVITE from one holding ``\\"`` ("Error creating HANDLE!", the bridge fails with
    DESTINATION_OUT_OF_ORDER: outbound-sip-quoted-display). So only letters, digits and a few
    harmless marks pass; everything else becomes a blank. The stored name stays verbatim."""
    return " ".join(_NOT_DISPLAY.sub(" ", value).split())[:limit]


def caller_number(value: str, limit: int = 40) -> str:
    """A caller's number as shown on the phones we ring, when it is not E.164: passed as it
    came (an internal extension, ``anonymous``), minus anything a dial string cannot hold."""
    return _NOT_NUMBER.sub("", value)[:limit]


def file_string(paths: list[str], always: bool = False) -> str:
    """Files played one after the other as one (mod_dptools ``file_string://a!b``): a prompt
    that play_and_get_digits ends at the first key, or an announcement displaced over music.
    One path is returned as it is, unless ``always``: a displaced announcement keeps the
    prefix so that a relative say file is read under sound_prefix (mod_file_string does that,
    uuid_displace on a bare path does not). ``!`` separates the parts, so no part may hold
    one."""
    if not paths:
        raise UnsafeValue("file_string: no files")
    for path in paths:
        if "!" in path or not path:
            raise UnsafeValue(f"file_string part: empty or holding '!': {path!r}")
    if len(paths) == 1 and not always:
        return paths[0]
    return "file_string://" + "!".join(paths)


def app_args(*words: object, what: str = "argument") -> str:
    """A blank-separated application argument built from words, each through the gate.

    A word given as ``Regex("...")`` is checked as a regular expression instead."""
    parts = [quote(w.pattern, Target.REGEX, what) if isinstance(w, Regex)
             else quote(w, Target.ARG_TOKEN, what) for w in words]
    return quote(" ".join(parts), Target.APP_ARG, what)


class Regex:
    """Marks a word of :func:`app_args` as a regular expression (backslashes allowed)."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str):
        self.pattern = pattern

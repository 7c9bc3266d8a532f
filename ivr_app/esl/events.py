"""Events: the three serialisations FreeSWITCH sends, behind one read-only interface.

* ``text/event-plain``: the body is itself a header block with url-encoded values, optionally
  followed by an inner ``Content-Length`` and a body of its own (BACKGROUND_JOB results, CUSTOM
  payloads). greenswitch folds that inner body into the last header; here it is ``event.body``.
* ``text/event-json``: not url-encoded; the body is under ``_body``.
* ``text/event-xml``: url-encoded values inside XML elements; the body is ``<body>``.

Plain events are decoded lazily: dispatch reads ``name`` and ``unique_id`` with a byte search,
and the whole header dict is only built when a handler asks for a header that is not cached.
Each value is decoded on its own, so an encoded line break inside a value stays inside it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import unquote

from ivr_app.esl.wire import (
    Message,
    ProtocolError,
    _keys,
    decode,
    header_value,
    parse_headers,
    parse_headers_multi,
)


class Event:
    """Read-only access to one event's headers and body."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    @property
    def unique_id(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def body(self) -> str:
        raise NotImplementedError

    @property
    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def get(self, name: str, default: str | None = None) -> str | None:
        raise NotImplementedError

    def variable(self, name: str, default: str | None = None) -> str | None:
        return self.get("variable_" + name, default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.unique_id or ''}>"


def _head_end(payload: bytes) -> int:
    """Where the header block of a serialized plain event ends.

    Searching for the blank line directly is slow (a line break ends every one of ~100
    lines). FreeSWITCH writes an inner ``Content-Length`` only when a body follows, as the
    last header; values never hold a raw line break. So without that header the block ends
    at the payload's final blank line, and with it, at the first blank line after it."""
    i = payload.find(b"\nContent-Length: ")
    if i >= 0:
        end = payload.find(b"\n\n", i)
        return end if end >= 0 else len(payload.rstrip(b"\n"))
    if payload.endswith(b"\n\n"):
        return len(payload) - 2
    end = payload.find(b"\n\n")
    return end if end >= 0 else len(payload.rstrip(b"\n"))


class PlainEvent(Event):
    """A plain event over its payload bytes: headers are searched in place (never past the
    blank line that ends them) and decoded one by one, on first use."""

    __slots__ = ("_end_cache", "_headers", "_payload", "_uid", "name")

    def __init__(self, payload: bytes):
        self._payload = payload
        self._end_cache = -1
        self._headers: dict[str, str] | None = None
        self._uid: str | bool | None = False
        if payload[:12] == b"Event-Name: ":  # nearly always the first line
            self.name = payload[12:payload.find(b"\n", 12)].decode("latin-1")
        else:  # CUSTOM / sendevent: Event-Subclass or Command first
            raw = header_value(payload, b"Event-Name", self._end)
            self.name = raw.decode("latin-1") if raw is not None else ""

    @property
    def _end(self) -> int:
        if self._end_cache < 0:
            self._end_cache = _head_end(self._payload)
        return self._end_cache

    @property
    def raw_head(self) -> bytes:
        return self._payload[:self._end]

    @property
    def unique_id(self) -> str | None:
        uid = self._uid
        if uid is False:
            # the hot path of dispatch. Unique-ID sits early in the block; rather than finding
            # the block's end (a scan of the whole event), check that no inner Content-Length
            # (FreeSWITCH's last header, right before a body) comes before the match.
            p = self._payload
            i = p.find(b"\nUnique-ID: ")
            if i < 0 or p.find(b"\nContent-Length: ", 0, i) >= 0:
                uid = None
            else:
                j = p.find(b"\n", i + 12)
                raw = p[i + 12:j]
                uid = decode(raw, True) if b"%" in raw else raw.decode("latin-1")
            self._uid = uid
        return uid  # type: ignore[return-value]

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._headers is not None:
            return self._headers.get(name, default)
        p = self._payload
        first, later = _keys(name.encode())
        if p.startswith(first):
            start = len(first)
        else:
            i = p.find(later)
            # in the header block only: either its end is known, or no inner Content-Length
            # (the last header, right before a body) comes before the match
            if i < 0 or (self._end_cache >= 0 and i > self._end_cache) or \
                    (self._end_cache < 0 and p.find(b"\nContent-Length: ", 0, i) >= 0):
                return default
            start = i + len(later)
        stop = p.find(b"\n", start)
        raw = p[start:stop] if stop >= 0 else p[start:].rstrip(b"\n")
        if b"%" in raw:
            return decode(raw, True)
        return raw.decode("utf-8", "replace")

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = parse_headers(self.raw_head, True)
        return self._headers

    def all_headers(self) -> list[tuple[str, str]]:
        """Every header in wire order, duplicates included."""
        return parse_headers_multi(self.raw_head, True)

    @property
    def body(self) -> str:
        p, end = self._payload, self._end
        if end + 2 >= len(p):
            return ""
        length = header_value(p, b"Content-Length", end)
        if length is None or not length.isdigit():
            return ""
        return p[end + 2:end + 2 + int(length)].decode("utf-8", "replace")


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


class DictEvent(Event):
    """An event already decoded into a dict (JSON and XML events, simulator-made events)."""

    __slots__ = ("_body", "_headers")

    def __init__(self, headers: dict[str, str], body: str = ""):
        self._headers = headers
        self._body = body

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._headers.get(name, default)
        return value if value is None or isinstance(value, str) else str(value)

    @property
    def headers(self) -> dict[str, str]:
        return self._headers

    @property
    def body(self) -> str:
        return self._body


def json_event(payload: bytes) -> DictEvent:
    data = json.loads(payload, object_pairs_hook=_first_wins)
    if not isinstance(data, dict):
        raise TypeError(f"a JSON event is an object, not {type(data).__name__}")
    body = data.pop("_body", "")
    return DictEvent({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()},
                     body)


def xml_event(payload: bytes) -> DictEvent:
    root = ET.fromstring(payload)  # noqa: S314 - trusted peer (FreeSWITCH); no DTDs are sent
    headers: dict[str, str] = {}
    hdrs = root.find("headers")
    for el in (hdrs if hdrs is not None else []):
        headers.setdefault(el.tag, unquote(el.text or ""))
    body_el = root.find("body")
    return DictEvent(headers, body_el.text or "" if body_el is not None else "")


def event_from_message(msg: Message) -> Event | None:
    """The event carried by a ``text/event-*`` message, or None for other messages. A JSON or
    XML body that does not decode (a corrupted stream) is a ProtocolError, like bad framing:
    the connection is closed and made again, the reader never dies of it."""
    ct = msg.content_type
    if ct == "text/event-plain":
        return PlainEvent(msg.body)
    try:
        if ct == "text/event-json":
            return json_event(msg.body)
        if ct == "text/event-xml":
            return xml_event(msg.body)
    except (ValueError, TypeError, AttributeError, ET.ParseError) as exc:
        raise ProtocolError(f"{ct} body does not decode: {exc}") from None
    return None

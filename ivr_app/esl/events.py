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

from ivr_app.esl.wire import Message, decode, header_value, parse_headers, parse_headers_multi


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


class PlainEvent(Event):
    __slots__ = ("_body", "_headers", "_name", "_uid", "raw_head")

    def __init__(self, payload: bytes):
        end = payload.find(b"\n\n")
        if end < 0:
            head, rest = payload.rstrip(b"\n"), b""
        else:
            head, rest = payload[:end], payload[end + 2:]
        self.raw_head = head
        length = header_value(head, b"Content-Length")
        if length is not None and length.isdigit():
            self._body: bytes = rest[: int(length)]
        else:
            self._body = b""
        self._headers: dict[str, str] | None = None
        self._name: str | None = None
        self._uid: str | bool | None = False

    @property
    def name(self) -> str:
        if self._name is None:
            raw = header_value(self.raw_head, b"Event-Name")
            self._name = raw.decode("latin-1") if raw is not None else ""
        return self._name

    @property
    def unique_id(self) -> str | None:
        if self._uid is False:
            raw = header_value(self.raw_head, b"Unique-ID")
            self._uid = decode(raw, True) if raw is not None else None
        return self._uid  # type: ignore[return-value]

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._headers is not None:
            return self._headers.get(name, default)
        raw = header_value(self.raw_head, name.encode())
        return decode(raw, True) if raw is not None else default

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
        return self._body.decode("utf-8", "replace")


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
    """The event carried by a ``text/event-*`` message, or None for other messages."""
    ct = msg.content_type
    if ct == "text/event-plain":
        return PlainEvent(msg.body)
    if ct == "text/event-json":
        return json_event(msg.body)
    if ct == "text/event-xml":
        return xml_event(msg.body)
    return None

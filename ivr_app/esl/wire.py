"""Event Socket framing: bytes in, messages out.

A message is a block of ``Name: value`` lines up to an empty line; when the block has a
``Content-Length`` header exactly that many body bytes follow. Header order is not fixed
(``api/response`` puts Content-Type first, events put Content-Length first, the outbound
``connect`` reply ends with Content-Type), so everything is found by name.

greenswitch defects fixed here (see tests/esl/test_greenswitch_defects.py):

* greenswitch ``ESLEvent.parse_data`` URL-decodes the *whole* block before splitting it into
  lines, so a value holding ``%0A`` becomes a line break and can forge headers (a caller-ID name
  ``Evil%0AUnique-ID%3A%20<uuid>`` rewrites Unique-ID). Here the block is split first and each
  value is decoded on its own, and only where FreeSWITCH encoded it (serialized events).
* greenswitch reads line by line with ``readline()`` (one Python call per header) and decodes
  every header of every event. Here a whole read is framed with ``bytes.find`` and headers are
  decoded lazily, on first access.

Limits: a header block over ``max_head`` bytes or a body over ``max_body`` is a protocol error
(a peer that is not FreeSWITCH, or corruption), not something to buffer forever.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# caps on what one peer can make us buffer: a header block, its header count, a body
# (`show channels as json` with 4000 calls is about 8 MB)
MAX_HEAD = 256 * 1024
MAX_HEADERS = 1000
MAX_BODY = 16 * 1024 * 1024

_CL = b"Content-Length: "
_CT = b"Content-Type: "


class ProtocolError(Exception):
    """The byte stream is not Event Socket framing."""


_KEYS: dict[bytes, tuple[bytes, bytes]] = {}


def _keys(name: bytes) -> tuple[bytes, bytes]:
    k = _KEYS.get(name)
    if k is None:
        k = _KEYS[name] = (name + b": ", b"\n" + name + b": ")
        if len(_KEYS) > 4096:  # names come from code, not the wire; this is only a guard
            _KEYS.clear()
    return k


def header_value(head: bytes, name: bytes, end: int = -1) -> bytes | None:
    """The raw (undecoded) value of the first header ``name`` in ``head[:end]``, or None."""
    if end < 0:
        end = len(head)
    first, later = _keys(name)
    if head.startswith(first):
        start = len(first)
    else:
        i = head.find(later, 0, end)
        if i < 0:
            return None
        start = i + len(later)
    stop = head.find(b"\n", start, end)
    return head[start:end] if stop < 0 else head[start:stop]


def decode(raw: bytes, urlencoded: bool) -> str:
    text = raw.decode("utf-8", "replace")
    if urlencoded and "%" in text:
        return unquote(text, errors="replace")
    return text


def parse_headers(head: bytes, urlencoded: bool) -> dict[str, str]:
    """All headers of a block, each value decoded on its own; the first of duplicates wins."""
    out: dict[str, str] = {}
    for line in head.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b": ")
        if not sep:
            # "Name:" with an empty value is written without the space
            name, sep, value = line.partition(b":")
            if not sep:
                continue
        key = name.decode("utf-8", "replace")
        if key not in out:
            out[key] = decode(value, urlencoded)
    return out


def parse_headers_multi(head: bytes, urlencoded: bool) -> list[tuple[str, str]]:
    """Every header line in order, duplicates kept (CODEC repeats Channel-Write-Codec-Name)."""
    out = []
    for line in head.split(b"\n"):
        name, sep, value = line.partition(b": ")
        if not sep:
            name, sep, value = line.partition(b":")
            if not sep:
                continue
        out.append((name.decode("utf-8", "replace"), decode(value, urlencoded)))
    return out


class Message:
    """One framed message: its header block and its body, decoded only when asked."""

    __slots__ = ("_ct", "_head", "_headers", "body")

    def __init__(self, head: bytes | None, body: bytes = b"", content_type: str | None = None):
        # head None: an event frame, fully described by its length and content type
        self._head = head
        self.body = body
        self._ct = content_type
        self._headers: dict[str, str] | None = None

    @property
    def head(self) -> bytes:
        if self._head is None:
            self._head = f"Content-Length: {len(self.body)}\nContent-Type: {self._ct}".encode()
        return self._head

    @property
    def content_type(self) -> str:
        if self._ct is None:
            raw = header_value(self.head, b"Content-Type")
            self._ct = raw.decode("latin-1") if raw is not None else ""
        return self._ct

    @property
    def is_serialized_event(self) -> bool:
        """The outbound ``connect`` reply is a whole serialized event, url-encoded values and all
        (even ``Reply-Text: %2BOK%0A``); ordinary replies are not encoded."""
        return self.head.startswith(b"Event-Name: ") or b"\nEvent-Name: " in self.head

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = parse_headers(self.head, self.is_serialized_event)
        return self._headers

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def reply_text(self) -> str:
        return self.headers.get("Reply-Text", "")

    def __repr__(self) -> str:
        return f"<Message {self.content_type} head={len(self.head)}B body={len(self.body)}B>"


class Framer:
    """Incremental framer: ``feed(bytes)`` returns the messages completed by those bytes."""

    __slots__ = ("_pending_ct", "_pending_head", "_pending_len", "_rest", "max_body", "max_head")

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY):
        self._rest = b""
        self._pending_head: bytes | None = None
        self._pending_len = 0
        self._pending_ct: str | None = None
        self.max_head = max_head
        self.max_body = max_body

    @property
    def buffered(self) -> int:
        return len(self._rest)

    def feed(self, data: bytes) -> list[Message]:
        return [Message(None, m, "text/event-plain") if type(m) is bytes else m
                for m in self.feed_fast(data)]

    def feed_fast(self, data: bytes) -> list[Message | bytes]:
        """Like :meth:`feed`, in order, but a plain event comes as its payload ``bytes`` (no
        Message object): the receive loop's hot path."""
        out: list[Message | bytes] = []
        append = out.append
        head, length, ct = self._pending_head, self._pending_len, self._pending_ct
        rest = self._rest
        pos = 0
        if head is not None and rest:
            # a body was cut by the last read: complete it without copying the whole new read
            need = length - len(rest)
            if len(data) < need:
                self._rest = rest + data
                return out
            body = rest + data[:need]
            if ct == "text/event-plain":
                append(body)
            else:
                append(Message(head, body, ct))
            head, rest, pos = None, b"", need
        # immutable bytes: one copy per slice (a bytearray slice would need two)
        buf = rest + data if rest else bytes(data)
        n = len(buf)
        find = buf.find
        match, plain = _EVENT_FRAME, _PLAIN_FRAME
        max_body = self.max_body
        while True:
            if head is None:
                m = plain(buf, pos)
                if m is not None:
                    # fastest path, a plain event frame
                    length = int(m[1])
                    start = m.end()
                    if length <= max_body and n - start >= length:
                        pos = start + length
                        append(buf[start:pos])
                        continue
                m = match(buf, pos)
                if m is not None:
                    # fast path, the event frame: one C-level match instead of a header parse
                    length = int(m.group(1))
                    start = m.end()
                    if length > max_body:
                        raise ProtocolError(f"Content-Length {length} out of range")
                    if n - start < length:  # the payload is still on its way
                        head, ct, pos = buf[pos:start - 2], _CT_NAMES[m.group(2)], start
                        break
                    pos = start + length
                    kind = m.group(2)
                    if kind == b"text/event-plain":
                        append(buf[start:pos])
                    else:
                        append(Message(None, buf[start:pos], _CT_NAMES[kind]))
                    continue
                if pos < n and buf[pos] == 10:
                    # FreeSWITCH never sends blank lines between messages; tolerate them
                    pos += 1
                    continue
                end = find(b"\n\n", pos)
                if end < 0:
                    if n - pos > self.max_head:
                        raise ProtocolError(f"header block over {self.max_head} bytes")
                    break
                head = buf[pos:end]
                if head.count(b"\n") >= MAX_HEADERS:
                    raise ProtocolError(f"more than {MAX_HEADERS} headers in one message")
                pos = end + 2
                ct = None
                raw_len = header_value(head, b"Content-Length")
                if raw_len is None:
                    append(Message(head))
                    head = None
                    continue
                try:
                    length = int(raw_len)
                except ValueError:
                    raise ProtocolError(f"bad Content-Length {raw_len!r}") from None
                if length < 0 or length > max_body:
                    raise ProtocolError(f"Content-Length {length} out of range")
            if n - pos < length:
                break
            if ct == "text/event-plain":
                append(buf[pos:pos + length])
            else:
                append(Message(head, buf[pos:pos + length], ct))
            pos += length
            head = None
        self._pending_head, self._pending_len, self._pending_ct = head, length, ct
        self._rest = buf[pos:] if pos < n else b""
        return out


_PLAIN_FRAME = re.compile(rb"Content-Length: (\d{1,9})\nContent-Type: text/event-plain\n\n").match
_EVENT_FRAME = re.compile(
    rb"Content-Length: (\d{1,9})\nContent-Type: (text/event-(?:plain|json|xml))\n\n").match
_CT_NAMES = {b"text/event-plain": "text/event-plain", b"text/event-json": "text/event-json",
             b"text/event-xml": "text/event-xml"}

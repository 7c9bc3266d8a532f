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

from urllib.parse import unquote

MAX_HEAD = 256 * 1024
MAX_BODY = 64 * 1024 * 1024

_CL = b"Content-Length: "
_CT = b"Content-Type: "


class ProtocolError(Exception):
    """The byte stream is not Event Socket framing."""


def header_value(head: bytes, name: bytes) -> bytes | None:
    """The raw (undecoded) value of the first header ``name`` in a header block, or None."""
    if head.startswith(name) and head[len(name):len(name) + 2] == b": ":
        start = len(name) + 2
    else:
        i = head.find(b"\n" + name + b": ")
        if i < 0:
            return None
        start = i + len(name) + 3
    end = head.find(b"\n", start)
    return head[start:] if end < 0 else head[start:end]


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

    __slots__ = ("_headers", "body", "head")

    def __init__(self, head: bytes, body: bytes = b""):
        self.head = head
        self.body = body
        self._headers: dict[str, str] | None = None

    @property
    def content_type(self) -> str:
        raw = header_value(self.head, b"Content-Type")
        return raw.decode("latin-1") if raw is not None else ""

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

    __slots__ = ("_buf", "_pending_head", "_pending_len", "max_body", "max_head")

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY):
        self._buf = bytearray()
        self._pending_head: bytes | None = None
        self._pending_len = 0
        self.max_head = max_head
        self.max_body = max_body

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        buf = self._buf
        buf += data
        out: list[Message] = []
        pos = 0
        n = len(buf)
        while True:
            head = self._pending_head
            if head is None:
                # FreeSWITCH never sends blank lines between messages; tolerate them anyway
                while pos < n and buf[pos] == 10:
                    pos += 1
                end = buf.find(b"\n\n", pos)
                if end < 0:
                    if n - pos > self.max_head:
                        raise ProtocolError(f"header block over {self.max_head} bytes")
                    break
                head = bytes(buf[pos:end])
                pos = end + 2
                raw_len = header_value(head, b"Content-Length")
                if raw_len is None:
                    out.append(Message(head))
                    continue
                try:
                    length = int(raw_len)
                except ValueError:
                    raise ProtocolError(f"bad Content-Length {raw_len!r}") from None
                if length < 0 or length > self.max_body:
                    raise ProtocolError(f"Content-Length {length} out of range")
                self._pending_head, self._pending_len = head, length
            length = self._pending_len
            if n - pos < length:
                break
            out.append(Message(head, bytes(buf[pos:pos + length])))
            pos += length
            self._pending_head = None
        if pos:
            del buf[:pos]
        return out

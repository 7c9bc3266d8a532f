"""Events on the wire exactly as FreeSWITCH 1.10 writes them (src/switch_event.c).

* plain: ``Name: value\\n`` per header, values url-encoded by ``switch_url_encode`` (bytes
  outside ' '..'~' and ``\\r\\n #%&+:;<=>?@[\\]^`{|}"`` become %XX, but an existing %XX is kept
  as it is), an empty value is written ``_undef_``; then ``Content-Length: N\\n\\n<body>`` or a
  blank line.
* json: one compact object, values not encoded, ``"Content-Length"`` (a string) and ``"_body"``.
* xml: ``<event>`` / ``<headers>`` with url-encoded text, ``<Content-Length>`` and ``<body>``.

The socket frame around them is ``Content-Length: N\\nContent-Type: text/event-<fmt>\\n\\n``,
written with a send of its own before the payload, as mod_event_socket does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from xml.sax.saxutils import escape

Headers = Sequence[tuple[str, str]]

_UNSAFE = set(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = b"0123456789ABCDEF"
_HEXSET = set(_HEX)


def url_encode(value: str) -> str:
    raw = value.encode("utf-8")
    out = bytearray()
    n = len(raw)
    for i, b in enumerate(raw):
        if b == 0x25 and i + 2 < n + 1 and n - i > 1 and i + 2 < n and \
                raw[i + 1] in _HEXSET and raw[i + 2] in _HEXSET:
            out.append(b)  # already encoded: switch_url_encode does not double-encode
        elif b < 0x20 or b > 0x7E or b in _UNSAFE:
            out += b"%" + bytes((_HEX[b >> 4], _HEX[b & 15]))
        else:
            out.append(b)
    return out.decode("ascii")


def plain(headers: Headers, body: str | None = None) -> bytes:
    lines = [f"{k}: {url_encode(v) if v else '_undef_'}\n" for k, v in headers]
    text = "".join(lines)
    if body:
        b = body.encode("utf-8")
        return text.encode("ascii") + f"Content-Length: {len(b)}\n\n".encode() + b
    return text.encode("ascii") + b"\n"


def to_json(headers: Headers, body: str | None = None) -> bytes:
    # written by hand: a repeated header is a repeated key, as cJSON writes it
    parts = [f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False)}" for k, v in headers]
    if body:
        parts.append(f'"Content-Length":"{len(body.encode())}"')
        parts.append(f'"_body":{json.dumps(body, ensure_ascii=False)}')
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def to_xml(headers: Headers, body: str | None = None) -> bytes:
    out = ["<event>\n  <headers>\n"]
    for k, v in headers:
        out.append(f"    <{k}>{escape(url_encode(v))}</{k}>\n")
    out.append("  </headers>\n")
    if body:
        out.append(f"  <Content-Length>{len(body.encode())}</Content-Length>\n")
        out.append(f"  <body>{escape(body)}</body>\n")
    out.append("</event>\n")
    return "".join(out).encode("utf-8")


FORMATS = {"plain": plain, "json": to_json, "xml": to_xml}


def event_frame(fmt: str, headers: Headers, body: str | None = None) -> tuple[bytes, bytes]:
    """(outer header block, payload): two writes, as mod_event_socket sends them."""
    payload = FORMATS[fmt](headers, body)
    return (f"Content-Length: {len(payload)}\nContent-Type: text/event-{fmt}\n\n".encode(),
            payload)


def reply(text: str, extra: Headers = ()) -> bytes:
    """A ``command/reply`` (not url-encoded, no body)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def api_response(body: str) -> bytes:
    b = body.encode("utf-8")
    return f"Content-Type: api/response\nContent-Length: {len(b)}\n\n".encode() + b


DISCONNECT_BODY = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


LOG_NAMES = {0: "CONSOLE", 1: "ALERT", 2: "CRIT", 3: "ERR", 4: "WARNING", 5: "NOTICE",
             6: "INFO", 7: "DEBUG"}


def log_data(level: int, text: str, file: str, func: str, line: int) -> bytes:
    """A ``log/data`` message as mod_event_socket sends it (User-Data empty, body = the line)."""
    import time as _time

    now = _time.time()
    stamp = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    body = f"{stamp} 99.00% [{LOG_NAMES.get(level, 'DEBUG')}] {file}:{line} {text}\n".encode()
    head = (f"Content-Type: log/data\nContent-Length: {len(body)}\nLog-Level: {level}\n"
            f"Text-Channel: 3\nLog-File: {file}\nLog-Func: {func}\nLog-Line: {line}\n"
            f"User-Data: \n\n")
    return head.encode() + body


def disconnect_notice(session_uuid: str | None = None) -> bytes:
    b = DISCONNECT_BODY.encode()
    if session_uuid:
        head = (f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n"
                f"Content-Disposition: disconnect\nContent-Length: {len(b)}\n\n")
    else:
        head = f"Content-Type: text/disconnect-notice\nContent-Length: {len(b)}\n\n"
    return head.encode() + b


def linger_notice(session_uuid: str, channel_name: str, linger: int = -1) -> bytes:
    return (f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {session_uuid}\n"
            f"Content-Disposition: linger\nChannel-Name: {channel_name}\n"
            f"Linger-Time: {linger}\nContent-Length: 0\n\n").encode()


def connect_reply(headers: Headers) -> bytes:
    """The outbound ``connect`` reply: the channel data as a serialized (encoded) event, then
    Content-Type, Reply-Text (encoded "+OK\\n"), Socket-Mode and Control as the last headers."""
    all_headers = [*headers, ("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"),
                   ("Socket-Mode", "async"), ("Control", "full")]
    return plain(all_headers)

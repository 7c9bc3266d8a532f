"""The parser fed 1,000,000 generated frames (issue 13): real captured messages, mutated
(bytes flipped, cut, doubled, lengths lied about) and cut at random points, through the framer
and the event decoders. Nothing but ProtocolError may come out, and what is buffered stays
under the caps (header block 256 KiB, body 16 MiB). Seeded: a failure reproduces."""

from __future__ import annotations

import random
import resource

import pytest

from ivr_app.esl.events import event_from_message
from ivr_app.esl.wire import MAX_BODY, MAX_HEAD, MAX_HEADERS, Framer, ProtocolError
from ivr_app.testing import captures

FRAMES = 1_000_000
SEED = 20261202


def real_messages() -> list[bytes]:
    """Every message FreeSWITCH sent in the capture corpus, as framed bytes."""
    out = []
    for path in sorted(captures.CAPTURES.rglob("transcript.jsonl")):
        framer = Framer()
        for chunk in captures.load(path).chunks:
            if chunk.direction == "rx" and chunk.data:
                for m in framer.feed(chunk.data):
                    head = m.head if m.head is not None else (
                        f"Content-Length: {len(m.body)}\nContent-Type: {m.content_type}"
                        .encode())
                    out.append(head + b"\n\n" + m.body)
    return out


def mutate(rng: random.Random, frame: bytes) -> bytes:
    kind = rng.random()
    if kind < 0.55:
        return frame  # most of the stream is well formed, as on a real wire
    b = bytearray(frame)
    if kind < 0.70 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind < 0.80:
        cut = rng.randrange(len(b) + 1)
        b = b[:cut]
    elif kind < 0.88:
        at = rng.randrange(len(b) + 1)
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind < 0.94:
        b = bytearray(frame.replace(b"Content-Length: ", b"Content-Length: "
                                    + str(rng.choice([0, 1, 7, 99999, -5, 2**40])).encode()
                                    + b"\nX-Was: ", 1))
    else:
        b = bytearray(rng.randbytes(rng.randint(1, 64)))
    return bytes(b)


def test_a_million_generated_frames_never_crash_the_parser():
    rng = random.Random(SEED)
    pool = real_messages()
    assert len(pool) > 1000
    framer = Framer()
    decoded = errors = 0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    for _ in range(0, FRAMES, 64):
        data = b"".join(mutate(rng, rng.choice(pool)) for _ in range(64))
        pos = 0
        while pos < len(data):  # the reads a socket would return
            step = rng.choice((1, 7, 512, 4096, 65536))
            try:
                for m in framer.feed(data[pos:pos + step]):
                    event = event_from_message(m)
                    if event is not None:
                        event.get("Unique-ID")
                        event.get("Event-Name")
                        decoded += 1
            except ProtocolError:
                errors += 1
                framer = Framer()  # the connection is closed and made again
            assert framer.buffered <= MAX_HEAD + MAX_BODY
            pos += step
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown < 200 * 1024  # bounded: the caps, not the input, decide what is held
    assert decoded > FRAMES // 10  # many got through whole (the rest: non-events, or lost
    # with the connection a mutation broke)
    assert errors > 0  # and the mutations did reach the error paths


def test_the_caps_on_header_count_and_body_size():
    many = b"".join(b"X-%d: y\n" % n for n in range(MAX_HEADERS)) + b"Content-Length: 0\n\n"
    with pytest.raises(ProtocolError, match="more than 1000 headers"):
        Framer().feed(many)
    assert MAX_BODY == 16 * 1024 * 1024
    with pytest.raises(ProtocolError, match="out of range"):
        Framer().feed(b"Content-Type: api/response\nContent-Length: %d\n\n" % (MAX_BODY + 1))
    ok = Framer().feed(b"Content-Type: api/response\nContent-Length: 3\n\n+OK")
    assert ok[0].body == b"+OK"

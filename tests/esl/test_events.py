"""Plain-event decoding details the captures do not cover: bodies that look like headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ivr_app.esl.events import PlainEvent
from ivr_app.esl.wire import Framer, parse_headers
from ivr_app.testing.fakeswitch import serialize

FORGED = "22222222-2222-4222-8222-222222222222"


def test_headers_are_never_read_from_the_body():
    body = f"line one\nUnique-ID: {FORGED}\nApplication-UUID: x\n"
    ev = PlainEvent(serialize.plain([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j1")],
                                    body))
    assert ev.unique_id is None
    assert ev.get("Unique-ID") is None
    assert ev.get("Application-UUID") is None
    assert ev.body == body
    assert ev.get("Job-UUID") == "j1"


def test_the_head_value_wins_over_a_body_lookalike():
    ev = PlainEvent(serialize.plain([("Event-Name", "CUSTOM"), ("Unique-ID", "real")],
                                    f"\nUnique-ID: {FORGED}\n\n"))
    assert ev.unique_id == "real"
    assert ev.get("Unique-ID") == "real"


def test_empty_value_and_undef():
    ev = PlainEvent(b"Event-Name: X\nEmpty: _undef_\nOther: v\n\n")
    assert ev.get("Empty") == "_undef_"
    assert ev.get("Other") == "v"
    assert ev.get("Missing", "d") == "d"


header_names = st.from_regex(r"[A-Z][A-Za-z-]{0,15}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(st.lists(st.tuples(header_names, values), min_size=1, max_size=12,
                unique_by=lambda t: t[0]), st.text(max_size=60))
def test_every_value_round_trips_through_freeswitch_encoding(pairs, body):
    """Whatever FreeSWITCH's switch_url_encode produced, each value decodes back exactly,
    lazily and eagerly, and framing does not care how the bytes are split."""
    pairs = [(k, v) for k, v in pairs if k not in ("Content-Length", "Event-Name")]
    headers = [("Event-Name", "CUSTOM"), *pairs]
    payload = serialize.plain(headers, body or None)
    frames = b"".join(serialize.event_frame("plain", headers, body or None))
    for size in (1, 7, len(frames)):
        f = Framer()
        msgs = [m for i in range(0, len(frames), size) for m in f.feed(frames[i:i + size])]
        assert len(msgs) == 1
        assert msgs[0].body == payload
    ev = PlainEvent(payload)
    for k, v in pairs:
        if "%" in v:
            continue  # switch_url_encode keeps an existing %XX as it is: not recoverable
        assert ev.get(k) == v
    assert ev.body == (body or "")
    eager = parse_headers(ev.raw_head, True)
    for k, v in pairs:
        if "%" not in v:
            assert eager[k] == v

"""The parser against every real FreeSWITCH 1.10.12 capture, fed in the recorded recv() chunks."""

from __future__ import annotations

from collections import Counter

import pytest

from ivr_app.esl.events import PlainEvent, event_from_message
from ivr_app.esl.wire import Framer, Message
from ivr_app.testing import captures

TRANSCRIPTS = {t.name: t for t in captures.all_transcripts()}
SUMMARIES = captures.summaries()


def frame(chunks: list[bytes]) -> tuple[list[Message], Framer]:
    f = Framer()
    out: list[Message] = []
    for c in chunks:
        out += f.feed(c)
    return out, f


def event_label(msg: Message) -> str | None:
    ev = event_from_message(msg)
    if ev is None:
        return None
    return f"CUSTOM {ev.subclass}" if ev.name == "CUSTOM" else ev.name


def test_every_capture_has_a_summary():
    assert len(TRANSCRIPTS) == 46
    assert set(TRANSCRIPTS) == set(SUMMARIES)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_framing_matches_the_capture_summary(name):
    messages, framer = frame(TRANSCRIPTS[name].rx())
    want = SUMMARIES[name]
    assert len(messages) == want.messages
    assert framer.buffered == 0  # no unframed bytes left over
    assert Counter(m.content_type for m in messages) == want.content_types
    assert Counter(x for m in messages if (x := event_label(m))) == want.event_names


@pytest.mark.parametrize("name", ["inbound-events-plain-all", "outbound-sip"])
def test_framing_is_independent_of_chunking(name):
    data = TRANSCRIPTS[name].rx_bytes()
    whole, _ = frame([data])
    bytewise, _ = frame([data[i:i + 1] for i in range(len(data))])
    assert [(m.head, m.body) for m in whole] == [(m.head, m.body) for m in bytewise]


def test_connect_reply_is_a_serialized_event_with_encoded_reply_text():
    messages, _ = frame(TRANSCRIPTS["outbound-basic"].rx())
    connect = messages[0]
    assert connect.content_type == "command/reply"
    assert connect.is_serialized_event
    assert connect.reply_text == "+OK\n"  # sent as %2BOK%0A
    assert connect.headers["Socket-Mode"] == "async"
    assert connect.headers["Control"] == "full"
    assert connect.headers["Channel-Name"] == "loopback/7100-b"
    assert connect.headers["Event-Date-Local"].count(" ") == 1  # %20 decoded
    assert connect.headers["FreeSWITCH-IPv6"] == "fd00::2"


def test_ordinary_replies_are_not_decoded():
    messages, _ = frame(TRANSCRIPTS["inbound-auth/reconnect"].rx())
    replies = [m for m in messages if m.content_type == "command/reply"]
    assert replies[0].reply_text == "+OK accepted"


def test_background_job_body_is_not_folded_into_headers():
    messages, _ = frame(TRANSCRIPTS["inbound-bgapi"].rx())
    jobs = [e for m in messages if (e := event_from_message(m)) and e.name == "BACKGROUND_JOB"]
    assert [j.body.split(" ")[0] for j in jobs] == ["UP", "-ERR", "+OK"]
    assert jobs[1].body == "-ERR NO_ROUTE_DESTINATION\n"
    # the Job-UUID the client chose in the bgapi command is honoured
    assert jobs[0].get("Job-UUID") == "d6b46018-50c9-4d6a-9ae4-0a09152e5e10"
    for job in jobs:
        # the last header is the job command's argument, not the body
        _last_name, last_value = job.all_headers()[-1]
        assert job.body not in last_value


def test_json_and_plain_streams_decode_to_the_same_values():
    plain, _ = frame(TRANSCRIPTS["inbound-events-plain-all"].rx())
    js, _ = frame(TRANSCRIPTS["inbound-events-json-all"].rx())
    p_events = [e for m in plain if (e := event_from_message(m))]
    j_events = [e for m in js if (e := event_from_message(m))]
    assert [e.name for e in p_events] == [e.name for e in j_events]
    for pe, je in zip(p_events, j_events, strict=True):
        if pe.name in ("CHANNEL_CREATE", "CHANNEL_ANSWER"):
            assert pe.get("Caller-Destination-Number") == je.get("Caller-Destination-Number")
            assert pe.get("Event-Date-Local").count(" ") == 1
    bg_p = next(e for e in p_events if e.name == "BACKGROUND_JOB")
    bg_j = next(e for e in j_events if e.name == "BACKGROUND_JOB")
    assert bg_p.body
    assert bg_j.body
    assert bg_p.body.split()[0] == bg_j.body.split()[0]


def test_sdp_keeps_crlf_inside_one_value():
    messages, _ = frame(TRANSCRIPTS["outbound-sip"].rx())
    values = [v for m in messages if (e := event_from_message(m)) and isinstance(e, PlainEvent)
              for k, v in e.all_headers() if k == "variable_switch_r_sdp"]
    assert values, "the SIP capture carries the remote SDP"
    sdp = values[0]
    assert sdp.startswith("v=0\r\n")
    assert "\r\nm=audio " in sdp


def test_duplicate_headers_first_wins_and_all_are_kept():
    messages, _ = frame(TRANSCRIPTS["inbound-events-plain-all"].rx())
    codec = next(e for m in messages if (e := event_from_message(m)) and e.name == "CODEC")
    names = [k for k, _ in codec.all_headers()]
    assert names.count("Channel-Write-Codec-Name") == 2 or \
        names.count("Channel-Read-Codec-Name") + names.count("channel-read-codec-name") >= 2
    assert codec.get("Channel-Read-Codec-Name") == codec.headers["Channel-Read-Codec-Name"]


def test_xml_events():
    messages, _ = frame(TRANSCRIPTS["inbound-events-xml"].rx())
    events = [e for m in messages if (e := event_from_message(m))]
    assert [e.name for e in events].count("CHANNEL_CREATE") == 2
    bg = next(e for e in events if e.name == "BACKGROUND_JOB")
    assert bg.body == "false"  # bgapi uuid_exists of a call that has ended
    assert bg.get("Job-Command") == "uuid_exists"
    assert next(e for e in events).get("FreeSWITCH-IPv6") == "fd00::2"


def test_disconnect_notices():
    messages, _ = frame(TRANSCRIPTS["outbound-basic"].rx())
    notices = [m for m in messages if m.content_type == "text/disconnect-notice"]
    assert [n.get("Content-Disposition") for n in notices] == ["linger", "disconnect"]
    assert notices[0].get("Channel-Name") == "loopback/7100-b"
    assert notices[1].body.startswith(b"Disconnected, goodbye.")

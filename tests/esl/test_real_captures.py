"""Calls captured on a real FreeSWITCH 1.10.12 by `make test-fs` (tests/fixtures/fs-captures/
real-*), read as the record of what FreeSWITCH sent and what ivr-app answered, in order.

These hold the facts the fixes rest on (what FreeSWITCH does) and what the fixed app did on the
wire when the capture was made; they check the fixtures, not today's code: the code is held by
the simulator tests (tests/esl/test_real_freeswitch_facts.py, tests/test_real_run_defects.py)
and re-checked on FreeSWITCH itself by `make test-fs`. Re-recorded captures must pass here."""

from __future__ import annotations

from ivr_app.esl.events import event_from_message
from ivr_app.esl.wire import Framer, header_value
from ivr_app.testing import captures


def timeline(name: str) -> list[tuple[float, str, object]]:
    """(t, "rx", message) for each framed message from FreeSWITCH, (t, "tx", text) for each
    chunk ivr-app sent, in time order."""
    t = captures.load(captures.CAPTURES / name / "transcript.jsonl")
    framer = Framer()
    out: list[tuple[float, str, object]] = []
    for c in t.chunks:
        if c.direction == "rx":
            out += [(c.t, "rx", m) for m in framer.feed(c.data)]
        elif c.data:
            out.append((c.t, "tx", c.data.decode("latin-1")))
    return out


def first(items, pred) -> int:
    return next(i for i, item in enumerate(items) if pred(item))


def is_event(item, name: str, **headers: str) -> bool:
    if item[1] != "rx":
        return False
    ev = event_from_message(item[2])
    return ev is not None and ev.name == name and \
        all(ev.get(k.replace("_", "-")) == v for k, v in headers.items())


def sent(item, text: str) -> bool:
    return item[1] == "tx" and text in item[2]


def test_the_queue_forgets_the_menus_key_and_breaks_the_music_only_once_it_started():
    tl = timeline("real-queue-fallback")
    key = first(tl, lambda x: is_event(x, "DTMF", DTMF_Digit="2"))
    flush = first(tl, lambda x: sent(x, "execute-app-name: flush_dtmf"))
    music = first(tl, lambda x: sent(x, "execute-app-arg: local_stream://moh"))
    started = first(tl, lambda x: is_event(x, "CHANNEL_EXECUTE", Application="playback",
                                          Application_Data="local_stream://moh"))
    brk = first(tl, lambda x: sent(x, "api uuid_break "))
    bridged = first(tl, lambda x: is_event(x, "CHANNEL_BRIDGE"))
    assert key < flush < music < started < brk < bridged
    assert any(sent(x, "playback_timeout_sec=30") for x in tl[:music])


def test_a_key_during_the_greeting_is_returned_by_the_menus_prompt():
    tl = timeline("real-type-ahead-rfc2833")
    prompt = first(tl, lambda x: sent(x, "execute-app-name: play_and_get_digits"))
    assert "file_string://" in tl[prompt][2]  # the greeting and the menu prompt, one prompt
    key = first(tl, lambda x: is_event(x, "DTMF", DTMF_Digit="2"))
    assert event_from_message(tl[key][2]).get("DTMF-Source") == "RTP"
    done = first(tl, lambda x: is_event(x, "CHANNEL_EXECUTE_COMPLETE",
                                       Application="play_and_get_digits"))
    assert prompt < key < done
    assert event_from_message(tl[done][2]).variable("ivr_app_digits") == "2"


def test_a_percent_sequence_in_a_name_is_not_re_encoded_but_uuid_getvar_is_verbatim():
    tl = timeline("real-percent-0a")
    connect = tl[first(tl, lambda x: x[1] == "rx")][2]
    assert header_value(connect.head, b"Caller-Caller-ID-Name") == b"Bob%0AEvil"
    assert header_value(connect.head, b"variable_sip_from_display") == b"Bob%0AEvil"
    assert connect.get("variable_sip_from_display") == "Bob\nEvil"  # decoded: not verbatim
    ask = first(tl, lambda x: sent(x, "api uuid_getvar ") and "sip_from_display" in x[2])
    answer = next(x[2] for x in tl[ask:] if x[1] == "rx" and
                  x[2].content_type == "api/response")
    assert answer.body == b"Bob%0AEvil"


def test_the_legs_get_a_display_name_sofia_can_send():
    tl = timeline("real-quoted-display")
    connect = tl[first(tl, lambda x: x[1] == "rx")][2]
    assert connect.get("Caller-Caller-ID-Name") == 'Evil \\"x\\" Name'
    bridge = tl[first(tl, lambda x: sent(x, "execute-app-name: bridge"))][2]
    assert "origination_caller_id_name='Evil x Name'" in bridge
    assert any(is_event(x, "CHANNEL_BRIDGE") for x in tl)


def test_the_music_a_killed_app_left_playing_was_started_in_a_piece():
    tl = timeline("real-kill-9-in-queue")
    music = first(tl, lambda x: sent(x, "execute-app-arg: local_stream://moh"))
    assert any(sent(x, "playback_timeout_sec=30") for x in tl[:music])
    assert not any(sent(x, "api uuid_break") or sent(x, "exit") for x in tl[music:])

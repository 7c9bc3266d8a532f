"""Menu YAML: the example is valid; every kind of mistake gets file:line: key: message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr_app import menus, yamlfile
from ivr_app.errors import ConfigError
from ivr_app.queue.spec import Exit

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "menus.example.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        menus.parse(yamlfile.loads(text, "menus.yaml"))
    return info.value.problems


def test_example_is_valid():
    m = menus.load(EXAMPLE)
    assert m.entry == "main"
    assert m.languages == ("en", "ru")
    assert m.menus["main"].options["1"] == menus.Action("menu", "sales")
    assert m.menus["main"].direct_dial
    support = m.queues["support"]
    assert support.skills == {"support": 1}
    assert support.keys == {"1": "voicemail", "2": "callback"}
    assert support.on_full == Exit("queue", "sales")
    assert m.queues["sales"].on_max_wait == Exit("callback")


def test_queue_errors_name_the_line():
    got = problems(BASE + """    options:
      "1": {action: queue, target: support}
queues:
  support:
    skills: {support: 11}
    on_max_wait: {action: queue, target: nowhere}
    keys: {"1": dance}
    announce_every_seconds: -1
    colour: blue
  legacy: "7002"
""")
    assert got == [
        "menus.yaml:11: queues.support.skills.support: must be the minimum level 1-10",
        "menus.yaml:12: queues.support.on_max_wait.target: no queue named 'nowhere'",
        "menus.yaml:13: queues.support.keys.1: must be one of: voicemail, callback",
        "menus.yaml:14: queues.support.announce_every_seconds: must be an integer 0-3600",
        "menus.yaml:15: queues.support.colour: unknown key (expected one of: agent_ring_seconds, "
        "announce_every_seconds, announce_position, announce_wait, callback_attempts, "
        "callback_retry_seconds, caller_id, handle_seconds, keys, max_length, max_wait_seconds, "
        "music, "
        "no_answer_pause_seconds, on_full, on_max_wait, service_level, skills, voicemail_box, "
        "wrap_up_seconds)",
        "menus.yaml:16: queues.legacy: a queue is a mapping of its settings now (music, skills, "
        "max wait ...), not a dialplan extension",
    ]


BASE = """entry: main
prompts:
  p: {tone: "tone_stream://%(100,0,440)"}
menus:
  main:
    prompt: p
"""


def test_references_are_checked_with_lines():
    got = problems(BASE + """    options:
      "1": {action: menu, target: nowhere}
      "2": {action: queue, target: support}
      "x": {action: hangup}
      "3": {action: transfer, target: 1001}
      "4": {action: fly}
    greeting: missing
""")
    assert got == [
        "menus.yaml:8: menus.main.options.1.target: no menu named 'nowhere'",
        "menus.yaml:9: menus.main.options.2.target: no queue named 'support' in queues",
        "menus.yaml:10: menus.main.options.x: a menu key is one of 0-9, * or #, quoted",
        "menus.yaml:11: menus.main.options.3.target: must be a string (quote it in YAML)",
        "menus.yaml:12: menus.main.options.4.action: must be one of: menu, transfer, manager, "
        "queue, voicemail, directory, repeat, back, hangup",
        "menus.yaml:13: menus.main.greeting: no prompt named 'missing'",
    ]


def test_hours_holidays_and_timezone_errors():
    got = problems("timezone: Mars/Olympus\nholidays: [2026-13-01]\nhours:\n  office:\n"
                   "    mon-fry: \"09:00-18:00\"\n    sat: \"18:00-09:00\"\n" + BASE)
    assert "menus.yaml:1: timezone: unknown time zone 'Mars/Olympus'" in got[0]
    assert any(p.startswith("menus.yaml:2: holidays") for p in got)
    assert any("mon-fry: days must be like mon" in p for p in got)
    assert any("18:00-09:00: the end must come after the start" in p for p in got)


def test_business_hours_in_the_company_time_zone():
    m = menus.load(EXAMPLE)
    main = m.menus["main"]
    msk = dt.timezone(dt.timedelta(hours=3))
    assert m.is_open(main, dt.datetime(2026, 11, 23, 10, 0, tzinfo=msk))  # Monday 10:00
    assert not m.is_open(main, dt.datetime(2026, 11, 23, 18, 0, tzinfo=msk))  # closes at 18
    assert not m.is_open(main, dt.datetime(2026, 11, 22, 11, 0, tzinfo=msk))  # Sunday
    assert m.is_open(main, dt.datetime(2026, 11, 21, 11, 0, tzinfo=msk))  # Saturday 10-14
    assert not m.is_open(main, dt.datetime(2026, 12, 31, 10, 0, tzinfo=msk))  # holiday
    # 06:30 UTC is 09:30 in Moscow: open
    assert m.is_open(main, dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC))


def test_prompt_text_must_cover_every_language():
    got = problems("languages: [en, ru]\n" + BASE.replace(
        'p: {tone: "tone_stream://%(100,0,440)"}', 'p: {text: {en: "Hello"}}'))
    assert got == ["menus.yaml:4: prompts.p.text: no text for ru"]

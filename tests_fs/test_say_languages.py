"""A Russian-speaking customer in the queue on a real FreeSWITCH without mod_say_ru (a stock
modules.conf.xml loads mod_say_en only; ``say_string ru.wav ru ...`` answers -ERR Usage):
ivr-app warned at start naming the module, and the caller's position is announced with the
number rendered in Russian, never FreeSWITCH's English digits."""

from __future__ import annotations

from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID

OLGA = "+78125550147"


def test_russian_caller_hears_rendered_russian_numbers_without_mod_say_ru(lab, sip, tmp_path):
    assert lab.monitor.api("module_exists mod_say_ru").strip() == "false"  # the lab's state
    warned = [x for x in lab.log_lines() if x.get("component") == "say" and
              x.get("level") == "warning"]
    # once per start of serve (a scenario before this one may have restarted it)
    assert warned
    assert {(w["language"], w["module"]) for w in warned} == {("ru", "mod_say_ru")}
    assert "mod_say_ru is not loaded" in warned[0]["why"]

    people = tmp_path / "olga.yaml"
    people.write_text("customers:\n  - {name: Olga Smirnova, company: Smirnova OOO, "
                      f'language: ru, phones: ["{OLGA}"]}}\n')
    lab.cli("db", "load", str(people))
    lab.cli("presence", "set", "1003", "dnd")  # the support agent: nobody free, she waits
    # she is to be first in line: an entry an earlier scenario's killed node left behind
    # counts as in line until it is STALE_SECONDS old (ivr_app/db/queues.py)
    def line_empty() -> bool:
        with lab.db() as db:
            row = db.execute("""SELECT count(*) FROM queue_entries WHERE queue = 'support'
                                AND status IN ('waiting', 'offered')
                                AND seen_at > now() - interval '15 seconds'""").fetchone()
        return bool(row and row[0] == 0)

    wait_for(line_empty, 30, "nobody else in the support queue")
    try:
        mark = lab.monitor.mark()
        caller = sip.call(DID, number=OLGA, name="Olga Smirnova",
                          keys=[(1.0, "info", "3")], hangup_after=12)
        uuid = lab.monitor.channel(mark, f"sofia/external/{OLGA}@")
        announced = wait_for(lambda: next((x for x in lab.log_lines()
                                           if x.get("event") == "announced" and
                                           x.get("call_uuid") == uuid), None), 30,
                             "the queue announcement")
        assert announced["position"] == 1
        caller.wait(60)
    finally:
        lab.cli("presence", "set", "1003", "available")
    displaced = [e.get("API-Command-Argument") or "" for e in lab.monitor.since(
        mark, "API", API_Command="uuid_displace") if uuid in (e.get("API-Command-Argument")
                                                              or "")]
    started = [d for d in displaced if " start " in d]
    assert started, displaced
    files = started[0].split(" start ", 1)[1].rsplit(" 0 mux", 1)[0]
    assert "digits/" not in files  # no English digits inside the Russian sentence
    parts = files.removeprefix("file_string://").split("!")
    assert len(parts) >= 2
    assert all("/ru/" in p for p in parts), parts  # the rendered Russian prompts and number
    # FreeSWITCH could open every file: its displace answered +OK (else no "announced")
    assert not [x for x in lab.log_lines() if x.get("event") == "announcement not played"
                and x.get("call_uuid") == uuid]

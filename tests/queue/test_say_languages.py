"""The say languages FreeSWITCH really has, checked at start and at every reconnect; a queue
caller whose language FreeSWITCH cannot say hears the numbers rendered in their language,
never English digits inside their language's sentence.

A stock FreeSWITCH 1.10.12 loads mod_say_en only: ``say_string ru.wav ru number pronounced 3``
answers ``-ERR Usage: ...`` (seen on the real one; the simulator does the same)."""

from __future__ import annotations

import io
import json

import pytest

from ivr_app import logs
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY, route_company_number, start_app
from tests.test_queue_calls import hold_agents, load_agents, queue_menus, waiting

DMITRY = "+78127654321"  # a customer, language ru, not VIP


@pytest.fixture
def rig(db, database_url, prompt_cache, tmp_path):
    made = []

    def make(say_modules: set[str]):
        load_agents(db)
        hold_agents(db)  # staffed but wrapping up: the caller waits and is announced
        fs = FakeSwitch(time_factor=0.05)
        fs.say_modules = set(say_modules)
        fs.start()
        out = io.StringIO()
        logs.configure("info", "json", stream=out)
        app = start_app(fs, database_url, prompt_cache, menus=queue_menus(tmp_path), env={
            "IVR_APP_QUEUE_DISPATCH_INTERVAL_SECONDS": "0.1"})
        route_company_number(fs, app)
        made.append((fs, app))
        return fs, app, out

    yield make
    for fs, app in made:
        app.shutdown()
        fs.stop()


def warnings_about_say(out: io.StringIO) -> list[dict]:
    lines = [json.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("component") == "say" and x["level"] == "warning"]


def first_announcement(fs: FakeSwitch, uuid: str) -> list[str]:
    d = wait_until(lambda: next((d for d in fs.displaced if d.uuid == uuid), None),
                   timeout=10, what="an announcement over the music")
    assert d.path.startswith("file_string://")
    return d.path[len("file_string://"):].split("!")


def queue_call(fs: FakeSwitch, number: str):
    return fs.place_call("74951112233", caller_id_number=number, variables={
        "ivr_app_entry": "queue", "ivr_app_queue": "support"})


def test_simulator_answers_say_string_and_module_exists_as_freeswitch_does(fs):
    assert fs.api("say_string ru.wav ru number pronounced 3") == (
        "-ERR Usage: <module_name>[.<ext>] <lang>[.<ext>] <say_type> <say_method> "
        "[<say_gender>] <text>\n")
    assert fs.api("say_string en.wav en number pronounced 3") == "file_string://digits/3.wav"
    assert fs.api("module_exists mod_say_ru") == "false"
    assert fs.api("module_exists mod_say_en") == "true"
    assert fs.api("show say") == "type,name,ikey\nsay,en,mod_say_en\n\n1 total.\n"
    fs.say_modules.add("ru")
    assert fs.api("say_string ru.wav ru number pronounced 3") == "file_string://digits/3.wav"
    assert fs.api("module_exists mod_say_ru") == "true"


def test_russian_caller_hears_rendered_russian_numbers_without_mod_say_ru(rig, db):
    fs, app, out = rig({"en"})
    wait_until(lambda: app.say.checked.is_set(), timeout=5, what="say languages checked")
    warned = warnings_about_say(out)
    assert [(w["language"], w["module"]) for w in warned] == [("ru", "mod_say_ru")]
    assert "mod_say_ru is not loaded" in warned[0]["why"]

    ch = queue_call(fs, DMITRY)
    waiting(db, ch.uuid)
    files = first_announcement(fs, ch.uuid)
    position = app.prompts.path(app.menus.prompts["queue_position"], "ru")
    assert files[:2] == [position, app.prompts.number(1, "ru")]  # "Ваш номер в очереди" "1"
    assert not [f for f in files if "digits/" in f]  # no English digits in a Russian sentence
    assert all(f.startswith(str(app.prompts.cache_dir / "ru")) for f in files)
    fs.caller_hangs_up(ch.uuid)


def test_english_caller_still_hears_freeswitchs_say_files(rig, db):
    fs, _app, _out = rig({"en"})
    ch = queue_call(fs, EMILY)
    waiting(db, ch.uuid)
    files = first_announcement(fs, ch.uuid)
    assert files[1] == "digits/1.wav"
    fs.caller_hangs_up(ch.uuid)


def test_with_mod_say_ru_loaded_the_say_module_speaks_and_nothing_is_warned(rig, db):
    fs, app, out = rig({"en", "ru"})
    wait_until(lambda: app.say.checked.is_set(), timeout=5, what="say languages checked")
    assert warnings_about_say(out) == []
    ch = queue_call(fs, DMITRY)
    waiting(db, ch.uuid)
    files = first_announcement(fs, ch.uuid)
    assert files[1] == "digits/1.wav"  # mod_say_ru's files (the simulator's are the same)
    fs.caller_hangs_up(ch.uuid)


def test_checked_again_at_every_reconnect(rig, db):
    fs, app, out = rig({"en"})
    wait_until(lambda: app.say.checked.is_set(), timeout=5, what="say languages checked")
    assert not app.say.can_say("ru")
    fs.say_modules.add("ru")  # FreeSWITCH restarted with mod_say_ru in modules.conf.xml
    before = app.control.connections
    for session in list(fs.server.sessions):
        session.close()
    wait_until(lambda: app.control.connections > before and app.say.checked.is_set()
               and app.say.can_say("ru"), timeout=10, what="checked again after reconnect")
    fs.say_modules.discard("ru")
    for session in list(fs.server.sessions):
        session.close()
    wait_until(lambda: not app.say.can_say("ru"), timeout=10, what="missing again")
    assert len(warnings_about_say(out)) == 2

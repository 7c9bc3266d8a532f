"""Issue 20: a key that can only mean one thing acts at once; only a key that may begin an
extension waits for more digits; the caller's wait after a key is measured (log + metric).

Layer 2: whole calls over TCP through the simulator (menus of config/menus.example.yaml: the
main menu has direct dial; the demo's extensions 1000-1002 all start with 1)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from ivr_app.digitmap import DialableExtensions, DigitMap
from ivr_app.esl.events import DictEvent
from ivr_app.handlers.menu_entry import KeyWait
from ivr_app.menus import Action, Menu
from ivr_app.testing.fakeswitch import fsstrings
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import at_menu, call, ended, row

DIRECT = Menu("main", "p", {"0": Action("transfer", "1000"), "1": Action("menu", "sales"),
                            "9": Action("repeat")}, direct_dial=True)
KEYS_ONLY = Menu("sales", "p", {"1": Action("repeat")})


# -- the digit map ---------------------------------------------------------------------------

def test_an_option_key_no_extension_starts_with_acts_at_once():
    m = DigitMap.of(["1000", "1001", "2050"])
    assert not m.waits(DIRECT, "0")
    assert not m.waits(DIRECT, "9")
    assert m.waits(DIRECT, "1")  # 1000 and 1001 begin with it


def test_a_digit_that_is_no_option_waits_so_a_mistyped_number_is_one_try():
    assert DigitMap.of(["1000"]).waits(DIRECT, "4")


def test_star_hash_and_letters_never_wait_and_keys_only_menus_never_wait():
    m = DigitMap.of(["1000"])
    for key in ("*", "#", "A"):
        assert not m.waits(DIRECT, key)
    assert not m.waits(KEYS_ONLY, "1")


def test_until_the_directory_was_read_every_digit_may_begin_an_extension():
    assert DigitMap().waits(DIRECT, "0")
    assert DigitMap().waits(DIRECT, "9")
    assert DigitMap.of(["1000"]).describe(DIRECT) == {"at_once": ["0", "9"], "waits": ["1"]}


def test_the_map_is_read_from_the_employees_and_the_site(db, database_url):
    import structlog
    from psycopg_pool import ConnectionPool

    db.execute("INSERT INTO employees (extension, name) VALUES ('3001', 'C'), ('5001', 'E')")
    db.commit()
    with ConnectionPool(database_url, min_size=1, max_size=1, open=True) as pool:
        dialable = DialableExtensions(pool, ["9000"], structlog.get_logger())
        got = dialable.refresh()
    assert got.known
    assert got.starts == frozenset("359")


def test_a_failed_read_keeps_the_last_map():
    import structlog

    class DownPool:
        def connection(self, timeout):
            import psycopg

            raise psycopg.OperationalError("connection refused")

    dialable = DialableExtensions(DownPool(), ["9000"], structlog.get_logger())  # type: ignore
    dialable.current = DigitMap.of(["1000"])
    assert dialable.refresh() == DigitMap.of(["1000"])


# -- the wait, by FreeSWITCH's clock ---------------------------------------------------------

class _Call:
    def __init__(self):
        import structlog

        self.listeners: dict = {}
        self.log = structlog.get_logger()

    def on(self, name, fn):
        self.listeners.setdefault(name, []).append(fn)

    def fire(self, name, **headers):
        for fn in self.listeners.get(name, []):
            fn(DictEvent({"Event-Name": name, **headers}))


def test_the_wait_runs_from_the_last_key_to_the_next_playback_start():
    from ivr_app.handlers.menu_entry import Entry

    got = []
    c = _Call()
    kw = KeyWait(c, lambda menu, waited, s: got.append((menu, waited, s)))  # type: ignore
    c.fire("DTMF", **{"DTMF-Digit": "1", "Event-Date-Timestamp": "1000000000"})
    c.fire("DTMF", **{"DTMF-Digit": "0", "Event-Date-Timestamp": "1000500000"})
    kw.entered(DIRECT, Entry("10", waited=True), "invalid")
    c.fire("PLAYBACK_START", **{"Event-Date-Timestamp": "1002620000"})
    c.fire("PLAYBACK_START", **{"Event-Date-Timestamp": "1009000000"})  # answers nothing
    assert got == [("main", True, pytest.approx(2.12))]


def test_no_wait_is_measured_for_an_entry_that_rings_a_phone():
    from ivr_app.handlers.menu_entry import Entry

    got = []
    c = _Call()
    kw = KeyWait(c, lambda *a: got.append(a))  # type: ignore
    c.fire("DTMF", **{"DTMF-Digit": "0", "Event-Date-Timestamp": "1000000000"})
    kw.entered(DIRECT, Entry("0", waited=False), "transfer")
    c.fire("PLAYBACK_START", **{"Event-Date-Timestamp": "1030000000"})  # much later
    assert got == []


# -- whole calls through the simulator -------------------------------------------------------

def _reads(fs):
    """Each play_and_get_digits a call ran: (uuid, min, max, timeout, prompt)."""
    got: list[tuple[str, int, int, int, str]] = []

    def watch(name, headers):
        h = dict(headers)
        if name == "CHANNEL_EXECUTE" and h.get("Application") == "play_and_get_digits":
            w = fsstrings.separate(h.get("Application-Data", ""))
            got.append((h["Unique-ID"], int(w[0]), int(w[1]), int(w[3]), w[5]))

    fs.observers.append(watch)
    return got


def _lines(out, event):
    return [j for j in (json.loads(x) for x in out.getvalue().splitlines() if x.strip())
            if j.get("event") == event]


def test_the_operators_key_acts_without_waiting_for_more_digits(ivr, db):
    fs, _app, _out = ivr
    reads = _reads(fs)
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "0")  # the operator: no extension starts with 0
    ended(ch)
    assert row(db, ch.uuid)[0] == "main/extension 1000"
    mine = [r for r in reads if r[0] == ch.uuid]
    # one read of one key, and no read of "more digits" after it
    assert [(r[1], r[2], r[4] == "silence") for r in mine] == [(1, 1, False)]


def test_a_key_that_may_begin_an_extension_waits_and_direct_dial_still_works(ivr, db):
    fs, app, _out = ivr
    reads = _reads(fs)
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1001")  # no '#': the pause of inter_digit_ms ends it
    ended(ch)
    assert row(db, ch.uuid)[0] == "main/extension 1001"
    mine = [r for r in reads if r[0] == ch.uuid]
    main = app.menus.menus["main"]
    assert [(r[1], r[2], r[4] == "silence") for r in mine] == [(1, 1, False), (1, 7, True)]
    assert mine[1][3] == main.inter_digit_ms  # the rest waits as long as the menu says


def test_the_menu_key_1_waits_for_a_pause_then_opens_the_submenu(ivr, db):
    fs, _app, out = ivr
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1")  # sales, but 1000-1002 start with 1 as well
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "2")  # the sales menu has no direct dial: 2 acts at once
    ended(ch)
    assert row(db, ch.uuid)[0] == "sales/extension 1002"
    steps = _lines(out, "menu step")
    assert [(s["menu"], s["digits"], s["waited"], s["result"]) for s in steps
            if s.get("call_uuid") == ch.uuid] == [("main", "1", True, "menu")]
    assert isinstance(steps[0]["wait_ms"], float)


def test_hash_ends_an_ambiguous_entry_at_once(ivr, db):
    fs, _app, _out = ivr
    reads = _reads(fs)
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "1#")  # the sales menu, without waiting for the pause
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "2")
    ended(ch)
    assert row(db, ch.uuid)[0] == "sales/extension 1002"
    more = [r for r in reads if r[0] == ch.uuid and r[4] == "silence"]
    assert len(more) == 1


def test_a_mistyped_number_is_one_invalid_try_not_one_per_digit(ivr, db):
    fs, _app, _out = ivr
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.2, talk=1))
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "4444")
    at_menu(fs, ch, 2)
    fs.press(ch.uuid, "0")
    ended(ch)
    route, path, _cause, _customer = row(db, ch.uuid)
    assert [k["digits"] for k in path] == ["4444", "0"]
    assert route == "main/extension 1000"


def test_the_wait_is_a_metric_on_metrics(ivr, db):
    fs, app, _out = ivr
    app.metrics.serve("127.0.0.1:0", app.log)  # what metrics.listen does at start
    ch = call(fs)
    at_menu(fs, ch, 1)
    fs.press(ch.uuid, "9")  # repeat: the menu's prompt again, at once
    at_menu(fs, ch, 2)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{app.metrics.port}/metrics",
                                    timeout=5) as r:
            return r.read().decode()

    count = 'ivr_app_menu_key_wait_seconds_count{menu="main",waited="no"} 1.0'
    text = wait_until(lambda: next((t for t in [scrape()] if count in t), None),
                      what="the observation on /metrics")
    assert 'ivr_app_menu_key_wait_seconds_bucket{le="5.0",menu="main",waited="no"} 1.0' in text
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{app.metrics.port}/other", timeout=5)


def test_metrics_listen_is_host_and_port():
    from ivr_app import config
    from ivr_app.errors import ConfigError

    assert config.load(None, {"IVR_APP_METRICS_LISTEN": "127.0.0.1:9464"}).metrics.listen \
        == "127.0.0.1:9464"
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        config.load(None, {"IVR_APP_METRICS_LISTEN": "9464"})

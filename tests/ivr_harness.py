"""The IVR harness: FakeSwitch hands calls for 74951112233 to a real App (menus of
config/menus.example.yaml, demo data in a real PostgreSQL). Loaded as a pytest plugin by
tests/conftest.py, so every call-flow test module gets ``ivr`` and ``webhook``."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import pytest
from gevent.pywsgi import WSGIServer

from ivr_app import config, logs
from ivr_app.app import App
from ivr_app.db import directory
from ivr_app.testing.fakeswitch import fsstrings
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo-data.yaml"
MENUS = ROOT / "config" / "menus.example.yaml"
OPEN = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 11:00 in Moscow
CLOSED = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)  # Sunday
IVAN = "+79031234567"  # VIP, manager 1001
EMILY = "+442071234567"  # not VIP, manager 1002


@pytest.fixture
def webhook():
    got: list[dict] = []

    def app(environ, start_response):
        got.append(json.loads(environ["wsgi.input"].read()))
        start_response("204 No Content", [])
        return [b""]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    yield f"http://127.0.0.1:{server.server_port}/pop", got
    server.stop()


@pytest.fixture
def smtp():
    """A mail server that keeps what it is sent: (port, [raw messages])."""
    from gevent.server import StreamServer

    got: list[bytes] = []

    def session(sock, _addr):
        f = sock.makefile("rb")
        sock.sendall(b"220 sink ESMTP\r\n")
        while line := f.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                sock.sendall(b"354 go on\r\n")
                data = b""
                while (chunk := f.readline()) not in (b".\r\n", b""):
                    data += chunk
                got.append(data)
                sock.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                break
            else:
                sock.sendall(b"250 ok\r\n")

    server = StreamServer(("127.0.0.1", 0), session)
    server.start()
    yield server.server_port, got
    server.stop()


def start_app(fs, database_url, prompt_cache, *, menus=MENUS, env=None, out=None):
    """A real App wired to the simulator ``fs`` (its own outbound port), started."""
    cfg = config.load(None, {
        "DATABASE_URL": database_url, "IVR_APP_OUTBOUND_PORT": "0",
        "IVR_APP_ESL_PORT": str(fs.esl_port), "IVR_APP_IVR_MENUS": str(menus),
        "IVR_APP_IVR_PROMPT_CACHE_DIR": str(prompt_cache),
        "IVR_APP_IVR_RING_TIMEOUT_SECONDS": "20",
        # a journal of its own: writes one test could not make never reach another's database
        "IVR_APP_OUTBOX_DIRECTORY": tempfile.mkdtemp(prefix="ivr-outbox-"), **(env or {})})
    app = App(cfg, None, {}, logs.get_logger("app"))
    app.clock = lambda: OPEN
    app.start()
    assert app.control.wait_connected(5)
    return app


def route_company_number(fs, *apps):
    """The company number goes to ivr-app's outbound socket (from outside, and from the
    phones in the default context, as the star codes do); with several apps, the call's
    ``ivr_app_node`` variable (see :func:`call`) picks which one, so a test decides."""
    def extension(i: int, port: int) -> str:
        node = f'<condition field="${{ivr_app_node}}" expression="^{i}$"/>' if len(apps) > 1 \
            else ""
        return (f'<extension name="company{i}">{node}'
                '<condition field="destination_number" expression="^74951112233$">'
                f'<action application="socket" data="127.0.0.1:{port} async full"/>'
                '</condition></extension>')

    targets = "".join(extension(i, a.outbound.port) for i, a in enumerate(apps))
    fs.dialplan.load_xml(f"""<include>
      <context name="public">{targets}</context>
      <context name="default">{targets}<extension name="queues">
        <condition field="destination_number" expression="^(700[12])$">
          <action application="set" data="queued_in=$1"/>
          <action application="playback" data="local_stream://moh"/>
        </condition></extension></context></include>""")


@pytest.fixture
def ivr(db, database_url, prompt_cache, webhook, smtp):
    directory.store(db, directory.load_file(DEMO))
    fs = FakeSwitch(time_factor=0.01).start()
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    app = start_app(fs, database_url, prompt_cache, env={
        "IVR_APP_SCREEN_POP_WEBHOOK_URL": webhook[0],
        "IVR_APP_PRESENCE_VOICEMAIL_WEBHOOK_URL": webhook[0].replace("/pop", "/voicemail"),
        "IVR_APP_PRESENCE_SMTP_HOST": "127.0.0.1", "IVR_APP_PRESENCE_SMTP_PORT": str(smtp[0])})
    route_company_number(fs, app)
    yield fs, app, out
    app.shutdown()
    fs.stop()


def call(fs, number=EMILY, name="Emily Clark", node=0):
    return fs.place_call("74951112233", caller_id_number=number, caller_id_name=name,
                         variables={"ivr_app_node": str(node)})


_pagd_count: dict[str, int] = {}


def at_menu(fs, ch, n=1):
    """Wait until the caller is in the n-th key prompt of the call."""
    wait_until(lambda: _pagd_count.get(ch.uuid, 0) >= n and
               ch.vars.get("current_application") == "play_and_get_digits",
               timeout=10, what=f"key prompt #{n}")


def is_more_digits(data: str) -> bool:
    """A play_and_get_digits that reads the rest of an entry (prompt "silence",
    handlers/menu_entry.py), not a menu's prompt."""
    words = fsstrings.separate(data)
    return len(words) > 5 and words[5] == "silence"


@pytest.fixture(autouse=True)
def count_prompts(request):
    """Count the key prompts (play_and_get_digits runs with a prompt) per call, from the
    simulator's events."""
    if "ivr" not in request.fixturenames:
        yield
        return
    fs = request.getfixturevalue("ivr")[0]
    _pagd_count.clear()

    def watch(name, headers):
        h = dict(headers)
        if name == "CHANNEL_EXECUTE" and h.get("Application") == "play_and_get_digits" \
                and not is_more_digits(h.get("Application-Data", "")):
            _pagd_count[h["Unique-ID"]] = _pagd_count.get(h["Unique-ID"], 0) + 1

    fs.observers.append(watch)
    yield


def row(db, uuid):
    return wait_until(lambda: db.execute(
        "SELECT route, menu_path, hangup_cause, customer_id FROM calls "
        "WHERE uuid = %s AND ended_at IS NOT NULL", (uuid,)).fetchone(),
        what="the calls row")


def summary(db, uuid):
    """The call's interaction on the customer's timeline (written just after the calls row)."""
    return wait_until(lambda: db.execute("SELECT summary FROM interactions WHERE reference = %s",
                                         (uuid,)).fetchone(), what="the interaction")[0]


def ended(ch):
    wait_until(lambda: ch.destroyed.is_set(), timeout=15, what="the end of the call")


def hang_up_in_voicemail(fs, ch, what="voicemail"):
    """The call reaches voicemail; the caller hangs up without a message (under the minimum)."""
    wait_until(lambda: ch.vars.get("current_application") == "voicemail", timeout=10,
               what=what)
    fs.caller_hangs_up(ch.uuid)
    ended(ch)


def press_while_heard(fs, path: str, digits: str) -> list[str]:
    """Press ``digits`` the moment ``path`` starts playing to a caller (once); returns the
    list the caller's UUID is put in when it happened."""
    pressed: list[str] = []

    def observe(ch, played):
        if played == path and not pressed:
            pressed.append(ch.uuid)
            fs.press(ch.uuid, digits)

    fs.play_observers.append(observe)
    return pressed

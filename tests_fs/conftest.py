"""The third test layer: the app's flows on a real FreeSWITCH 1.10 with real SIP calls.

``make test-fs`` runs it; CI does not (it has no FreeSWITCH). FreeSWITCH is named by the
environment (see ENVIRONMENT); without it the run stops with exit code 2 saying what is
missing, never skipping. Once per session the harness does what a new user does:

1. ``ivr-app freeswitch install --conf $IVR_APP_FS_CONF_DIR`` (freeswitch/README.md), plus
   the test lab's own parts: a gateway ``pstn`` to the SIPp stand-in for the carrier,
   hold music and the say module's number files made with sox / espeak-ng (no FreeSWITCH
   sound packages exist in the registries);
2. a throwaway PostgreSQL, ``ivr-app db migrate``, ``ivr-app db load tests_fs/data.yaml``;
3. ``ivr-app prompts build``, ``ivr-app dialplan deploy --site tests_fs/site.yaml``;
4. ``ivr-app serve`` as its own process; its JSON log is read by the tests.

Each test places SIP calls with SIPp (tests_fs/sip.py) and reads what happened from
FreeSWITCH's events (an Event Socket monitor), the database and the service's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
import yaml
from gevent.pywsgi import WSGIServer

from ivr_app.esl.control import ControlConnection
from ivr_app.esl.events import Event
from ivr_app.testing import pgcluster
from tests_fs.capture_proxy import CaptureProxy
from tests_fs.sip import Sip, wait_for
from tests_fs.smtp_sink import Mail, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
IVR_APP = [sys.executable, "-m", "ivr_app"]

# name: (default, meaning); None: required
ENVIRONMENT: dict[str, tuple[str | None, str]] = {
    "IVR_APP_FS_ESL_PASSWORD": (None, "the Event Socket password FreeSWITCH runs with"),
    "IVR_APP_FS_CONF_DIR": (None, "FreeSWITCH's configuration directory (installed into)"),
    "IVR_APP_FS_ESL_HOST": ("127.0.0.1", "the Event Socket's address"),
    "IVR_APP_FS_ESL_PORT": ("8021", "the Event Socket's port"),
    "IVR_APP_FS_SIP_INTERNAL": ("127.0.0.1:5060", "the internal SIP profile (phones)"),
    "IVR_APP_FS_SIP_EXTERNAL": ("127.0.0.1:5080", "the external SIP profile (callers)"),
    "IVR_APP_FS_SIP_PASSWORD": ("1234", "the directory users' SIP password"),
    "IVR_APP_FS_PSTN_PORT": ("5090", "where the test's stand-in for the carrier listens"),
    "IVR_APP_FS_OUTBOUND_PORT": ("8084", "where ivr-app serve takes FreeSWITCH's calls"),
    "IVR_APP_FS_CAPTURE_DIR": ("", "if set: record each call's Event Socket traffic there"),
}


MEASURED: list[str] = []  # figures the scenarios measured, printed at the end of the run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("measured on the real FreeSWITCH")
        for line in MEASURED:
            terminalreporter.write_line(line)


def setting(name: str) -> str:
    default, _ = ENVIRONMENT[name]
    value = os.environ.get(name, default)
    assert value is not None
    return value


def pytest_configure(config: pytest.Config) -> None:
    missing = [f"  {k}: {meaning}" for k, (default, meaning) in ENVIRONMENT.items()
               if default is None and not os.environ.get(k)]
    if missing:
        pytest.exit("make test-fs needs a real FreeSWITCH 1.10, named by:\n" +
                    "\n".join(missing) + "\n(see tests_fs/README.md)", returncode=2)
    if not shutil.which("sipp"):
        pytest.exit("make test-fs needs SIPp: apt-get install sip-tester", returncode=2)


class Monitor:
    """Every event FreeSWITCH sends, kept in order, with helpers to wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.control = ControlConnection(
            setting("IVR_APP_FS_ESL_HOST"), int(setting("IVR_APP_FS_ESL_PORT")),
            setting("IVR_APP_FS_ESL_PASSWORD"), structlog.get_logger(), events=("ALL",))
        self.control.on("*", self.events.append)

    def start(self) -> Monitor:
        self.control.start()
        if not self.control.wait_connected(10):
            pytest.exit("FreeSWITCH's Event Socket does not answer at "
                        f"{setting('IVR_APP_FS_ESL_HOST')}:{setting('IVR_APP_FS_ESL_PORT')} "
                        "with IVR_APP_FS_ESL_PASSWORD", returncode=2)
        return self

    def api(self, command: str) -> str:
        return self.control.api(command, timeout=30)

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int, name: str | None = None, **headers: str) -> list[Event]:
        return [e for e in self.events[mark:] if (name is None or e.name == name)
                and all(e.get(k.replace("_", "-")) == v for k, v in headers.items())]

    def channel(self, mark: int, part: str, timeout: float = 15) -> str:
        """The UUID of the first channel created since ``mark`` whose name holds ``part``."""
        ev = wait_for(lambda: next((e for e in self.events[mark:]
                                    if e.name == "CHANNEL_CREATE" and
                                    part in (e.get("Channel-Name") or "")), None),
                      timeout, f"a channel ...{part}...")
        return ev.get("Unique-ID") or ""

    def wait(self, mark: int, name: str, timeout: float = 30, **headers: str) -> Event:
        return wait_for(lambda: next(iter(self.since(mark, name, **headers)), None), timeout,
                        f"{name} {headers}")

    def apps(self, mark: int, uuid: str) -> list[tuple[str, str]]:
        """The applications the channel ran since ``mark``: (name, data)."""
        return [(e.get("Application") or "", e.get("Application-Data") or "")
                for e in self.since(mark, "CHANNEL_EXECUTE", Unique_ID=uuid)]


@dataclass
class Lab:
    conf: Path
    monitor: Monitor
    database_url: str
    log: Path
    env: dict[str, str]
    config: Path
    serve: subprocess.Popen | None = None
    proxy: CaptureProxy | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)  # voicemail webhook
    mails: list[Mail] = field(default_factory=list)  # what the SMTP sink was sent
    notes: list[str] = field(default_factory=list)
    # the lab's own PostgreSQL (None with an external DATABASE_URL): the outage scenario
    # stops and starts it
    cluster: pgcluster.ThrowawayCluster | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*IVR_APP, "--config", str(self.config), *args],
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"ivr-app {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def prompt_path(self, name: str, language: str = "en") -> str:
        """The WAV the app rendered for the menus' prompt ``name``."""
        from ivr_app import menus
        from ivr_app.prompts import PromptStore

        cfg = yaml.safe_load(self.config.read_text())["ivr"]
        menu_set = menus.load(Path(cfg["menus"]))
        return str(PromptStore(Path(cfg["sounds_dir"]), Path(cfg["prompt_cache_dir"])).path(
            menu_set.prompts[name], language))

    def prompt_seconds(self, name: str, language: str = "en") -> float:
        """How long the menus' prompt ``name`` plays (the WAV the app rendered)."""
        with wave.open(self.prompt_path(name, language)) as w:
            return w.getnframes() / w.getframerate()

    def db(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True)

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"event": line, "unparsed": True})
        return out

    def start_serve(self) -> None:
        before = len(self.log_lines()) if self.log.exists() else 0
        self.serve = subprocess.Popen(
            [*IVR_APP, "--config", str(self.config), "serve"], env=self.env,
            stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_for(lambda: any(x.get("event") == "outbound socket listening"
                             for x in self.log_lines()[before:]), 20, "ivr-app serve listening")
        wait_for(lambda: any(x.get("event") == "control connection up"
                             for x in self.log_lines()[before:]), 20,
                 "ivr-app's control connection")

    def kill9(self) -> None:
        """What a crash does: no shutdown, no goodbye to FreeSWITCH."""
        assert self.serve is not None
        self.serve.kill()
        self.serve.wait(10)
        self.serve = None

    def stop_serve(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.terminate()
            try:
                self.serve.wait(40)
            except subprocess.TimeoutExpired:
                self.serve.kill()
        self.serve = None


def conf_dir() -> Path:
    return Path(setting("IVR_APP_FS_CONF_DIR"))


def _make_sounds(monitor: Monitor) -> None:
    """Hold music, the English number files the say module names and mod_voicemail's phrases
    (FreeSWITCH's own sound packages are not in the registries): sox for the music, espeak-ng
    for the words."""
    sounds = Path(monitor.api("global_getvar sounds_dir").strip())
    prefix = Path(monitor.api("global_getvar sound_prefix").strip())
    music = sounds / "music" / "8000"
    music.mkdir(parents=True, exist_ok=True)
    if not (music / "ivr-app-test-music.wav").exists():
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1",
                        str(music / "ivr-app-test-music.wav"), "synth", "20", "sine",
                        "300:500", "vol", "0.3"], check=True)
    numbers = [*range(0, 21), *range(30, 100, 10)]
    files = {prefix / "digits" / f"{n}.wav": str(n) for n in numbers}
    files[prefix / "digits" / "hundred.wav"] = "hundred"
    # mod_voicemail hangs up when its phrases' files are missing: the ones its English
    # phrases name (lang/en/vm/sounds.xml), spoken as their own names
    phrases = conf_dir() / "lang" / "en" / "vm" / "sounds.xml"
    if phrases.is_file():
        named = set(re.findall(r"voicemail/vm-[A-Za-z0-9_]+\.wav", phrases.read_text()))
        for rel in sorted(named):
            files[prefix / rel] = rel.split("vm-", 1)[1][:-4].replace("_", " ")
    for target, text in files.items():
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = target.with_suffix(".raw.wav")
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                        str(target)], check=True)
        raw.unlink()


def _install_lab_gateway(conf: Path) -> bool:
    """The test lab's carrier: gateway ``pstn`` on the external profile, to SIPp."""
    path = conf / "sip_profiles" / "external" / "ivr-app-test-pstn.xml"
    text = (f'<include>\n  <gateway name="pstn">\n'
            f'    <param name="proxy" value="127.0.0.1:{setting("IVR_APP_FS_PSTN_PORT")}"/>\n'
            '    <param name="register" value="false"/>\n'
            '    <param name="caller-id-in-from" value="true"/>\n'
            '  </gateway>\n</include>\n')
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def _menus(tmp: Path) -> Path:
    """The example menus, open around the clock, with short queue timings for the tests."""
    data = yaml.safe_load((ROOT / "config" / "menus.example.yaml").read_text())
    for menu in data["menus"].values():
        menu.pop("hours", None)
        menu.pop("after_hours", None)
    data["queues"]["support"].update({"announce_every_seconds": 8, "wrap_up_seconds": 0,
                                      "agent_ring_seconds": 8, "no_answer_pause_seconds": 30,
                                      "caller_id": "+74951117001"})  # its callbacks show it
    # recording.consent_prompt names it: played before a policy recording starts
    data["prompts"]["recording_consent"] = {"text": {
        "en": "This call is recorded.", "ru": "Разговор записывается."}}
    path = tmp / "menus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def clear_channels(monitor: Monitor) -> None:
    """No call of one scenario lives on into the next (an agent still 'on a call' would not
    be offered the next caller)."""
    monitor.api("hupall NORMAL_CLEARING")
    wait_for(lambda: '"row_count": 0' in monitor.api("show channels as json") or
             '"row_count":0' in monitor.api("show channels as json"), 15, "no channels left")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    conf = Path(setting("IVR_APP_FS_CONF_DIR"))
    monitor = Monitor().start()
    clear_channels(monitor)  # what an interrupted run left
    cluster = None
    url = os.environ.get("DATABASE_URL")
    if not pgcluster.answers(url):
        cluster = pgcluster.ThrowawayCluster().start()
        url = pgcluster.create_database(cluster.url("postgres"), "ivr_test_fs")
    assert url is not None
    recordings = Path(monitor.api("global_getvar recordings_dir").strip()) / "ivr-app-test"
    recordings.mkdir(parents=True, exist_ok=True)
    notices: list[dict[str, Any]] = []  # what the voicemail webhook was sent

    def webhook(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        notices.append(json.loads(environ["wsgi.input"].read() or b"{}"))
        start_response("204 No Content", [])
        return [b""]

    hook = WSGIServer(("127.0.0.1", 0), webhook, log=None)
    hook.start()
    smtp = SmtpSink().start()  # voicemail e-mails (presence.smtp_host)
    config = tmp / "ivr-app.yaml"
    dialplan_port = int(setting("IVR_APP_FS_OUTBOUND_PORT"))
    capture = setting("IVR_APP_FS_CAPTURE_DIR")
    serve_port = dialplan_port + 1 if capture else dialplan_port
    proxy = CaptureProxy(dialplan_port, serve_port, Path(capture)).start() if capture else None
    config.write_text(yaml.safe_dump({
        "logging": {"level": "info", "format": "json"},
        "esl": {"host": setting("IVR_APP_FS_ESL_HOST"),
                "port": int(setting("IVR_APP_FS_ESL_PORT"))},
        "outbound": {"host": "127.0.0.1", "port": serve_port},
        "ivr": {"menus": str(_menus(tmp)), "sounds_dir": str(ROOT / "sounds"),
                "prompt_cache_dir": str(tmp / "prompts"), "ring_timeout_seconds": 12},
        "dialplan": {"site": str(HERE / "site.yaml"), "target_dir": str(conf / "dialplan")},
        # calls to Anna (the follow-me scenario) and Rita (the mask scenario) are recorded,
        # after the consent prompt
        "outbox": {"directory": str(tmp / "outbox")},
        "recording": {"directory": str(recordings),
                      "policy": "selected", "employees": "1001,1005",
                      "consent_prompt": "recording_consent"},
        "presence": {"gateway": "sofia/gateway/pstn", "confirm_timeout_seconds": 10,
                     "voicemail_webhook_url": f"http://127.0.0.1:{hook.server_port}/voicemail",
                     "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                     "confirm_prompt": "tone_stream://%(500,0,640)"},
        "queue": {"dispatch_interval_seconds": 0.5},
    }))
    env = {**os.environ, "DATABASE_URL": url,
           "IVR_APP_ESL_PASSWORD": setting("IVR_APP_FS_ESL_PASSWORD")}
    lab = Lab(conf, monitor, url, tmp / "ivr-app.log", env, config, proxy=proxy,
              notices=notices, mails=smtp.mails, cluster=cluster)
    installed = lab.cli("freeswitch", "install", "--conf", str(conf)).stdout
    lab.notes.append(installed.strip())
    gateway = _install_lab_gateway(conf)
    _make_sounds(monitor)
    monitor.api("reloadacl")
    monitor.api("reloadxml")
    if gateway:
        monitor.api("sofia profile external rescan")
    lab.cli("db", "migrate")
    lab.cli("db", "load", str(HERE / "data.yaml"))
    lab.cli("prompts", "build")
    lab.cli("dialplan", "deploy")
    lab.start_serve()
    MEASURED.append(monitor.api("version").strip())
    try:
        yield lab
    finally:
        lab.stop_serve()
        if proxy is not None:
            proxy.stop()
        hook.stop()
        smtp.stop()
        monitor.control.stop()
        if cluster is not None:
            cluster.stop()


@pytest.fixture(autouse=True)
def capture_label(request: pytest.FixtureRequest) -> None:
    """Captured connections are named after the test that made them."""
    if "lab" in request.fixturenames:
        lab = request.getfixturevalue("lab")
        if lab.proxy is not None:
            lab.proxy.label = request.node.name.removeprefix("test_").replace("_", "-")
            lab.proxy.count = 0


@pytest.fixture
def sip(lab: Lab) -> Iterator[Sip]:
    s = Sip(setting("IVR_APP_FS_SIP_INTERNAL"), setting("IVR_APP_FS_SIP_EXTERNAL"),
            setting("IVR_APP_FS_SIP_PASSWORD"))
    yield s
    s.close()
    clear_channels(lab.monitor)  # a SIPp stopped mid-call leaves its legs up in FreeSWITCH

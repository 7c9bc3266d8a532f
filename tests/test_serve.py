"""`ivr-app serve` as a real process: SIGHUP reload keeps the last good config, SIGTERM stops."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


class LogReader:
    """Reads the process's JSON log lines on a thread; waits poll with a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue[dict] = queue.Queue()
        self.raw: list[str] = []
        assert proc.stderr is not None
        self._t = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._t.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.raw.append(line)
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"event": "<not json>", "raw": line})

    def _next(self, deadline: float, missing: str) -> dict:
        """The next log record before ``deadline``; AssertionError naming ``missing`` after."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {missing} log line; got:\n{''.join(self.raw)}")
            try:
                return self.lines.get(timeout=left)
            except queue.Empty:
                continue

    def wait_for_all(self, events: set[str], timeout: float = 15) -> set[str]:
        """Read on until every one of ``events`` has been logged, in any order."""
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while seen != events:
            rec = self._next(deadline, repr(events - seen))
            if rec.get("event") in events:
                seen.add(rec["event"])
        return seen

    def wait_for(self, event: str, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while (rec := self._next(deadline, repr(event))).get("event") != event:
            pass
        return rec


@pytest.fixture
def serve(tmp_path, database_url, prompt_cache):
    cfg = tmp_path / "ivr-app.yaml"
    cfg.write_text("logging:\n  format: json\nservice:\n  shutdown_grace_seconds: 2\n"
                   "outbound:\n  port: 0\nesl:\n  port: 1\n")
    env = dict(os.environ, DATABASE_URL=database_url,
               IVR_APP_IVR_PROMPT_CACHE_DIR=str(prompt_cache),
               IVR_APP_ESL_PASSWORD="a-test-secret-0001")  # serve refuses ClueCon
    # the real threads of this test process must not be gevent's fakes
    proc = subprocess.Popen([str(VENV_BIN / "ivr-app"), "serve", "--config", str(cfg)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        yield proc, cfg
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_sighup_reload_and_sigterm(serve):
    proc, cfg = serve
    log = LogReader(proc)
    # both at start, in either order (the schema check and the start race)
    assert log.wait_for_all({"ready", "database schema up to date"}) == \
        {"ready", "database schema up to date"}

    cfg.write_text("logging:\n  format: json\nesl:\n  port: 70000\n")
    proc.send_signal(signal.SIGHUP)
    rejected = log.wait_for("config reload rejected, keeping the last good config")
    assert rejected["problem"] == f"{cfg}:4: esl.port: must be an integer 1-65535"

    cfg.write_text("logging:\n  format: json\noutbound:\n  port: 0\nesl:\n  port: 8022\n")
    proc.send_signal(signal.SIGHUP)
    reloaded = log.wait_for("config reloaded")
    assert reloaded["needs_restart"] == ["esl"]

    proc.send_signal(signal.SIGTERM)
    log.wait_for("stopped")
    assert proc.wait(timeout=10) == 0


def test_invalid_config_refuses_to_start(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("outbound:\n  max_calls: 0\n")
    out = subprocess.run([str(VENV_BIN / "ivr-app"), "serve", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip() == f"{cfg}:2: outbound.max_calls: must be an integer 1-100000"


@pytest.mark.slow
def test_every_line_of_the_log_is_json_even_psycopg_pools(tmp_path, prompt_cache):
    """The pool's own warnings (a database that does not answer) are JSON objects like the
    app's lines, with level, logger, timestamp and event: the log never mixes in bare text."""
    cfg = tmp_path / "ivr-app.yaml"
    cfg.write_text("logging:\n  format: json\noutbound:\n  port: 0\nesl:\n  port: 1\n"
                   "database:\n  connect_timeout_seconds: 1\n")
    env = dict(os.environ, DATABASE_URL="postgresql://ivr@127.0.0.1:1/nothing-listens-here",
               IVR_APP_IVR_PROMPT_CACHE_DIR=str(prompt_cache),
               IVR_APP_ESL_PASSWORD="a-test-secret-0001")
    proc = subprocess.Popen([str(VENV_BIN / "ivr-app"), "serve", "--config", str(cfg)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        log = LogReader(proc)
        log.wait_for("ready")
        deadline = time.monotonic() + 20
        while not any('"psycopg.pool"' in x for x in log.raw):
            assert time.monotonic() < deadline, "psycopg_pool logged nothing:\n" + \
                "".join(log.raw)
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    log._t.join(timeout=5)
    records = [json.loads(line) for line in log.raw]  # every line, or this raises
    assert all({"level", "logger", "timestamp", "event"} <= r.keys() for r in records), records
    pool = [r for r in records if r["logger"] == "psycopg.pool"]
    assert pool[0]["level"] == "warning"
    assert "error connecting" in pool[0]["event"]


def _serve(cfg: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "ivr-app"), "serve", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=30, env=env)


@pytest.mark.parametrize("password", [None, "ClueCon"])
def test_serve_refuses_freeswitchs_default_esl_password(tmp_path, password):
    """ClueCon (the built-in default, or set on purpose): exit 2 naming the setting and why,
    before anything starts."""
    cfg = tmp_path / "ivr-app.yaml"
    cfg.write_text("outbound:\n  port: 0\n")
    env = {k: v for k, v in os.environ.items() if k != "IVR_APP_ESL_PASSWORD"}
    if password:
        env["IVR_APP_ESL_PASSWORD"] = password
    out = _serve(cfg, env)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "esl.password (IVR_APP_ESL_PASSWORD): ClueCon is FreeSWITCH's published default "
        "(CVE-2019-19492): anyone who reaches the port controls every call; set the password "
        "FreeSWITCH's event_socket.conf.xml has (freeswitch/README.md), or start with "
        "--insecure-dev on a lab machine")


def test_serve_refuses_an_empty_esl_password_even_insecure(tmp_path):
    cfg = tmp_path / "ivr-app.yaml"
    cfg.write_text("esl:\n  password: ''\n")
    for args in ((), ("--insecure-dev",)):
        out = _serve(cfg, dict(os.environ), *args)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip() == f"{cfg}:2: esl.password: must be a non-empty string"


@pytest.mark.slow
def test_insecure_dev_starts_with_clue_con_and_says_so(tmp_path, database_url, prompt_cache):
    cfg = tmp_path / "ivr-app.yaml"
    cfg.write_text("logging:\n  format: json\noutbound:\n  port: 0\nesl:\n  port: 1\n")
    env = dict(os.environ, DATABASE_URL=database_url, IVR_APP_ESL_PASSWORD="ClueCon",
               IVR_APP_IVR_PROMPT_CACHE_DIR=str(prompt_cache))
    proc = subprocess.Popen([str(VENV_BIN / "ivr-app"), "serve", "--config", str(cfg),
                             "--insecure-dev"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        log = LogReader(proc)
        warning = log.wait_for("insecure ESL password allowed by --insecure-dev")
        assert warning["level"] == "warning"
        assert warning["setting"] == "esl.password"
        assert "CVE-2019-19492" in warning["why"]
        log.wait_for("ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

"""Recordings when FreeSWITCH and ivr-app are different users, inspected off the event loop,
and drained at stop (issue 13, recordings exactly once)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import threading
import uuid as uuid_mod
from pathlib import Path

import gevent
import pytest
from psycopg_pool import ConnectionPool

from ivr_app import config, logs
from ivr_app.esl.events import DictEvent
from ivr_app.recording import files
from ivr_app.recording.service import RecordingService

NOBODY = 65534  # Debian's nobody:nogroup stands in for the ivr-app user
# the venv's interpreter may live where nobody cannot enter (/root); files.py needs only the
# standard library, so Debian's own interpreter runs it from the repository
SYSTEM_PYTHON = "/usr/bin/python3"
ROOT = Path(__file__).resolve().parents[1]


def as_nobody(path: Path) -> dict:
    """files.inspect(path) run by another user than the file's owner (root here, standing in
    for FreeSWITCH's user), in a process of its own."""
    code = ("import json, sys; from ivr_app.recording import files; "
            "i = files.inspect(__import__('pathlib').Path(sys.argv[1])); "
            "print(json.dumps(None if i is None else i.__dict__))")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code, str(path)], capture_output=True,
                         text=True, check=False, user=NOBODY, group=NOBODY, extra_groups=[],
                         timeout=60, cwd="/", env={"PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def shared_dir():
    if os.geteuid() != 0:
        pytest.fail("these tests switch to user nobody: run them as root (CI does)")
    d = Path(tempfile.mkdtemp(prefix="ivr-app-rec-"))
    d.chmod(0o755)
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def test_freeswitchs_file_read_through_the_shared_group_is_inspected(shared_dir):
    """FreeSWITCH's file (owner root here, group shared with ivr-app, mode 0640 from its
    umask): ivr-app may not chmod it, and must not try; it reads it and checksums it."""
    path = shared_dir / "rec.wav"
    path.write_bytes(b"RIFF" + b"\0" * 4000)
    os.chown(path, 0, NOBODY)
    path.chmod(0o640)
    info = as_nobody(path)
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["bytes"] == 4004
    assert oct(path.stat().st_mode & 0o777) == "0o640"  # FreeSWITCH's mode kept


def test_a_file_ivr_app_may_not_read_is_reported_not_dropped(shared_dir):
    path = shared_dir / "rec.wav"
    path.write_bytes(b"\0" * 100)
    path.chmod(0o600)
    info = as_nobody(path)
    assert info == {"bytes": 100, "sha256": None, "duration_ms": None}


def test_a_file_ivr_app_owns_is_made_private(tmp_path):
    path = tmp_path / "rec.wav"
    path.write_bytes(b"\0" * 10)
    path.chmod(0o644)
    assert files.inspect(path).sha256 == hashlib.sha256(b"\0" * 10).hexdigest()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def record_stop(path: Path) -> DictEvent:
    return DictEvent({"Event-Name": "RECORD_STOP", "Unique-ID": str(uuid_mod.uuid4()),
                      "Record-File-Path": str(path), "Event-Date-Timestamp": "1764700000000000",
                      "Record-Completion-Cause": "success-silence"})


@pytest.fixture
def service(database_url, tmp_path):
    cfg = config.load(None, {"DATABASE_URL": database_url,
                             "IVR_APP_RECORDING_DIRECTORY": str(tmp_path / "rec"),
                             "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox")})
    pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    svc = RecordingService(cfg, pool, logs.get_logger("t")).start(None)
    (tmp_path / "rec").mkdir()
    yield svc, tmp_path / "rec"
    svc.stop()
    pool.close()


def statuses(db, path: Path) -> list[tuple]:
    return db.execute("SELECT status::text, sha256, bytes FROM recordings WHERE path = %s",
                      (str(path),)).fetchall()


def test_the_checksum_runs_off_the_event_loop(service, db, monkeypatch):
    """RECORD_STOP comes in on the control connection's dispatcher: it only queues; the file
    is read in gevent's thread pool, so a long recording stalls no event behind it."""
    svc, rec = service
    path = rec / "a.wav"
    path.write_bytes(b"\1" * 5000)
    threads = []
    real = files.inspect

    def watched(p, restrict=True):
        threads.append(threading.get_ident())
        return real(p, restrict)

    monkeypatch.setattr(files, "inspect", watched)
    svc.on_record_stop(record_stop(path))
    assert threads == []  # nothing read on the dispatcher
    svc.flush(10)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    assert statuses(db, path) == [("complete", hashlib.sha256(b"\1" * 5000).hexdigest(), 5000)]


def test_an_unreadable_recording_is_attached_as_unreadable(service, db, monkeypatch):
    svc, rec = service
    path = rec / "b.wav"
    path.write_bytes(b"\0" * 64)
    monkeypatch.setattr(files, "inspect", lambda p, restrict=True: files.FileInfo(64, None, None))
    svc.on_record_stop(record_stop(path))
    svc.flush(10)
    assert statuses(db, path) == [("unreadable", None, 64)]


def test_stop_while_the_writer_is_stuck_journals_its_batch(service, db, monkeypatch):
    """The writer is in the middle of a batch (a slow disk here) when the process stops: the
    batch and everything queued behind it go to the outbox's journal, none is lost."""
    svc, rec = service
    release = threading.Event()
    real = files.inspect

    def slow(p, restrict=True):
        if threading.get_ident() != main:
            release.wait(5)  # the writer's thread-pool read hangs
        return real(p, restrict)

    main = threading.get_ident()
    monkeypatch.setattr(files, "inspect", slow)
    paths = [rec / f"{n}.wav" for n in range(3)]
    for p in paths:
        p.write_bytes(b"\0" * 10)
        svc.on_record_stop(record_stop(p))
        gevent.sleep(0.05)
    svc.stop(timeout=0.3)
    release.set()
    journaled = [m["path"] for e in svc.outbox.journal.entries()
                 if e.op == "recordings.attached" for m in e.args["metas"]]
    assert sorted(journaled) == sorted(str(p) for p in paths)
    assert all(statuses(db, p) == [] for p in paths)

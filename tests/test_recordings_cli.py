"""The recordings CLI on real rows and files: list, show, export with a checksum check,
purge, reconcile after a crash, and the customer's timeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
import structlog
from click.testing import CliRunner

from ivr_app.cli import cli
from ivr_app.db import directory
from ivr_app.db.recordings import RecordingMeta, attach_many
from ivr_app.outbox import ops
from ivr_app.outbox.journal import Entry, Journal
from ivr_app.testing.fakeswitch.media import write_wav
from tests.test_directory import DEMO


@pytest.fixture
def setup(db, database_url, tmp_path):
    directory.store(db, directory.load_file(DEMO))
    emily = db.execute("SELECT customer_id FROM customer_phone_numbers WHERE number = "
                       "'+442071234567'").fetchone()[0]
    rec_dir = tmp_path / "rec"
    env = {"DATABASE_URL": database_url, "IVR_APP_RECORDING_DIRECTORY": str(rec_dir),
           "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox")}

    def recording(days_ago: int = 0, seconds: float = 3.0) -> tuple[int, str]:
        call = str(uuid.uuid4())
        path = rec_dir / "2026" / "11" / "23" / f"{call}.wav"
        write_wav(path, seconds)
        data = path.read_bytes()
        stopped = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
        attach_many(db, [RecordingMeta(call, str(path), "complete", customer_id=emily,
                                       sha256=hashlib.sha256(data).hexdigest(),
                                       bytes=len(data), duration_ms=int(seconds * 1000),
                                       stopped_at=stopped.isoformat(), reason="test",
                                       key_presses=[{"key": "*3", "action": "mask",
                                                     "by": "1002", "at": "13:05:01"}])])
        rid = db.execute("SELECT id FROM recordings WHERE path = %s", (str(path),)).fetchone()
        return rid[0], str(path)

    return env, recording, rec_dir, tmp_path


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=env)


def test_list_show_and_timeline(setup):
    env, recording, _, _ = setup
    rid, path = recording()
    out = run(env, "recordings", "list", "--customer", "+442071234567")
    assert out.exit_code == 0, out.output
    assert f"{rid}" in out.output
    assert "Emily Clark" in out.output
    out = run(env, "recordings", "show", str(rid))
    assert f"path              {path}" in out.output
    assert "key               13:05:01 1002 pressed *3: mask" in out.output
    out = run(env, "customer", "timeline", "+442071234567")
    assert out.output.splitlines()[0] == "Emily Clark (Clark & Sons), customer 2"
    assert "recording    recording, 3 s" in out.output
    assert run(env, "recordings", "show", "999").exit_code == 5


def test_export_checks_the_checksum(setup):
    env, recording, _, tmp = setup
    rid, path = recording()
    out = run(env, "recordings", "export", str(rid), "--to", str(tmp / "out"))
    assert out.exit_code == 0, out.output
    assert "verified" in out.output
    with open(path, "ab") as f:
        f.write(b"tampered")
    out = run(env, "recordings", "export", str(rid), "--to", str(tmp / "out2"))
    assert out.exit_code == 9
    assert "the file changed since it was attached" in out.output


def test_purge_older_than(setup, db):
    env, recording, _, _ = setup
    old, old_path = recording(days_ago=100)
    new, new_path = recording(days_ago=1)
    out = run(env, "recordings", "purge", "--older-than", "90")
    assert out.output.strip().endswith("1 recording(s) purged")
    assert db.execute("SELECT id, status::text FROM recordings ORDER BY id").fetchall() == [
        (old, "purged"), (new, "complete")]
    import os

    assert not os.path.exists(old_path)
    assert os.path.exists(new_path)


def test_reconcile_after_a_killed_process(setup, db):
    """Files written, rows missing (the process died before attaching), a row whose file is
    gone, and a recording left in the outbox's journal: reconcile reports all, --fix mends
    all."""
    env, recording, rec_dir, tmp = setup
    orphan_call = str(uuid.uuid4())
    orphan = rec_dir / "2026" / "11" / "23" / f"{orphan_call}.wav"
    write_wav(orphan, 2.0)
    gone_id, gone_path = recording()
    import os

    os.unlink(gone_path)
    spooled_call = str(uuid.uuid4())
    journal = Journal(tmp / "outbox", structlog.get_logger()).open()
    journal.append(Entry.of(ops.RecordingsAttached(
        metas=[RecordingMeta(spooled_call, "/nowhere.wav", "missing").as_dict()])))
    out = run(env, "recordings", "reconcile")
    assert out.exit_code == 1
    assert f"orphan file (no row): {orphan}" in out.output
    assert f"missing file of recording {gone_id}" in out.output
    assert f"1 write(s) waiting in the outbox journal {journal.file}" in out.output
    out = run(env, "recordings", "reconcile", "--fix")
    assert out.exit_code == 0, out.output
    assert "3 problem(s), 3 fixed" in out.output
    rows = dict(db.execute("SELECT call_uuid::text, status::text FROM recordings").fetchall())
    assert rows[orphan_call] == "complete"
    assert rows[spooled_call] == "missing"
    assert db.execute("SELECT status::text FROM recordings WHERE id = %s",
                      (gone_id,)).fetchone() == ("missing",)
    out = run(env, "recordings", "reconcile")
    assert (out.exit_code, out.output.strip().splitlines()[-1]) == (0, "0 problem(s), 0 fixed")
    assert not journal.file.exists()  # replayed, and so gone from the journal

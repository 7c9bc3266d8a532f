"""Recordings attached per second into PostgreSQL, and how many were lost.

    python -m benchmarks.recording_bench        (make bench; DATABASE_URL or a throwaway cluster)

N real WAV files (1 s each) and N RECORD_STOP events go through the same path as in
production: RecordingService.on_record_stop (file checksum, length, metadata) -> the writer
greenlet -> batched, idempotent INSERTs with the timeline entries. The clock runs from the
first event to the last row committed; lost = N - rows.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from benchmarks.database import bench_database  # noqa: E402
from benchmarks.report import write_section  # noqa: E402
from ivr_app import config, logs  # noqa: E402
from ivr_app.db import directory, migrations  # noqa: E402
from ivr_app.esl.events import DictEvent  # noqa: E402
from ivr_app.recording.service import RecordingService  # noqa: E402
from ivr_app.testing.fakeswitch.media import write_wav  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N = int(os.environ.get("BENCH_RECORDINGS", "5000"))


def run(url: str, tmp: Path) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, migrations.default_directory())
        directory.store(conn, directory.load_file(ROOT / "config" / "demo-data.yaml"))
        customer = conn.execute("SELECT min(id) FROM customers").fetchone()[0]
        conn.execute("TRUNCATE recordings, interactions RESTART IDENTITY")
    template = tmp / "template.wav"
    write_wav(template, 1.0)
    data = template.read_bytes()
    events = []
    for _ in range(N):
        call = str(uuid.uuid4())
        path = tmp / "rec" / f"{call}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        events.append(DictEvent({
            "Event-Name": "RECORD_STOP", "Unique-ID": call, "Record-File-Path": str(path),
            "Record-Completion-Cause": "success-silence",
            "variable_ivr_app_customer_id": str(customer),
            "variable_ivr_app_record_reason": "all calls"}))
    cfg = config.load(None, {"DATABASE_URL": url,
                             "IVR_APP_RECORDING_DIRECTORY": str(tmp / "rec"),
                             "IVR_APP_OUTBOX_DIRECTORY": str(tmp / "outbox")})
    with ConnectionPool(url, min_size=1, max_size=4, open=True) as pool:
        service = RecordingService(cfg, pool, logs.get_logger("bench")).start(None)
        t0 = time.perf_counter()
        for ev in events:
            service.on_record_stop(ev)  # what the control connection's dispatcher does
        with pool.connection() as conn:
            while True:
                rows = conn.execute("SELECT count(*) FROM recordings").fetchone()[0]
                if rows >= N or time.perf_counter() - t0 > 300:
                    break
                gevent.sleep(0.01)
        elapsed = time.perf_counter() - t0
        service.stop()
        with pool.connection() as conn:
            rows = conn.execute("SELECT count(*) FROM recordings").fetchone()[0]
            timeline = conn.execute("SELECT count(*) FROM interactions WHERE kind = "
                                    "'recording'").fetchone()[0]
    return {"n": N, "seconds": elapsed, "per_second": rows / elapsed, "lost": N - rows,
            "timeline": timeline, "spooled": service.spooled}


def main() -> int:
    logs.configure("error", "json", stream=open(os.devnull, "w"))  # noqa: SIM115
    with tempfile.TemporaryDirectory() as tmp, bench_database("ivr_bench") as url:
        r = run(url, Path(tmp))
    write_section("recording", f"""## Recording attachment (`python -m benchmarks.recording_bench`)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()},
{os.cpu_count()} cores; PostgreSQL {'from DATABASE_URL' if os.environ.get('DATABASE_URL')
else 'throwaway cluster (fsync off)'}. `BENCH_RECORDINGS=N` changes the count.

{r['n']:,} RECORD_STOP events for real 1-second WAV files, through the production path (sha256
and length of each file, metadata, batched idempotent INSERTs with the timeline entries):
**{r['per_second']:,.0f} recordings attached per second**, {r['lost']} lost
({r['timeline']:,} timeline entries, {r['spooled']} spooled), {r['seconds']:.2f} s in all.
""")
    print(r)
    return 0 if r["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Follow-me latency: from a call entering follow-me to every leg's originate on the wire.

    python -m benchmarks.followme_bench        (make bench; DATABASE_URL or a throwaway cluster)

Calls reach the outbound socket over TCP from the simulator; each handler enters the production
path for Anna (1001: desk, mobile, home, all without ring delay): her profile and the caller
from PostgreSQL, the rules, the follow-me plan with confirm keys and the toll-fraud guard, the
dial string through the quoting gate, the ``bridge`` over ESL. The clock runs from entering
``IvrFlow.ring_extension`` to the simulator's CHANNEL_CREATE of the third leg (both in this
process, one monotonic clock). Calls run one after another, so nothing queues behind another.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent.event  # noqa: E402
import psycopg  # noqa: E402

from benchmarks.database import bench_database  # noqa: E402
from benchmarks.report import write_section  # noqa: E402
from ivr_app import config, logs  # noqa: E402
from ivr_app.db import directory, migrations  # noqa: E402
from ivr_app.db.pool import make_pool  # noqa: E402
from ivr_app.esl.outbound import OutboundServer  # noqa: E402
from ivr_app.handlers.context import HandlerContext  # noqa: E402
from ivr_app.handlers.ivr import Done, IvrFlow  # noqa: E402
from ivr_app.testing.fakeswitch.originate import FarEnd  # noqa: E402
from ivr_app.testing.fakeswitch.switch import FakeSwitch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N = int(os.environ.get("BENCH_FOLLOWME_CALLS", "500"))
LEGS = 3


def run(url: str) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, migrations.default_directory())
        directory.store(conn, directory.load_file(ROOT / "config" / "demo-data.yaml"))
        conn.execute("""UPDATE employee_devices SET ring_delay_s = 0 WHERE employee_id =
                        (SELECT id FROM employees WHERE extension = '1001')""")
    cfg = config.load(None, {"DATABASE_URL": url})
    pool = make_pool(cfg.database)
    pool.open(wait=True)
    fs = FakeSwitch(time_factor=1.0, sessions_per_second=100_000).start()
    answer = FarEnd(answer_after=0.01, talk=0.01)
    for target in ("user/1001", "sofia/gateway/pstn/+79161110001",
                   "sofia/gateway/pstn/+74955550001"):
        fs.originator.far_end(target, FarEnd(answer_after=None) if target != "user/1001"
                              else answer)
    entered: dict[str, float] = {}
    created: list[float] = []
    all_created = gevent.event.Event()

    def watch(name, headers):
        if name == "CHANNEL_CREATE" and dict(headers).get("Call-Direction") == "outbound":
            created.append(time.perf_counter())
            if len(created) >= LEGS:
                all_created.set()

    fs.observers.append(watch)
    log = logs.get_logger("bench")
    ctx = HandlerContext(cfg, pool, log)

    def handler(call):
        call.answer()
        entered[call.uuid] = time.perf_counter()
        with contextlib.suppress(Done):  # the flow ends once the desk has answered
            IvrFlow(call, ctx).ring_extension("1001", then_voicemail=False)

    server = OutboundServer("127.0.0.1", 0, handler, log).start()
    fs.dialplan.load_xml(f"""<include><context name="public"><extension name="x">
      <condition field="destination_number" expression="^7000$">
        <action application="socket" data="127.0.0.1:{server.port} async full"/>
      </condition></extension></context></include>""")
    samples = []
    try:
        for i in range(N + 20):
            created.clear()
            all_created.clear()
            ch = fs.place_call("7000", caller_id_number="+79031234567")
            if not all_created.wait(10):
                raise RuntimeError("follow-me legs not created")
            if i >= 20:  # warm-up: connections, caches
                samples.append((created[-1] - entered[ch.uuid]) * 1000)
            ch.destroyed.wait(10)
    finally:
        server.close()
        fs.stop()
        pool.close()
    samples.sort()
    return {"n": len(samples), "p50": statistics.median(samples),
            "p95": samples[int(len(samples) * 0.95) - 1],
            "p99": samples[int(len(samples) * 0.99) - 1], "max": samples[-1]}


def main() -> int:
    logs.configure("error", "json", stream=open(os.devnull, "w"))  # noqa: SIM115
    with bench_database("ivr_bench_followme") as url:
        r = run(url)
    write_section("followme", f"""## Follow-me latency (`python -m benchmarks.followme_bench`)

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()},
{os.cpu_count()} cores; PostgreSQL {'from DATABASE_URL' if os.environ.get('DATABASE_URL')
else 'throwaway cluster (fsync off)'}. `BENCH_FOLLOWME_CALLS=N` changes the count.

{r['n']:,} calls, one after another, each entering follow-me for an employee with three devices
(desk, mobile and home, no ring delay): profile and caller from PostgreSQL, rules, plan with
confirm keys and the toll-fraud guard, dial string, `bridge` over ESL to the simulator, until
its CHANNEL_CREATE of the third leg. **p95 {r['p95']:.2f} ms** (target <= 20 ms); p50
{r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms.
""")
    print(r)
    return 0 if r["p95"] <= 20 else 1


if __name__ == "__main__":
    sys.exit(main())

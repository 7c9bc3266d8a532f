"""The caller's wait after a menu key: from the key's DTMF event to the next prompt's
PLAYBACK_START, as the app measures it (issue 20).

    python -m benchmarks.menu_bench        (make bench; DATABASE_URL or a throwaway cluster)

The production path: two real Apps (``ivr-app serve``'s composition root: control connection,
outbound socket server, handlers, PostgreSQL with the demo directory) against the simulator
over TCP, the menus of config/menus.example.yaml as they are (inter_digit_ms 2000). Calls to
the company number reach the main menu; the caller presses one key 0.3 s into the greeting,
as a caller who knows the menu would, and hangs up once the next prompt has started.

    (a) 9 (repeat), which no extension starts with: acts at once
    (b) 1 (the sales menu), also the first digit of 1000-1002: waits inter_digit_ms
    (c) 9 on the second App, whose digit map is unknown (the directory not read yet, as
        before DialableExtensions' first read): every digit waits

The three cases are interleaved in one run, a few calls at a time. The figure is the app's
own: each call's ``menu step`` log line (``wait_ms``), checked against the App's metrics
registry (ivr_app_menu_key_wait_seconds).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import datetime as dt  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.pool  # noqa: E402
import gevent.queue  # noqa: E402
import psycopg  # noqa: E402

from benchmarks.database import bench_database  # noqa: E402
from benchmarks.report import write_section  # noqa: E402
from ivr_app import config, logs, menus  # noqa: E402
from ivr_app.app import App  # noqa: E402
from ivr_app.db import directory, migrations  # noqa: E402
from ivr_app.digitmap import DigitMap  # noqa: E402
from ivr_app.prompts import PromptStore  # noqa: E402
from ivr_app.testing.fakeswitch.switch import FakeSwitch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MENUS = ROOT / "config" / "menus.example.yaml"
DEMO = ROOT / "config" / "demo-data.yaml"
# measured calls per case (BENCH_CALLS is esl_bench's parked-call count too: in `make bench`,
# BENCH_MENU_CALLS sets this one alone)
N = int(os.environ.get("BENCH_MENU_CALLS") or os.environ.get("BENCH_CALLS") or "100")
CONCURRENCY = int(os.environ.get("BENCH_MENU_CONCURRENCY", "5"))  # calls at a time
WARMUP = 5  # calls per case before the measured ones (connections, caches)
PRESS_AFTER = 0.3  # seconds into the greeting when the caller presses the key
COMPANY = "74951112233"
CALLER = "+74957770000"  # not in the demo data: an anonymous caller, the plain menu
OPEN = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 11:00 in Moscow: office hours
# case: (label, key, the App it reaches, the step the key must give, the prompt heard next)
CASES = {
    "a": ("unambiguous key", "9", "known", (False, "repeat"), "main_menu"),
    "b": ("ambiguous key", "1", "known", (True, "menu"), "sales_menu"),
    "c": ("unambiguous key, digit map unknown", "9", "unknown", (True, "repeat"), "main_menu"),
}


class StepLog:
    """The apps' log stream (JSON lines): keeps each call's first ``menu step`` line and
    the error lines; the rest is dropped."""

    def __init__(self) -> None:
        self.buf = ""
        self.steps: dict[str, dict] = {}
        self.arrived: dict[str, gevent.event.Event] = {}
        self.errors: list[dict] = []

    def expect(self, uuid: str) -> gevent.event.Event:
        return self.arrived.setdefault(uuid, gevent.event.Event())

    def write(self, s: str) -> int:
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                self._line(line)
        return len(s)

    def _line(self, line: str) -> None:
        try:
            j = json.loads(line)
        except ValueError:
            self.errors.append({"event": "not JSON", "line": line[:200]})
            return
        if j.get("level") in ("error", "critical"):
            self.errors.append(j)
        uuid = j.get("call_uuid")
        if j.get("event") == "menu step" and uuid and uuid not in self.steps:
            self.steps[uuid] = j
            self.expect(uuid).set()

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def start_app(url: str, fs: FakeSwitch, cache: Path, node: str) -> App:
    """An App as ``ivr-app serve`` builds it, wired to the simulator (its own outbound port)."""
    cfg = config.load(None, {
        "DATABASE_URL": url, "IVR_APP_SERVICE_NODE_NAME": node,
        "IVR_APP_ESL_PORT": str(fs.esl_port), "IVR_APP_ESL_PASSWORD": fs.password,
        "IVR_APP_OUTBOUND_PORT": "0", "IVR_APP_IVR_MENUS": str(MENUS),
        "IVR_APP_IVR_SOUNDS_DIR": str(ROOT / "sounds"),
        "IVR_APP_IVR_PROMPT_CACHE_DIR": str(cache),
        "IVR_APP_OUTBOX_DIRECTORY": tempfile.mkdtemp(prefix="ivr-bench-outbox-")})
    app = App(cfg, None, {}, logs.get_logger("app"))
    app.clock = lambda: OPEN
    app.start()
    assert app.control is not None
    assert app.outbound is not None
    if not app.control.wait_connected(10):
        raise RuntimeError("the app's control connection did not connect")
    return app


def route(fs: FakeSwitch, apps: dict[str, App]) -> None:
    """The company number goes to an App's outbound socket; ``ivr_app_node`` picks which."""
    ext = "".join(
        f'<extension name="{node}"><condition field="${{ivr_app_node}}" expression="^{node}$"/>'
        f'<condition field="destination_number" expression="^{COMPANY}$">'
        f'<action application="socket" data="127.0.0.1:{app.outbound.port} async full"/>'
        '</condition></extension>' for node, app in apps.items() if app.outbound)
    fs.dialplan.load_xml(f'<include><context name="public">{ext}</context></include>')


def pct(values: list[float], p: float) -> float:
    """Nearest rank."""
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def run(url: str, cache: Path, steps: StepLog) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn, migrations.default_directory())
        directory.store(conn, directory.load_file(DEMO))
    fs = FakeSwitch(time_factor=1.0, password=secrets.token_hex(12),
                    sessions_per_second=1000).start()
    apps = {"known": start_app(url, fs, cache, "bench-known"),
            "unknown": start_app(url, fs, cache, "bench-unknown")}
    # the second App's directory not read yet: what DialableExtensions holds before its
    # first read (its refresh loop stopped, so it stays so for the run)
    unknown = apps["unknown"].dialable
    assert unknown is not None
    unknown.stop()
    unknown.current = DigitMap()
    known = apps["known"].dialable
    assert known is not None
    assert known.current == DigitMap(frozenset("1"), known=True), known.current
    route(fs, apps)

    press: dict[str, str] = {}  # uuid -> the key its caller presses in the greeting

    def on_play(ch, _part: str) -> None:
        key = press.pop(ch.uuid, None)
        if key is not None:
            gevent.spawn_later(PRESS_AFTER, fs.press, ch.uuid, key)

    fs.play_observers.append(on_play)
    results: list[tuple[str, int, dict | None]] = []

    def one_call(case: str, i: int) -> None:
        _label, key, node, _step, _next = CASES[case]
        ch = fs.place_call(COMPANY, caller_id_number=CALLER, caller_id_name="Bench Caller",
                           variables={"ivr_app_node": node})
        press[ch.uuid] = key
        arrived = steps.expect(ch.uuid)
        got = arrived.wait(20)
        if fs.channel(ch.uuid) is not None:
            fs.caller_hangs_up(ch.uuid)
        ch.destroyed.wait(10)
        results.append((case, i, steps.steps.get(ch.uuid) if got else None))

    jobs: gevent.queue.Queue = gevent.queue.Queue()
    for i in range(WARMUP + N):
        for case in CASES:
            jobs.put((case, i))

    def worker() -> None:
        while not jobs.empty():
            one_call(*jobs.get())

    started = time.perf_counter()
    try:
        workers = gevent.pool.Group()
        for _ in range(CONCURRENCY):
            workers.spawn(worker)
        workers.join(raise_error=True)
        elapsed = time.perf_counter() - started
        gevent.sleep(0.5)  # the last calls' rows
        registry = {node: app.metrics.registry for node, app in apps.items()}
        app = apps["known"]
        assert app.prompts is not None
        assert app.menus is not None
        heard = {case: app.prompts.path(app.menus.prompts[spec[4]], "en")
                 for case, spec in CASES.items()}
    finally:
        for app in apps.values():
            app.shutdown()
        fs.stop()
    return summarize(results, registry, heard, elapsed, steps)


def summarize(results, registry, heard_files, elapsed: float, steps: StepLog) -> dict:
    out: dict = {"elapsed": elapsed, "cases": {}, "problems": [],
                 "errors": [e.get("event") for e in steps.errors]}
    for case, (label, key, node, (waited, result), _prompt) in CASES.items():
        mine = [(i, s) for c, i, s in results if c == case]
        bad = [(i, s) for i, s in mine if s is None or s["digits"] != key or
               s["waited"] != waited or s["result"] != result or s["menu"] != "main" or
               s.get("next") != heard_files[case]]
        for i, s in bad:
            out["problems"].append(f"case {case} call {i}: " + (
                "no menu step line" if s is None else json.dumps(
                    {k: s.get(k) for k in ("digits", "waited", "result", "next", "wait_ms")})))
        every = [s["wait_ms"] for _i, s in mine if s is not None]
        waits = [s["wait_ms"] for i, s in mine if s is not None and i >= WARMUP]
        reg = registry[node]
        labels = {"menu": "main", "waited": "yes" if waited else "no"}
        out["cases"][case] = {
            "label": label, "key": key, "waited": waited, "n": len(waits),
            "p50": pct(waits, 0.5) if waits else math.nan,
            "p95": pct(waits, 0.95) if waits else math.nan,
            "max": max(waits) if waits else math.nan,
            "log_count": len(every), "log_mean": statistics.fmean(every) if every else math.nan,
            # (b) and the other App's (c) share a registry label only with their own calls
            "reg_count": reg.get_sample_value("ivr_app_menu_key_wait_seconds_count", labels),
            "reg_sum": reg.get_sample_value("ivr_app_menu_key_wait_seconds_sum", labels)}
    c = out["cases"]
    for ratio, (x, y) in (("a/c", ("a", "c")), ("a/b", ("a", "b"))):
        out[ratio] = {p: c[x][p] / c[y][p] for p in ("p50", "p95")}
    return out


def ratio(x: float) -> str:
    return f"{x:.4f} (1 : {1 / x:,.0f})" if x else "0"


def registry_line(r: dict) -> str:
    parts = []
    for case, c in r["cases"].items():
        count, total = c["reg_count"] or 0, c["reg_sum"] or 0.0
        mean = total / count * 1000 if count else math.nan
        parts.append(f"({case}) {count:.0f} observations, mean {mean:.1f} ms "
                     f"(log lines: {c['log_count']}, mean {c['log_mean']:.1f} ms)")
    return "; ".join(parts)


def main() -> int:
    steps = StepLog()
    logs.configure("info", "json", stream=steps)
    menu_set = menus.load(MENUS)
    main_menu = menu_set.menus["main"]
    with tempfile.TemporaryDirectory(prefix="ivr-bench-prompts-") as tmp:
        PromptStore(ROOT / "sounds", Path(tmp)).build(menu_set)
        with bench_database("ivr_bench_menu") as url:
            r = run(url, Path(tmp), steps)
    c = r["cases"]
    rows = "\n".join(
        f"| ({k}) {v['label']} | `{v['key']}` | {'yes' if v['waited'] else 'no'} | {v['n']} | "
        f"{v['p50']:,.1f} | {v['p95']:,.1f} | {v['max']:,.1f} |" for k, v in c.items())
    title = "The caller's wait after a menu key (`python -m benchmarks.menu_bench`)"
    write_section("menu", f"""## {title}

{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.python_version()},
{os.cpu_count()} cores; PostgreSQL {'from DATABASE_URL' if os.environ.get('DATABASE_URL')
else 'throwaway cluster (fsync off)'}. `BENCH_MENU_CALLS=N` (or `BENCH_CALLS`: calls
per case) and `BENCH_MENU_CONCURRENCY` change the counts.

Two real Apps (`ivr-app serve`'s composition root, the demo directory in PostgreSQL) take calls
from the simulator over TCP (the outbound socket, the control connection), the menus of
config/menus.example.yaml unchanged: the main menu has direct dial, **inter_digit_ms
{main_menu.inter_digit_ms}**, the extensions 1000-1002 start with 1. Each caller presses one key
{PRESS_AFTER * 1000:.0f} ms into the greeting and hangs up when the next prompt starts; the three
cases interleaved in one run, {CONCURRENCY} calls at a time, {WARMUP} warm-up calls per case
left out. The wait is the app's own figure: from the key's DTMF event to the next prompt's
PLAYBACK_START (both stamped by the simulator), the `wait_ms` of each call's `menu step` log line.

| case | key | waited for more digits | calls | p50 ms | p95 ms | max ms |
|---|---|---|---:|---:|---:|---:|
{rows}

(c) is the second App with its digit map unknown (the directory not read, as before
DialableExtensions' first read): 9 waits like any digit. A key that waits costs
inter_digit_ms, the 20 ms of silence the read of the rest plays after its pause
(menu_entry.AFTER_LAST_DIGIT) and the app's share. **(a)/(c): p50 {ratio(r['a/c']['p50'])}, p95
{ratio(r['a/c']['p95'])}; (a)/(b): p50 {ratio(r['a/b']['p50'])}, p95
{ratio(r['a/b']['p95'])}.** The Apps' metrics registries (ivr_app_menu_key_wait_seconds,
menu="main", warm-up included):
{registry_line(r)}. Calls whose step was missing or not the expected one:
{len(r['problems'])}; error lines in the apps' log: {len(r['errors'])}. All calls took
{r['elapsed']:.0f} s.

The simulator runs in real time (time_factor 1), in the apps' process, with no media: it
fires the DTMF event when the key is queued and PLAYBACK_START when the next file opens, so the
figure is the app's share of the wait (the events over ESL, the read's completion, the menu's
decision, the next `execute`) plus the inter-digit pause where the key waits. On a real
FreeSWITCH the key is detected in the RTP stream and the read and the playback run on the
channel's 20 ms media frames, so the caller's real wait is larger: that figure, the one the goal
(p95 <= 150 ms for an unambiguous key) is judged by, comes from `make test-fs` on the real
FreeSWITCH, not from here.
""")
    print(json.dumps({k: v for k, v in r.items() if k != "problems"}, indent=1, default=str))
    for p in r["problems"][:20]:
        print(p, file=sys.stderr)
    ok = not r["problems"] and all(v["n"] == N for v in c.values()) and c["a"]["p95"] <= 150
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the whole thing on a laptop, narrated.

Throwaway PostgreSQL (started by the Makefile through ivr_app.testing.pgcluster), the demo
data loaded, the FreeSWITCH simulator in this process playing the outside world, and the real
service, ``ivr-app serve``, as a separate process, talking to it over TCP. Two scripted calls
follow: a known customer who asks for his account manager, and an unknown caller who presses
a wrong key and then nothing. What the caller hears and does is printed as it happens, with
the service's own log lines, and the calls rows the service wrote are shown at the end.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402

from ivr_app import logs  # noqa: E402
from ivr_app.testing.fakeswitch.channel import Channel  # noqa: E402
from ivr_app.testing.fakeswitch.dialplan import Dialplan  # noqa: E402
from ivr_app.testing.fakeswitch.switch import FakeSwitch  # noqa: E402
from ivr_app.testing.waiting import wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
T0 = time.monotonic()


def say(who: str, text: str) -> None:
    print(f"{time.monotonic() - T0:6.2f}s  {who:<10} {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def narrate(fs: FakeSwitch) -> None:
    """Tell what a caller would hear and see, from the simulator's events."""

    def on_event(name: str, headers: list[tuple[str, str]]) -> None:
        h = dict(headers)
        if not h.get("Channel-Name", "").startswith("sofia/external/"):
            return
        who = "caller"
        if name == "CHANNEL_ANSWER":
            say("switch", "ivr-app answered the call")
        elif name == "DTMF":
            say(who, f"pressed {h.get('DTMF-Digit')}")
        elif name == "CHANNEL_HANGUP":
            say("switch", f"call over: {h.get('Hangup-Cause')}")

    def on_play(ch: Channel, path: str) -> None:
        if ch.name.startswith("sofia/external/"):
            say("caller", f"hears {describe(path)}")

    fs.observers.append(on_event)
    fs.play_observers.append(on_play)


def describe(path: str) -> str:
    from ivr_app.handlers import welcome

    if path.startswith("say:"):
        return f"ivr-app say: {path.split()[-1]}"
    return {welcome.GREETING: "the greeting chime", welcome.GOODBYE: "the goodbye tone",
            welcome.MENU: "the menu: '1: your account manager, 2: your customer number'",
            welcome.INVALID: "'that is not an option'"}.get(path, path)


def stream_logs(proc: subprocess.Popen) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        print(f"        ivr-app    {line.rstrip()}", flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="the narrated demo")
    p.add_argument("--data", default=str(ROOT / "config" / "demo-data.yaml"))
    p.add_argument("--time-factor", type=float, default=0.5,
                   help="seconds of real time per second of call time")
    args = p.parse_args(argv)
    db_url = os.environ["DATABASE_URL"]
    ivr_app = str(Path(sys.executable).parent / "ivr-app")

    print("== 1. the database: migrations and the demo data ==", flush=True)
    subprocess.run([ivr_app, "demo", "--data", args.data], check=True)

    print("\n== 2. the FreeSWITCH simulator and `ivr-app serve` ==", flush=True)
    logs.configure("warning", "console")
    out_port = free_port()
    fs = FakeSwitch(time_factor=args.time_factor)
    fs.start(port=0)
    dialplan = (ROOT / "dialplan" / "public" / "ivr-app.xml").read_text()
    fs.dialplan = Dialplan()
    fs.dialplan.load_xml(dialplan.replace("127.0.0.1:8084", f"127.0.0.1:{out_port}"),
                         default_context="public")
    narrate(fs)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "ivr-app.yaml"
        cfg.write_text(f"logging:\n  format: console\nesl:\n  port: {fs.esl_port}\n"
                       f"outbound:\n  port: {out_port}\nservice:\n  shutdown_grace_seconds: 5\n")
        env = dict(os.environ, DATABASE_URL=db_url)
        proc = subprocess.Popen([ivr_app, "serve", "--config", str(cfg)], env=env,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        gevent.spawn(stream_logs, proc)
        try:
            wait_until(lambda: fs.listeners, timeout=15, what="ivr-app's control connection")
            say("switch", f"simulator on :{fs.esl_port}, ivr-app listening on :{out_port}")

            print("\n== 3. a known customer calls and asks for his account manager ==",
                  flush=True)
            call = place(fs, "+79031234567", "Ivan Kuznetsov")
            menu_then(fs, call, "1")

            print("\n== 4. an unknown caller presses a wrong key, then nothing ==", flush=True)
            call2 = place(fs, "+15550100200", "Unknown")
            menu_then(fs, call2, "9")

            print("\n== 5. what ivr-app wrote ==", flush=True)
            wait_until(lambda: rows_done(db_url, 2), timeout=10, what="calls rows")
            show_calls(db_url)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            gevent.sleep(0.2)
            fs.stop()
    print(f"\nivr-app stopped with exit code {code}.", flush=True)
    return 0 if code == 0 else 1


def place(fs: FakeSwitch, number: str, name: str) -> Channel:
    say("caller", f"{name} ({number}) dials the company number +7 495 111-22-33")
    return fs.place_call("74951112233", caller_id_number=number, caller_id_name=name)


def menu_then(fs: FakeSwitch, ch: Channel, key: str) -> None:
    wait_until(lambda: ch.vars.get("current_application") == "play_and_get_digits"
               or ch.destroyed.is_set(), timeout=30, what="the menu")
    gevent.sleep(0.6 * fs.time_factor)
    fs.press(ch.uuid, key)
    wait_until(lambda: ch.destroyed.is_set(), timeout=60, what="the end of the call")


def rows_done(url: str, n: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM calls WHERE ended_at IS NOT NULL").fetchone()
    return bool(row and row[0] >= n)


def show_calls(url: str) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT k.caller_number, COALESCE(c.name, '(unknown)'), k.route, k.menu_path,
                      k.hangup_cause, round(extract(epoch FROM k.ended_at - k.started_at), 1)
               FROM calls k LEFT JOIN customers c ON c.id = k.customer_id
               ORDER BY k.started_at""").fetchall()
    for number, name, route, path, cause, secs in rows:
        keys = ",".join(step["digits"] or "-" for step in path)
        print(f"  {number:<14} {name:<16} route={route:<26} keys={keys:<4} "
              f"{cause} after {secs}s", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

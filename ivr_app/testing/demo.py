"""`make demo`: the whole thing on a laptop, narrated.

Throwaway PostgreSQL (started by the Makefile through ivr_app.testing.pgcluster), the demo
data loaded, the IVR's text prompts rendered (espeak-ng), the FreeSWITCH simulator in this
process playing the outside world, and the real service, ``ivr-app serve``, as a separate
process talking to it over TCP. Scripted calls follow:

1. an unknown caller presses a wrong key, then nothing, then 0 for the operator;
2. Emily Clark, a known customer, presses 2 and reaches her account manager;
3. Ivan Kuznetsov, a VIP, skips the menu and rings his account manager directly, whose desk
   gets a screen pop;
4. James sets himself "in a meeting" with *31, and Emily's next call goes to his voicemail;
5. the support queue: three callers wait while its agents are busy, each hearing their place
   and expected wait over the music; agents come free and take them in order, the last asks
   to be called back and is, when an agent is free again; then `ivr-app report queues`.

What each caller hears and does is printed as it happens, with the service's own log lines;
the calls rows and the customers' timelines the service wrote are shown at the end.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402

from ivr_app import logs, menus  # noqa: E402
from ivr_app.prompts import PromptStore  # noqa: E402
from ivr_app.testing.fakeswitch import fsstrings  # noqa: E402
from ivr_app.testing.fakeswitch.channel import Channel  # noqa: E402
from ivr_app.testing.fakeswitch.originate import FarEnd  # noqa: E402
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


class Narrator:
    """Tells what callers hear and do, and what the phones do, from the simulator's events."""

    def __init__(self, fs: FakeSwitch, menu_set: menus.MenuSet, store: PromptStore):
        self.names: dict[str, str] = {}
        for p in menu_set.prompts.values():
            for lang in menu_set.languages:
                text = p.text.get(lang)
                self.names[store.path(p, lang)] = f'"{text}"' if text else p.name
        fs.observers.append(self.on_event)
        fs.play_observers.append(self.on_play)

    def on_play(self, ch: Channel, path: str) -> None:
        if ch.name.startswith("sofia/external/"):
            if path.startswith("file_string://"):  # an announcement over the music
                name = ch.profile.get("caller_id_name") or "the caller"
                say("caller", f"{name} hears over the music: {self.spoken(path)}")
            elif path.startswith("say:"):
                say("caller", f"hears ivr-app say {path.split()[-1]}")
            elif path.startswith("silence_stream://"):
                return
            elif path.startswith("local_stream://"):
                say("caller", "hears music on hold (in the support queue)")
            else:
                say("caller", f"hears {self.names.get(path, path)}")
        elif ch.name.startswith("sofia/internal/") and path in self.names:
            # an employee's own call to ivr-app (a star code): its confirmation
            say(f"phone {ch.name.split('/')[2].split('@')[0]}", f"hears {self.names[path]}")

    def spoken(self, path: str) -> str:
        """file_string://prompt!digits/20.wav!digits/1.wav!... -> "prompt text" 21 ..."""
        words: list[str] = []
        number = 0
        for part in [*path[len("file_string://"):].split("!"), ""]:
            digit = re.search(r"digits/(\d+)\.wav$", part)
            if digit:
                number += int(digit.group(1))
                continue
            if number:
                words.append(str(number))
                number = 0
            if part:
                words.append(self.names.get(part, Path(part).name))
        return " ".join(words)

    def on_event(self, name: str, headers: list[tuple[str, str]]) -> None:
        h = dict(headers)
        chan = h.get("Channel-Name", "")
        if name == "CUSTOM" and h.get("Event-Subclass") == "ivr_app::screen_pop":
            say("desk", f"screen pop on {h.get('ivr_app_employee')}'s desk: customer "
                        f"#{h.get('ivr_app_customer_id') or '-'} calling from "
                        f"{h.get('ivr_app_caller_number')}")
        elif chan.startswith("sofia/internal/"):
            who = f"phone {chan.split('/')[2].split('@')[0]}"
            if name == "CHANNEL_CREATE":
                say(who, "rings")
            elif name == "CHANNEL_ANSWER":
                say(who, "answers: caller and employee are talking")
            elif name == "CHANNEL_HANGUP":
                say(who, f"hangs up ({h.get('Hangup-Cause')})")
        elif chan.startswith("sofia/gateway/"):
            who = "customer"
            if name == "CHANNEL_CREATE":
                say(who, f"{chan.rsplit('/', 1)[-1]} rings: ivr-app is calling back")
            elif name == "CHANNEL_ANSWER":
                say(who, "answers: the agent and the customer are talking")
            elif name == "CHANNEL_HANGUP":
                say(who, f"hangs up ({h.get('Hangup-Cause')})")
        elif chan.startswith("sofia/external/"):
            if name == "DTMF":
                say("caller", f"presses {h.get('DTMF-Digit')}")
            elif name == "CHANNEL_HANGUP":
                say("switch", f"call over: {h.get('Hangup-Cause')}")


def stream_logs(proc: subprocess.Popen) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        print(f"        ivr-app    {line.rstrip()}", flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="the narrated demo")
    p.add_argument("--data", default=str(ROOT / "config" / "demo-data.yaml"))
    p.add_argument("--time-factor", type=float, default=0.5,
                   help="seconds of real time per second of call time")
    p.add_argument("--prompt-cache", default=str(ROOT / "var" / "prompts"))
    args = p.parse_args(argv)
    db_url = os.environ["DATABASE_URL"]
    ivr_app = str(Path(sys.executable).parent / "ivr-app")
    tf = args.time_factor

    with tempfile.TemporaryDirectory() as tmp:
        # the example menus, around the clock (the demo may run at night)
        menus_file = Path(tmp) / "menus.yaml"
        # the queue's announcements and wrap-up in demo time
        menus_file.write_text((ROOT / "config" / "menus.example.yaml").read_text()
                              .replace("    hours: office\n", "")
                              .replace("announce_every_seconds: 30",
                                       f"announce_every_seconds: {max(1, round(12 * tf))}")
                              .replace("wrap_up_seconds: 10",
                                       f"wrap_up_seconds: {round(4 * tf)}"))
        cfg = Path(tmp) / "ivr-app.yaml"
        out_port = free_port()
        # a password of its own, as a production FreeSWITCH has (serve refuses ClueCon);
        # every ivr-app command the demo runs inherits it
        os.environ["IVR_APP_ESL_PASSWORD"] = esl_password = secrets.token_urlsafe(18)
        fs = FakeSwitch(time_factor=tf, password=esl_password)
        fs.start(port=0)
        cfg.write_text(f"logging:\n  format: console\nesl:\n  port: {fs.esl_port}\n"
                       f"outbound:\n  port: {out_port}\nservice:\n  shutdown_grace_seconds: 5\n"
                       f"ivr:\n  menus: {menus_file}\n  prompt_cache_dir: {args.prompt_cache}\n"
                       f"  ring_timeout_seconds: 20\n")

        print("== 1. the database: migrations and the demo data ==", flush=True)
        subprocess.run([ivr_app, "demo", "--data", args.data], check=True)
        print("\n== 2. the IVR prompts, rendered from the menus' text ==", flush=True)
        subprocess.run([ivr_app, "--config", str(cfg), "prompts", "build"], check=True)

        print("\n== 3. the dialplan, deployed into the simulator as into FreeSWITCH ==",
              flush=True)
        logs.configure("warning", "console")
        site_file = Path(tmp) / "site.yaml"
        site_file.write_text((ROOT / "dialplan" / "site.example.yaml").read_text()
                             .replace("port: 8084", f"port: {out_port}"))
        fs.dialplan_dir = Path(tmp) / "conf" / "dialplan"
        subprocess.run([ivr_app, "--config", str(cfg), "dialplan", "deploy", "--site",
                        str(site_file), "--target", str(fs.dialplan_dir)], check=True)

        print("\n== 4. `ivr-app serve` ==", flush=True)
        for ext, answer, talk in (("1000", 2.0, 3.0), ("1001", 2.5, 4.0), ("1002", 1.5, 3.0)):
            fs.originator.far_end(f"user/{ext}", FarEnd(answer_after=answer, talk=talk))
        menu_set = menus.load(menus_file)
        Narrator(fs, menu_set, PromptStore(ROOT / "sounds", Path(args.prompt_cache)))
        env = dict(os.environ, DATABASE_URL=db_url)
        proc = subprocess.Popen([ivr_app, "serve", "--config", str(cfg)], env=env,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        gevent.spawn(stream_logs, proc)
        code = None
        try:
            wait_until(lambda: fs.listeners, timeout=30, what="ivr-app's control connection")
            say("switch", f"simulator on :{fs.esl_port}, ivr-app listening on :{out_port}")

            print("\n== 5. an unknown caller: a wrong key, then nothing, then the operator ==",
                  flush=True)
            ch = place(fs, "+15550100200", "Unknown")
            keys_at_menu(fs, ch, ["7", None, "0"])
            ended(ch)

            print("\n== 6. Emily Clark, a customer, asks for her account manager ==",
                  flush=True)
            ch = place(fs, "+442071234567", "Emily Clark")
            keys_at_menu(fs, ch, ["2"])
            ended(ch)

            print("\n== 7. Ivan Kuznetsov, a VIP: no menu, straight to his manager ==",
                  flush=True)
            ch = place(fs, "+79031234567", "Ivan Kuznetsov")
            ended(ch)

            print("\n== 8. James Wilson dials *31 on his desk phone: in a meeting ==",
                  flush=True)
            say("james", "dials *31")
            ch = fs.phone_call("1002", "*31", name="James Wilson")
            ended(ch)

            print("\n== 9. Emily calls again: James is in a meeting, so his voicemail ==",
                  flush=True)
            ch = place(fs, "+442071234567", "Emily Clark")
            keys_at_menu(fs, ch, ["2"])
            wait_until(lambda: ch.vars.get("current_application") == "voicemail" or
                       ch.destroyed.is_set(), timeout=60, what="voicemail")
            say("caller", "leaves a message for James")
            gevent.sleep(6 * fs.time_factor)
            fs.caller_hangs_up(ch.uuid)
            ended(ch)

            print("\n== 10. the support queue: Anna is busy, James in his meeting, three "
                  "callers wait ==", flush=True)
            queue_scene(fs, db_url)

            print("\n== 11. what ivr-app wrote ==", flush=True)
            wait_until(lambda: rows_done(db_url, 8), timeout=20, what="calls rows")
            show(db_url)
            today = time.strftime("%Y-%m-%d")
            tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
            print(f"\n$ ivr-app report queues --from {today} --to {tomorrow}", flush=True)
            subprocess.run([ivr_app, "--config", str(cfg), "report", "queues", "--from", today,
                            "--to", tomorrow], check=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            gevent.sleep(0.2)
            fs.stop()
    print(f"\nivr-app stopped with exit code {code}.", flush=True)
    return 0 if code == 0 else 1


def queue_scene(fs: FakeSwitch, db_url: str) -> None:
    """Dmitry reaches Anna (support) and keeps her busy; James is in his meeting. Three more
    callers press 3 for support and wait, each hearing their place over the music; Emily, a
    customer of the support team's James, goes ahead of the strangers. James comes back (*30)
    and takes Emily; Dmitry hangs up and Anna, after her wrap-up, takes the next caller; the
    last one, now first in line, asks to be called back, and is, once an agent is free."""
    fs.originator.far_end("user/1001", FarEnd(answer_after=1.0, talk=None))
    fs.originator.far_end("user/1002", FarEnd(answer_after=1.0, talk=None))
    dmitry = place(fs, "+78127654321", "Dmitry Orlov")
    keys_at_menu(fs, dmitry, ["3"])
    wait_until(lambda: dmitry.other is not None, timeout=60, what="Dmitry talking to Anna")
    waiting = []
    for number, name in (("+15550100301", "A caller"), ("+15550100302", "Another caller"),
                         ("+442071234567", "Emily Clark")):
        ch = place(fs, number, name)
        keys_at_menu(fs, ch, ["3"])
        wait_until(lambda ch=ch: announced(fs, ch), timeout=60, what="the first announcement")
        waiting.append(ch)
    first, second, emily = waiting
    # both strangers hear their place again, now behind Emily
    heard = [announced(fs, first), announced(fs, second)]
    wait_until(lambda: announced(fs, first) > heard[0] and announced(fs, second) > heard[1],
               timeout=60, what="the next announcements")
    say("james", "dials *30: available again")
    star = fs.phone_call("1002", "*30", name="James Wilson")
    ended(star)
    wait_until(lambda: emily.other is not None, timeout=60, what="Emily talking to James")
    say("caller", "Dmitry Orlov says goodbye")
    fs.caller_hangs_up(dmitry.uuid)
    wait_until(lambda: first.other is not None, timeout=60, what="the next caller with Anna")
    heard = announced(fs, second)
    wait_until(lambda: announced(fs, second) > heard, timeout=60, what="first in line")
    gevent.sleep(2 * fs.time_factor)
    fs.originator.far_end("sofia/gateway/pstn/+15550100302", FarEnd(answer_after=1.0, talk=3.0))
    fs.press(second.uuid, "2")
    ended(second)
    for ch, name in ((first, "A caller"), (emily, "Emily Clark")):
        gevent.sleep(2 * fs.time_factor)
        say("caller", f"{name} says goodbye")
        fs.caller_hangs_up(ch.uuid)
        ended(ch)
    # an agent is free again: ivr-app calls back (the agent first, then the customer)
    wait_until(lambda: callback_over(db_url), timeout=60, what="the callback")


def callback_over(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("""SELECT count(*) FROM queue_entries WHERE callback_id IS NOT NULL
                              AND ended_at IS NOT NULL""").fetchone()
    return bool(row and row[0])


def announced(fs: FakeSwitch, ch: Channel) -> int:
    return sum(1 for d in fs.displaced if d.uuid == ch.uuid)


def place(fs: FakeSwitch, number: str, name: str) -> Channel:
    say("caller", f"{name} ({number}) dials the company number +7 495 111-22-33")
    return fs.place_call("74951112233", caller_id_number=number, caller_id_name=name)


def keys_at_menu(fs: FakeSwitch, ch: Channel, keys: list[str | None]) -> None:
    """At each key prompt press the next key (None: press nothing and let it time out)."""
    seen = 0
    runs: list[str] = []

    def count(name: str, headers: list[tuple[str, str]]) -> None:
        h = dict(headers)
        if name == "CHANNEL_EXECUTE" and h.get("Unique-ID") == ch.uuid and \
                h.get("Application") == "play_and_get_digits" and \
                fsstrings.separate(h.get("Application-Data", ""))[5:6] != ["silence"]:
            runs.append(h["Application-UUID"])  # a menu's prompt, not the rest of an entry

    fs.observers.append(count)
    try:
        for key in keys:
            seen += 1
            wait_until(lambda s=seen: len(runs) >= s or ch.destroyed.is_set(), timeout=60,
                       what="the menu")
            if key is None:
                say("caller", "says nothing")
                continue
            gevent.sleep(1.5 * fs.time_factor)
            fs.press(ch.uuid, key)
    finally:
        fs.observers.remove(count)


def ended(ch: Channel) -> None:
    wait_until(lambda: ch.destroyed.is_set(), timeout=120, what="the end of the call")


def rows_done(url: str, n: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(  # ended, and on the customer's timeline when there is one
            """SELECT count(*) FROM calls k WHERE k.ended_at IS NOT NULL AND
               (k.customer_id IS NULL OR EXISTS (SELECT 1 FROM interactions i
                                                 WHERE i.reference = k.uuid::text))"""
        ).fetchone()
    return bool(row and row[0] >= n)


def show(url: str) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT k.caller_number, COALESCE(c.name, '(unknown)'), k.route, k.menu_path,
                      k.hangup_cause
               FROM calls k LEFT JOIN customers c ON c.id = k.customer_id
               ORDER BY k.started_at""").fetchall()
        print("calls:", flush=True)
        for number, name, route, path, cause in rows:
            keys = ",".join(step["digits"] or "-" for step in path) or "none"
            print(f"  {number:<14} {name:<15} keys={keys:<6} route={route}  [{cause}]",
                  flush=True)
        print("customers' timelines:", flush=True)
        for name, summary in conn.execute(
                """SELECT c.name, i.summary FROM interactions i
                   JOIN customers c ON c.id = i.customer_id ORDER BY i.occurred_at"""):
            print(f"  {name:<15} {summary}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

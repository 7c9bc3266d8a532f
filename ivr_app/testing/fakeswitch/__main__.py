"""Run the simulator on its own: ``python -m ivr_app.testing.fakeswitch --esl-port 8021 ...``.

Besides FreeSWITCH's own API it answers a few commands of its own, so another process (the
demo, a benchmark) can act as the outside world over the same Event Socket:

    api fakeswitch call <destination> [<caller number> [<caller name>]]   -> +OK <uuid>
    api fakeswitch press <uuid> <digits>
    api fakeswitch hangup <uuid> [<cause>]
    api fakeswitch far_end <dial target> <answer after s|never|busy> [<keys to press>]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from ivr_app import logs  # noqa: E402
from ivr_app.testing.fakeswitch.dialplan import Dialplan  # noqa: E402
from ivr_app.testing.fakeswitch.switch import FakeSwitch  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fakeswitch", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--esl-port", type=int, default=8021)
    p.add_argument("--password", default="ClueCon")
    p.add_argument("--dialplan", action="append", default=[],
                   help="dialplan XML file or directory (repeatable)")
    p.add_argument("--time-factor", type=float, default=1.0)
    p.add_argument("--max-sessions", type=int, default=1000)
    p.add_argument("--sessions-per-second", type=int, default=30)
    p.add_argument("--sound-dir", action="append", default=[])
    p.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    fs = FakeSwitch(password=args.password, time_factor=args.time_factor,
                    dialplan=Dialplan.from_files(*args.dialplan) if args.dialplan else None,
                    max_sessions=args.max_sessions,
                    sessions_per_second=args.sessions_per_second,
                    sound_dirs=tuple(args.sound_dir))
    fs.start(args.host, args.esl_port)
    print(f"fakeswitch listening on {args.host}:{fs.esl_port}", flush=True)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    stop.wait()
    fs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``ivr-app queue ...`` (live figures, callback requests) and ``ivr-app report queues``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import time
from collections.abc import Mapping
from typing import Any

import click

from ivr_app import logs
from ivr_app.clikit import Context, fails_cleanly, pass_ctx, table
from ivr_app.queue.figures import Figures, figures
from ivr_app.queue.spec import QueueSpec


def _queues(ctx: Context, only: str | None) -> Mapping[str, QueueSpec]:
    from ivr_app import menus
    from ivr_app.errors import NotFound

    cfg = ctx.config
    defined = menus.load(cfg.path(cfg.ivr.menus)).queues
    if only is not None:
        if only not in defined:
            raise NotFound(f"no queue named {only} in {cfg.ivr.menus}")
        return {only: defined[only]}
    return defined


def _busy_extensions(ctx: Context) -> list[str] | None:
    """Extensions on a call now, from FreeSWITCH's channels; None when it does not answer
    (the figures then count only what PostgreSQL knows: queue calls)."""
    from ivr_app.esl.control import ControlConnection
    from ivr_app.presence.oncall import extension_of

    cfg = ctx.config
    control = ControlConnection(cfg.esl.host, cfg.esl.port, cfg.esl.password,
                                logs.get_logger("cli"), events=["CHANNEL_ANSWER"]).start()
    try:
        if not control.wait_connected(min(cfg.esl.connect_timeout_seconds, 3.0)):
            return None
        rows = dict(control.channels)
        return sorted({ext for row in rows.values()
                       if (ext := extension_of(row.get("name", ""))) is not None})
    finally:
        control.stop()


@click.group("queue")
def queue_group() -> None:
    """Hold queues: live figures and callback requests."""


@queue_group.command("stats")
@click.option("--queue", "only", help="one queue (default: every queue in the menus file)")
@click.option("--watch", type=float, default=None, is_flag=False, flag_value=2.0,
              help="refresh every N seconds (2 when given without a value)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per queue per line")
@pass_ctx
@fails_cleanly
def queue_stats(ctx: Context, only: str | None, watch: float | None, as_json: bool) -> None:
    """Waiting now, longest and average wait, today's service level, answered, abandoned, and
    agents available / busy / in wrap-up, per queue."""
    from ivr_app.db import queue_stats as qstats
    from ivr_app.db.pool import connect
    from ivr_app.queue.stats import as_json as live_json

    logs.configure("error", "console", stream=sys.stderr)  # stdout is for the figures
    queues = _queues(ctx, only)
    while True:
        busy = _busy_extensions(ctx)
        with connect(ctx.config.database) as conn:
            lives = [qstats.live(conn, q.name, q.skills, q.service_level_seconds, busy or [])
                     for q in queues.values()]
        if as_json:
            for live in lives:
                click.echo(live_json(live))
        else:
            if watch:
                click.echo("\x1b[2J\x1b[H", nl=False)  # clear the terminal
            click.echo(table(
                ("queue", "waiting", "longest", "avg wait", "SL today", "answered",
                 "abandoned", "available", "busy", "wrap-up"),
                [(lv.queue, lv.waiting, _secs(lv.longest_wait_s), _secs(lv.average_wait_s),
                  _pct(lv.service_level), lv.answered, lv.abandoned, lv.agents_available,
                  lv.agents_busy, lv.agents_wrap_up) for lv in lives]))
            if busy is None:
                click.echo("(FreeSWITCH did not answer: agents on non-queue calls count as "
                           "available)", err=True)
        if not watch:
            return
        time.sleep(watch)


@queue_group.command("callbacks")
@click.option("--queue", "only", help="one queue")
@pass_ctx
@fails_cleanly
def queue_callbacks(ctx: Context, only: str | None) -> None:
    """Open callback requests, oldest first."""
    from ivr_app.db import queue_callbacks as qcb
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        rows = qcb.open_callbacks(conn, only)
    click.echo(table(("id", "queue", "number", "customer", "requested"),
                     [(r.id, r.queue, r.number, r.customer or "",
                       f"{r.requested_at:%Y-%m-%d %H:%M}") for r in rows]))


@queue_group.command("callback-done")
@click.argument("callback_id", type=int)
@click.option("--by", default=None, help="who called back (default: your login)")
@pass_ctx
@fails_cleanly
def queue_callback_done(ctx: Context, callback_id: int, by: str | None) -> None:
    """Mark a callback request as done."""
    import getpass

    from ivr_app.db import queue_callbacks as qcb
    from ivr_app.db.pool import connect
    from ivr_app.errors import NotFound

    with connect(ctx.config.database) as conn:
        if not qcb.callback_done(conn, callback_id, by or getpass.getuser()):
            raise NotFound(f"no open callback request {callback_id}")
    click.echo(f"callback {callback_id} done")


@click.group("report")
def report_group() -> None:
    """Reports from the history in PostgreSQL."""


@report_group.command("queues")
@click.option("--from", "start", required=True, type=click.DateTime(
    formats=["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]),
    help="first day (or time) counted, local time")
@click.option("--to", "end", required=True, type=click.DateTime(
    formats=["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]),
    help="the end, exclusive (a date: up to that midnight)")
@click.option("--queue", "only", help="one queue")
@click.option("--csv", "as_csv", is_flag=True, help="CSV: one row per queue, then per agent")
@pass_ctx
@fails_cleanly
def report_queues(ctx: Context, start: dt.datetime, end: dt.datetime, only: str | None,
                  as_csv: bool) -> None:
    """Contact-centre figures for callers who entered the queues in [--from, --to): offered,
    answered, abandoned, overflowed, service level (answered within the queue's threshold /
    (offered - abandoned within it)), average speed of answer, longest wait, and per agent the
    calls answered and talk time."""
    from ivr_app.db import queue_stats as qstats
    from ivr_app.db.pool import connect
    from ivr_app.errors import UsageError

    start, end = start.astimezone(), end.astimezone()  # naive = local time
    if end <= start:
        raise UsageError("--to must come after --from")
    queues = _queues(ctx, only)
    with connect(ctx.config.database) as conn:
        rows = qstats.entries(conn, start, end, only)
    results: list[tuple[str, int, Figures]] = []
    names = sorted(set(queues) | {e.queue for e in rows if e.queue})
    for name in names:
        threshold = queues[name].service_level_seconds if name in queues else 20
        results.append((name, threshold, figures([e for e in rows if e.queue == name],
                                                 threshold)))
    click.echo(_csv(results) if as_csv else _text(results, start, end))


def _secs(v: float | None) -> str:
    return "" if v is None else f"{v:.0f} s"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f} %"


def _text(results: list[tuple[str, int, Figures]], start: Any, end: Any) -> str:
    out = [f"queues, callers who entered from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}",
           "", table(("queue", "offered", "answered", "abandoned", "overflow", "SL", "within",
                      "ASA", "longest wait"),
                     [(n, f.offered, f.answered, f.abandoned, f.overflowed, _pct(f.service_level),
                       f"{t} s", _secs(f.asa_s), _secs(f.longest_wait_s))
                      for n, t, f in results])]
    agents = [(n, a, c, _secs(talk)) for n, _t, f in results for a, (c, talk) in
              f.per_agent.items()]
    if agents:
        out += ["", table(("queue", "agent", "answered", "talk time"), agents)]
    return "\n".join(out)


def _csv(results: list[tuple[str, int, Figures]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["queue", "agent", "offered", "answered", "abandoned", "overflow",
                "service_level_pct", "service_level_seconds", "asa_seconds",
                "longest_wait_seconds", "talk_seconds"])

    def num(v: float | None, scale: float = 1.0) -> str:
        return "" if v is None else f"{v * scale:.1f}"

    for name, threshold, f in results:
        w.writerow([name, "", f.offered, f.answered, f.abandoned, f.overflowed,
                    num(f.service_level, 100.0), threshold, num(f.asa_s),
                    num(f.longest_wait_s), num(sum(t for _c, t in f.per_agent.values()))])
        for agent, (count, talk) in f.per_agent.items():
            w.writerow([name, agent, "", count, "", "", "", "", "", "", num(talk)])
    return buf.getvalue().rstrip("\n")

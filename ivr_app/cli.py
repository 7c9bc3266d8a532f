"""The ops CLI: ``ivr-app serve | config | db | demo``.

Errors from the library arrive as :class:`ivr_app.errors.IvrAppError`; they are printed here,
one line per problem, and turned into the error's exit code. Nothing else calls sys.exit.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ivr_app import config as config_mod
from ivr_app import fsconf, logs
from ivr_app.clikit import Context, pass_ctx
from ivr_app.clikit import fails_cleanly as _fails_cleanly
from ivr_app.clikit import table as _table
from ivr_app.errors import ConfigError
from ivr_app.queue import commands as queue_commands

EXTENSION_RE = re.compile(r"[0-9]{2,8}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="IVR_APP_CONFIG",
              help="YAML configuration file (env IVR_APP_CONFIG). Without it: built-in defaults "
                   "plus environment overrides.")
@click.version_option(package_name="ivr-app")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """ivr-app: IVR, presence / find-me-follow-me and call recording for FreeSWITCH."""
    ctx.obj = Context(config_path)


# ----------------------------------------------------------------------------- serve


@cli.command()
@click.option("--config", "serve_config", type=click.Path(dir_okay=False),
              help="YAML configuration file (same as the group's --config).")
@click.option("--insecure-dev", is_flag=True,
              help="Start even with the ESL password ClueCon or an empty one (a lab machine "
                   "or the simulator only; a warning is logged).")
@pass_ctx
@_fails_cleanly
def serve(ctx: Context, serve_config: str | None, insecure_dev: bool) -> None:
    """Run the service until SIGTERM (SIGHUP reloads the configuration)."""
    from ivr_app.app import App
    from ivr_app.esl.password import weakness

    if serve_config:
        ctx.config_path = serve_config
    cfg = ctx.config
    weak = weakness(cfg.esl.password)
    if weak and not insecure_dev:
        raise ConfigError([f"esl.password (IVR_APP_ESL_PASSWORD): {weak}; set the password "
                           "FreeSWITCH's event_socket.conf.xml has (freeswitch/README.md), or "
                           "start with --insecure-dev on a lab machine"])
    logs.configure(cfg.logging.level, cfg.logging.format)
    if weak:
        logs.get_logger("app").warning("insecure ESL password allowed by --insecure-dev",
                                       setting="esl.password", why=weak)
    app = App(cfg, Path(ctx.config_path) if ctx.config_path else None, dict(os.environ),
              logs.get_logger("app"))
    sys.exit(app.run())


# ----------------------------------------------------------------------------- config


@cli.group("config")
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@pass_ctx
@_fails_cleanly
def config_check(ctx: Context, file: str | None) -> None:
    """Validate FILE (default: --config) with the environment; print the effective settings."""
    path = file or ctx.config_path
    cfg = config_mod.load(path, os.environ)
    click.echo(f"{cfg.source}: OK")
    for line in config_mod.describe(cfg):
        click.echo(f"  {line}")


# ----------------------------------------------------------------------------- db


@cli.group("db")
def db_group() -> None:
    """Database schema and data."""


def _migrations_dir(value: str | None) -> Path:
    from ivr_app.db import migrations

    return Path(value) if value else migrations.default_directory()


@db_group.command("migrate")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="migrations directory")
@pass_ctx
@_fails_cleanly
def db_migrate(ctx: Context, directory: str | None) -> None:
    """Apply pending migrations (each in its own transaction). Safe to run again."""
    from ivr_app.db import migrations
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        done = migrations.migrate(conn, _migrations_dir(directory))
    if not done:
        click.echo("database schema up to date: nothing to apply")
    for m in done:
        click.echo(f"applied {m.filename}")


@db_group.command("status")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="migrations directory")
@pass_ctx
@_fails_cleanly
def db_status(ctx: Context, directory: str | None) -> None:
    """List applied and pending migrations."""
    from ivr_app.db import migrations
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        rows = migrations.status(conn, _migrations_dir(directory))
    pending = 0
    for s in rows:
        if s.applied:
            click.echo(f"applied  {s.migration.filename}  {s.applied.applied_at:%Y-%m-%d %H:%M:%S}")
        else:
            pending += 1
            click.echo(f"pending  {s.migration.filename}")
    click.echo(f"{len(rows) - pending} applied, {pending} pending")


@db_group.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
@_fails_cleanly
def db_load(ctx: Context, file: str) -> None:
    """Load employees, devices and customers from a YAML FILE (upsert; safe to repeat)."""
    from ivr_app.db import directory
    from ivr_app.db.pool import connect

    data = directory.load_file(file)
    with connect(ctx.config.database) as conn:
        r = directory.store(conn, data)
    click.echo(f"loaded {r.employees} employees ({r.devices} devices), "
               f"{r.customers} customers ({r.phones} numbers) from {file}")


# ----------------------------------------------------------------------------- prompts


@cli.group("prompts")
def prompts_group() -> None:
    """IVR prompts: render text prompts to WAV, check that every prompt can play."""


def _prompt_store(ctx: Context) -> tuple[Any, Any]:
    from ivr_app import menus
    from ivr_app.prompts import PromptStore

    cfg = ctx.config
    return (menus.load(cfg.path(cfg.ivr.menus)),
            PromptStore(cfg.path(cfg.ivr.sounds_dir), cfg.path(cfg.ivr.prompt_cache_dir)))


@prompts_group.command("build")
@click.option("--force", is_flag=True, help="render again even when cached")
@pass_ctx
@_fails_cleanly
def prompts_build(ctx: Context, force: bool) -> None:
    """Render every text prompt of the menus with espeak-ng (cached by text hash)."""
    menu_set, store = _prompt_store(ctx)
    written = store.build(menu_set, force=force)
    store.check(menu_set)
    click.echo(f"{len(written)} files rendered into {store.cache_dir}; every prompt can play")


@prompts_group.command("check")
@pass_ctx
@_fails_cleanly
def prompts_check(ctx: Context) -> None:
    """Exit 2 (one line per problem) unless every prompt of the menus can play."""
    menu_set, store = _prompt_store(ctx)
    store.check(menu_set)
    click.echo(f"{len(menu_set.prompts)} prompts, all playable")


# ----------------------------------------------------------------------------- dialplan


@cli.group("dialplan")
def dialplan_group() -> None:
    """Render, validate, diff, deploy and roll back the dialplan."""


site_option = click.option("--site", type=click.Path(dir_okay=False),
                           help="the site YAML (default: dialplan.site)")
target_option = click.option("--target", type=click.Path(file_okay=False),
                             help="FreeSWITCH's conf/dialplan directory (default: "
                                  "dialplan.target_dir)")
def host_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--ssh-config", envvar="IVR_APP_SSH_CONFIG",
                      type=click.Path(dir_okay=False, exists=True),
                      help="ssh client configuration for --host (ssh -F)")(fn)
    return click.option("--host", help="deploy to this host over ssh (user@host); reloadxml "
                                       "still goes over esl.host's Event Socket")(fn)


def _rendered(ctx: Context, site_file: str | None) -> dict[str, str]:
    from ivr_app.dialplan import render, site

    cfg = ctx.config
    return render.render(site.load(site_file or cfg.path(cfg.dialplan.site)))


def _control(ctx: Context, required: bool = True) -> Any:
    """The control connection to FreeSWITCH, connected, or None / FreeSwitchUnavailable."""
    from ivr_app.errors import FreeSwitchUnavailable
    from ivr_app.esl.control import ControlConnection

    cfg = ctx.config
    logs.configure("warning", "console")
    control = ControlConnection(cfg.esl.host, cfg.esl.port, cfg.esl.password,
                                logs.get_logger("cli"), reconnect_min=0.2, reconnect_max=1.0,
                                connect_timeout=cfg.esl.connect_timeout_seconds).start()
    if control.wait_connected(cfg.esl.connect_timeout_seconds):
        return control
    control.stop()
    if required:
        raise FreeSwitchUnavailable(f"FreeSWITCH's Event Socket at {cfg.esl.host}:"
                                    f"{cfg.esl.port} does not answer")
    return None


def _applications(control: Any) -> set[str] | None:
    if control is None:
        return None
    lines = control.api("show application").splitlines()
    return {line.split(",")[0] for line in lines[1:] if "," in line}


@dialplan_group.command("render")
@site_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@pass_ctx
@_fails_cleanly
def dialplan_render(ctx: Context, site: str | None, out_dir: str) -> None:
    """Write the dialplan XML rendered from the site YAML into OUT."""
    from ivr_app.dialplan import render

    for path in render.write(_rendered(ctx, site), Path(out_dir)):
        click.echo(f"wrote {path}")


@dialplan_group.command("validate")
@site_option
@click.option("--dir", "directory", type=click.Path(file_okay=False, exists=True),
              help="validate the XML files in this directory instead of a fresh render")
@pass_ctx
@_fails_cleanly
def dialplan_validate(ctx: Context, site: str | None, directory: str | None) -> None:
    """XML, regular expressions, applications (FreeSWITCH's own list when it answers),
    transfer targets. Exit 2 with one line per problem."""
    from ivr_app.dialplan.validate import validate

    if directory:
        root = Path(directory)
        files = {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.xml"))}
    else:
        files = _rendered(ctx, site)
    control = _control(ctx, required=False)
    try:
        problems = validate(files, _applications(control))
    finally:
        if control is not None:
            control.stop()
    if problems:
        raise ConfigError(problems)
    source = "FreeSWITCH's application list" if control else "the known application list"
    click.echo(f"{len(files)} files valid (applications checked against {source})")


@dialplan_group.command("diff")
@site_option
@target_option
@host_option
@pass_ctx
@_fails_cleanly
def dialplan_diff(ctx: Context, site: str | None, target: str | None, host: str | None,
                  ssh_config: str | None) -> None:
    """What a deploy would change (unified diff); exit 1 when it would change something."""
    from ivr_app.dialplan.deploy import unified_diff

    files = _rendered(ctx, site)
    store = _files(ctx, target, host, ssh_config)
    deployed = {rel: store.read(rel) for rel in files}
    text = unified_diff(deployed, files)
    click.echo(text or "no changes", nl=not text)
    if text:
        sys.exit(1)


def _files(ctx: Context, target: str | None, host: str | None,
           ssh_config: str | None = None) -> Any:
    from ivr_app.dialplan.deploy import LocalFiles, SshFiles

    root = Path(target or ctx.config.dialplan.target_dir)
    return SshFiles(host, root, ssh_config) if host else LocalFiles(root)


@contextlib.contextmanager
def _deploying(ctx: Context, target: str | None, host: str | None,
               ssh_config: str | None) -> Iterator[Any]:
    """A Deployer with its own database connection and control connection, both closed after."""
    from ivr_app.db.pool import connect
    from ivr_app.dialplan.deploy import Deployer

    control = _control(ctx)
    try:
        with connect(ctx.config.database) as conn:
            conn.autocommit = True
            yield Deployer(conn, control, _files(ctx, target, host, ssh_config),
                           logs.get_logger("dialplan"), _applications(control))
    finally:
        control.stop()


@dialplan_group.command("deploy")
@site_option
@target_option
@host_option
@pass_ctx
@_fails_cleanly
def dialplan_deploy(ctx: Context, site: str | None, target: str | None,
                    host: str | None, ssh_config: str | None) -> None:
    """Validate, write atomically, reloadxml, verify; roll back by itself on any failure."""
    files = _rendered(ctx, site)
    with _deploying(ctx, target, host, ssh_config) as deployer:
        result = deployer.deploy(files)
    click.echo(f"deployed version {result.version}: reloadxml +OK, extensions verified")


@dialplan_group.command("rollback")
@click.option("--to", "version", type=int, required=True, help="the version to restore")
@target_option
@host_option
@pass_ctx
@_fails_cleanly
def dialplan_rollback(ctx: Context, version: int, target: str | None,
                      host: str | None, ssh_config: str | None) -> None:
    """Redeploy exactly what version N wrote (validated, reloaded and verified again)."""
    with _deploying(ctx, target, host, ssh_config) as deployer:
        result = deployer.rollback(version)
    click.echo(f"rolled back to version {version} as version {result.version}")


@dialplan_group.command("history")
@click.option("--limit", type=int, default=20)
@pass_ctx
@_fails_cleanly
def dialplan_history(ctx: Context, limit: int) -> None:
    """Every deploy and rollback: version, when, who, what, result."""
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        rows = conn.execute(
            """SELECT version, deployed_at, deployed_by, action, result, left(checksum, 12),
                      detail FROM dialplan_deploys ORDER BY version DESC LIMIT %s""",
            (limit,)).fetchall()
    click.echo(_table(("version", "when", "who", "action", "result", "checksum", "detail"),
                      [(v, f"{at:%Y-%m-%d %H:%M:%S}", who, a, r, c, d.splitlines()[0] if d
                        else "") for v, at, who, a, r, c, d in rows]))


# ----------------------------------------------------------------------------- status


@cli.command()
@pass_ctx
@_fails_cleanly
def status(ctx: Context) -> None:
    """FreeSWITCH reachable, version, live calls by what they are doing, presence, schema."""
    import json as _json

    from ivr_app.db import migrations
    from ivr_app.db.pool import connect
    from ivr_app.errors import DatabaseUnavailable

    control = _control(ctx)
    try:
        version = control.api("version").strip()
        up = control.api("status").splitlines()
        rows = _json.loads(control.api("show channels as json") or "{}").get("rows", [])
    finally:
        control.stop()
    doing: dict[str, int] = {}
    for row in rows:
        app = row.get("application") or "-"
        label = {"socket": "in the IVR", "park": "waiting in a queue", "bridge": "talking",
                 "voicemail": "leaving a voicemail"}.get(app, app)
        doing[label] = doing.get(label, 0) + 1
    click.echo(f"FreeSWITCH: {version}")
    click.echo(f"  {up[0] if up else ''}")
    click.echo(f"  live channels: {len(rows)}" + "".join(f", {n} {what}" for what, n in
                                                     sorted(doing.items())))
    try:
        with connect(ctx.config.database) as conn:
            presence = conn.execute("SELECT state::text, count(*) FROM presence "
                                    "GROUP BY state ORDER BY state").fetchall()
            todo = migrations.pending(conn, migrations.default_directory())
    except DatabaseUnavailable as exc:
        click.echo(f"PostgreSQL: unavailable ({exc})")
        return
    click.echo("PostgreSQL: reachable, schema " + ("up to date" if not todo else
                                                   f"{len(todo)} migration(s) pending"))
    click.echo("presence: " + (", ".join(f"{n} {state}" for state, n in presence) or "nobody"))


@cli.group("calls")
def calls_group() -> None:
    """Calls as they happen."""


@calls_group.command("live")
@click.option("--seconds", type=float, default=0, help="stop after this long (0: Ctrl-C)")
@pass_ctx
@_fails_cleanly
def calls_live(ctx: Context, seconds: float) -> None:
    """Watch calls start, answer, bridge and end, one line per event."""
    import gevent
    import gevent.event

    from ivr_app.errors import FreeSwitchUnavailable
    from ivr_app.esl.control import ControlConnection

    cfg = ctx.config
    logs.configure("warning", "console")
    control = ControlConnection(cfg.esl.host, cfg.esl.port, cfg.esl.password,
                                logs.get_logger("cli"), events=[
                                    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE",
                                    "CHANNEL_HANGUP_COMPLETE"]).start()

    def show(ev: Any) -> None:
        who = ev.get("Caller-Caller-ID-Number") or "?"
        dest = ev.get("Caller-Destination-Number") or "?"
        extra = {"CHANNEL_HANGUP_COMPLETE": ev.get("Hangup-Cause") or "",
                 "CHANNEL_BRIDGE": f"with {ev.get('Other-Leg-Channel-Name') or '?'}"}.get(
            ev.name, "")
        click.echo(f"{ev.get('Event-Date-Local') or ''}  {(ev.unique_id or '')[:8]}  "
                   f"{ev.name.removeprefix('CHANNEL_').lower():<15} {who} -> {dest}  "
                   f"{ev.get('Channel-Name') or ''} {extra}".rstrip())

    for name in ("CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE",
                 "CHANNEL_HANGUP_COMPLETE"):
        control.on(name, show)
    try:
        if not control.wait_connected(cfg.esl.connect_timeout_seconds):
            raise FreeSwitchUnavailable(f"FreeSWITCH's Event Socket at {cfg.esl.host}:"
                                        f"{cfg.esl.port} does not answer")
        click.echo(f"watching calls on {cfg.esl.host}:{cfg.esl.port}", err=True)
        gevent.event.Event().wait(seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        control.stop()


# ----------------------------------------------------------------------------- recordings


@cli.group("recordings")
def recordings_group() -> None:
    """Recordings: list, show, export, retention, reconcile after a crash."""


def _customer_id(conn: Any, who: str) -> int:
    from ivr_app.errors import NotFound
    from ivr_app.phone import to_e164

    if who.isdigit() and len(who) < 10:
        row = conn.execute("SELECT id FROM customers WHERE id = %s", (int(who),)).fetchone()
    else:
        row = conn.execute("SELECT customer_id FROM customer_phone_numbers WHERE number = %s",
                           (to_e164(who) or who,)).fetchone()
    if row is None:
        raise NotFound(f"no customer {who!r} (a customer id or one of their numbers)")
    return int(row[0])


@recordings_group.command("list")
@click.option("--customer", help="customer id or phone number")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--limit", type=int, default=50)
@pass_ctx
@_fails_cleanly
def recordings_list(ctx: Context, customer: str | None, since: Any, limit: int) -> None:
    """Recordings, newest first."""
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        cid = _customer_id(conn, customer) if customer else None
        rows = conn.execute(
            """SELECT r.id, r.call_uuid::text, COALESCE(c.name, ''),
                      COALESCE(r.stopped_at, r.started_at), r.duration_ms, r.status::text
               FROM recordings r LEFT JOIN customers c ON c.id = r.customer_id
               WHERE (%s::bigint IS NULL OR r.customer_id = %s)
                 AND (%s::timestamptz IS NULL OR COALESCE(r.stopped_at, r.started_at) >= %s)
               ORDER BY COALESCE(r.stopped_at, r.started_at) DESC NULLS LAST, r.id DESC
               LIMIT %s""", (cid, cid, since, since, limit)).fetchall()
    click.echo(_table(("id", "call", "customer", "when", "seconds", "status"),
                      [(i, u[:8], n, f"{w:%Y-%m-%d %H:%M}" if w else "",
                        round(ms / 1000) if ms is not None else "", s)
                       for i, u, n, w, ms, s in rows]))


def _recording(conn: Any, rec_id: int) -> tuple:
    from ivr_app.errors import NotFound

    row = conn.execute(
        """SELECT r.id, r.call_uuid::text, r.path, r.sha256, r.bytes, r.duration_ms,
                  r.started_at, r.stopped_at, r.status::text, r.reason, r.completion_cause,
                  c.name, e.extension, r.key_presses
           FROM recordings r LEFT JOIN customers c ON c.id = r.customer_id
           LEFT JOIN employees e ON e.id = r.employee_id WHERE r.id = %s""",
        (rec_id,)).fetchone()
    if row is None:
        raise NotFound(f"no recording {rec_id}")
    return tuple(row)


@recordings_group.command("show")
@click.argument("rec_id", type=int)
@pass_ctx
@_fails_cleanly
def recordings_show(ctx: Context, rec_id: int) -> None:
    """Everything about one recording."""
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        row = _recording(conn, rec_id)
    names = ("id", "call", "path", "sha256", "bytes", "duration_ms", "started", "stopped",
             "status", "reason", "completion_cause", "customer", "employee")
    for name, value in zip(names, row[:-1], strict=True):
        click.echo(f"{name:<17} {'' if value is None else value}")
    for press in row[-1] or []:
        click.echo(f"{'key':<17} {press.get('at', '')} {press.get('by', '?')} pressed "
                   f"{press.get('key', '?')}: {press.get('action', '?')}")


@recordings_group.command("export")
@click.argument("rec_id", type=int)
@click.option("--to", "dest", type=click.Path(file_okay=False), required=True)
@pass_ctx
@_fails_cleanly
def recordings_export(ctx: Context, rec_id: int, dest: str) -> None:
    """Copy a recording out; the copy's sha256 must equal the one recorded (exit 9 if not)."""
    import hashlib
    import shutil

    from ivr_app.db.pool import connect
    from ivr_app.errors import ChecksumMismatch, NotFound

    with connect(ctx.config.database) as conn:
        row = _recording(conn, rec_id)
    path, sha = Path(row[2]), row[3]
    if not path.is_file():
        raise NotFound(f"recording {rec_id}: {path} is not on disk (status {row[8]})")
    out = Path(dest) / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out)
    got = hashlib.sha256(out.read_bytes()).hexdigest()
    if got != sha:
        out.unlink()
        raise ChecksumMismatch(f"recording {rec_id}: sha256 {got[:12]} is not the recorded "
                               f"{(sha or '')[:12]}: the file changed since it was attached")
    click.echo(f"exported {out} (sha256 {got[:12]} verified)")


@recordings_group.command("purge")
@click.option("--older-than", "days", type=click.IntRange(1), required=True,
              help="days since the recording stopped")
@click.option("--dry-run", is_flag=True)
@pass_ctx
@_fails_cleanly
def recordings_purge(ctx: Context, days: int, dry_run: bool) -> None:
    """Retention: delete the files of older recordings; their rows stay, as purged."""
    from ivr_app.db.pool import connect

    log = logs.get_logger("retention")
    with connect(ctx.config.database) as conn:
        rows = conn.execute(
            """SELECT id, path FROM recordings WHERE status IN ('complete', 'missing')
               AND stopped_at < now() - make_interval(days => %s) ORDER BY id""",
            (days,)).fetchall()
        for rec_id, path in rows:
            if dry_run:
                click.echo(f"would purge {rec_id} {path}")
                continue
            Path(path).unlink(missing_ok=True)
            conn.execute("UPDATE recordings SET status = 'purged' WHERE id = %s", (rec_id,))
            conn.commit()
            log.info("recording purged", recording_id=rec_id, path=path, older_than_days=days)
    click.echo(f"{len(rows)} recording(s) {'to purge' if dry_run else 'purged'}")


@recordings_group.command("reconcile")
@click.option("--fix", is_flag=True, help="attach orphan files, mark missing files, "
                                          "replay the outbox journal")
@pass_ctx
@_fails_cleanly
def recordings_reconcile(ctx: Context, fix: bool) -> None:
    """Match files on disk with rows after a crash; exit 1 if something is off and not fixed."""
    from ivr_app.db.pool import connect
    from ivr_app.outbox.journal import Journal
    from ivr_app.recording.reconcile import reconcile

    cfg = ctx.config
    journal = Journal(cfg.path(cfg.outbox.directory), logs.get_logger("outbox")).open()
    with connect(cfg.database) as conn:
        conn.autocommit = True
        r = reconcile(conn, cfg.path(cfg.recording.directory), journal, fix)
    for path in r.orphans:
        click.echo(f"orphan file (no row): {path}")
    for rec_id, path in r.missing:
        click.echo(f"missing file of recording {rec_id}: {path}")
    for path in r.unknown:
        click.echo(f"not a recording of ours (name is not a call UUID): {path}")
    if r.spooled:
        click.echo(f"{r.spooled} write(s) waiting in the outbox journal {journal.file}")
    problems = len(r.orphans) + len(r.missing) + r.spooled
    click.echo(f"{problems} problem(s), {r.fixed} fixed")
    if problems and not fix:
        sys.exit(1)


# ----------------------------------------------------------------------------- customers


@cli.group("presence")
def presence_group() -> None:
    """Employees' presence: what callers get, as set by phone or here."""


@presence_group.command("show")
@click.argument("extension", required=False)
@pass_ctx
@_fails_cleanly
def presence_show(ctx: Context, extension: str | None) -> None:
    """Every employee's state, forward and who changed it last."""
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        rows = conn.execute(
            """SELECT e.extension, e.name, COALESCE(p.state::text, 'available'), p.until,
                      COALESCE(p.forward_to, ''), COALESCE(p.updated_by, ''), p.updated_at
               FROM employees e LEFT JOIN presence p ON p.employee_id = e.id
               WHERE %s::text IS NULL OR e.extension = %s ORDER BY e.extension""",
            (extension, extension)).fetchall()
    if extension and not rows:
        from ivr_app.errors import NotFound

        raise NotFound(f"no employee with extension {extension}")
    click.echo(_table(("ext", "name", "state", "until", "forward", "changed by", "at"),
                      [(x, n, s, f"{u:%Y-%m-%d %H:%M}" if u else "", f, b,
                        f"{a:%Y-%m-%d %H:%M}" if a else "") for x, n, s, u, f, b, a in rows]))


@presence_group.command("missed")
@click.argument("extension")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--limit", type=int, default=50)
@pass_ctx
@_fails_cleanly
def presence_missed(ctx: Context, extension: str, since: Any, limit: int) -> None:
    """An employee's missed calls, newest first, with the voicemail each left."""
    from ivr_app.db import calls
    from ivr_app.db.pool import connect
    from ivr_app.errors import NotFound

    with connect(ctx.config.database) as conn:
        if conn.execute("SELECT 1 FROM employees WHERE extension = %s",
                        (extension,)).fetchone() is None:
            raise NotFound(f"no employee with extension {extension}")
        rows = calls.missed(conn, extension, since, limit)
    click.echo(_table(("when", "caller", "name", "customer", "route", "voicemail"),
                      [(f"{w:%Y-%m-%d %H:%M}", num, name, cust, route,
                        f"{secs} s" if secs is not None else "")
                       for w, num, name, cust, route, secs in rows]))


@presence_group.command("set")
@click.argument("extension")
@click.argument("state", required=False,
                type=click.Choice(["available", "meeting", "away", "dnd", "vacation"]))
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="the state ends then (in presence.timezone)")
@click.option("--forward", help="forward calls to this number or extension")
@click.option("--no-forward", is_flag=True, help="stop forwarding")
@pass_ctx
@_fails_cleanly
def presence_set(ctx: Context, extension: str, state: str | None, until: Any,
                 forward: str | None, no_forward: bool) -> None:
    """Change one part of an employee's profile; the others stay as they are."""
    from zoneinfo import ZoneInfo

    from ivr_app.db import presence as presence_db
    from ivr_app.db.pool import connect
    from ivr_app.errors import NotFound
    from ivr_app.phone import to_e164
    from ivr_app.presence.model import State
    from ivr_app.presence.tollfraud import NumberGuard, NumberRefused

    cfg = ctx.config
    if state is None and forward is None and not no_forward:
        raise click.UsageError("say what to change: a STATE, --forward or --no-forward")
    if forward is not None and not EXTENSION_RE.fullmatch(forward):
        forward = to_e164(forward, cfg.ivr.default_region) or forward
        try:
            NumberGuard.from_config(cfg.presence).check(forward)
        except NumberRefused as exc:
            logs.get_logger("presence").warning("forward refused by the toll-fraud guard",
                                                extension=extension, reason=str(exc))
            raise ConfigError([f"--forward: {exc}"]) from exc
    by = f"cli {getpass.getuser()}"
    with connect(cfg.database) as conn:
        done = True
        if state is not None:
            ends = until.replace(tzinfo=ZoneInfo(cfg.presence.timezone)) if until else None
            done = presence_db.set_state(conn, extension, State(state), by, until=ends)
        if done and (forward is not None or no_forward):
            done = presence_db.set_forward(conn, extension, None if no_forward else forward, by)
    if not done:
        raise NotFound(f"no employee with extension {extension}")
    click.echo(f"{extension}: " + ", ".join(
        part for part in (state and f"state {state}" + (f" until {until:%Y-%m-%d %H:%M}"
                                                         if until else ""),
                          forward and f"forwarded to {forward}",
                          no_forward and "forward off") if part))


@cli.group("customer")
def customer_group() -> None:
    """Customers."""


@customer_group.command("timeline")
@click.argument("who")
@pass_ctx
@_fails_cleanly
def customer_timeline(ctx: Context, who: str) -> None:
    """A customer's calls, recordings, voicemails and notes, oldest first."""
    from ivr_app.db.pool import connect

    with connect(ctx.config.database) as conn:
        cid = _customer_id(conn, who)
        name, company, vip = conn.execute(
            "SELECT name, COALESCE(company, ''), vip FROM customers WHERE id = %s",
            (cid,)).fetchone()
        rows = conn.execute(
            """SELECT occurred_at, kind::text, summary, COALESCE(reference, '')
               FROM interactions WHERE customer_id = %s ORDER BY occurred_at, id""",
            (cid,)).fetchall()
    click.echo(f"{name} ({company}){' VIP' if vip else ''}, customer {cid}")
    for at, kind, summary, ref in rows:
        click.echo(f"  {at:%Y-%m-%d %H:%M:%S}  {kind:<12} {summary}  [{ref}]")
    if not rows:
        click.echo("  nothing yet")


# ----------------------------------------------------------------------------- demo


@cli.command()
@click.option("--data", "data_file", type=click.Path(dir_okay=False), required=True,
              help="YAML file of demo employees, devices and customers")
@pass_ctx
@_fails_cleanly
def demo(ctx: Context, data_file: str) -> None:
    """Migrate, load the demo data and print what the database now holds."""
    from ivr_app.db import directory, migrations
    from ivr_app.db.pool import connect

    data = directory.load_file(data_file)
    with connect(ctx.config.database) as conn:
        applied = migrations.migrate(conn, migrations.default_directory())
        loaded = directory.store(conn, data)
        held = directory.summary(conn)
    click.echo(f"migrations applied: {', '.join(m.filename for m in applied) or 'none pending'}")
    click.echo(f"loaded from {data_file}: {loaded.employees} employees ({loaded.devices} devices),"
               f" {loaded.customers} customers ({loaded.phones} numbers)")
    click.echo("")
    click.echo(_table(("ext", "employee", "manager", "presence", "devices"), held["employees"]))
    click.echo("")
    click.echo(_table(("customer", "company", "vip", "lang", "account manager", "numbers"),
                      [(n, c, "VIP" if v else "", lang, m, p)
                       for n, c, v, lang, m, p in held["customers"]]))




# hold queues (ivr_app/queue/commands.py): `queue stats|callbacks|callback-done`, `report queues`
cli.add_command(queue_commands.queue_group)
cli.add_command(fsconf.freeswitch_group)
cli.add_command(queue_commands.report_group)

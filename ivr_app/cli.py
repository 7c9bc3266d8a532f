"""The ops CLI: ``ivr-app serve | config | db | demo``.

Errors from the library arrive as :class:`ivr_app.errors.IvrAppError`; they are printed here,
one line per problem, and turned into the error's exit code. Nothing else calls sys.exit.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ivr_app import config as config_mod
from ivr_app import logs
from ivr_app.errors import ConfigError, IvrAppError


def _fails_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(line, err=True)
            sys.exit(exc.exit_code)
        except IvrAppError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


class Context:
    """What the group's options give every command; the config is loaded once, on first use."""

    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: config_mod.Config | None = None

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            self._config = config_mod.load(self.config_path, os.environ)
        return self._config


pass_ctx = click.make_pass_decorator(Context)


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
@pass_ctx
@_fails_cleanly
def serve(ctx: Context, serve_config: str | None) -> None:
    """Run the service until SIGTERM (SIGHUP reloads the configuration)."""
    from ivr_app.app import App

    if serve_config:
        ctx.config_path = serve_config
    cfg = ctx.config
    logs.configure(cfg.logging.level, cfg.logging.format)
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


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

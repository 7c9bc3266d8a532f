"""What every ivr-app command shares: the lazily loaded configuration, clean failures (a
ConfigError prints its file:line problems, an IvrAppError its message, each with its exit
code) and plain-text tables."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from ivr_app import config as config_mod
from ivr_app.errors import ConfigError, IvrAppError


def fails_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
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


def table(header: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

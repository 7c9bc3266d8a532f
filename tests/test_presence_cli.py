"""`ivr-app presence show|set` against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from ivr_app.cli import cli
from ivr_app.db import directory
from tests.ivr_harness import DEMO


def run(database_url, *args):
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": database_url})


def test_set_state_then_forward_each_keeps_the_other(db, database_url):
    directory.store(db, directory.load_file(DEMO))
    out = run(database_url, "presence", "set", "1001", "vacation", "--until", "2026-12-01")
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "1001: state vacation until 2026-12-01 00:00"
    assert run(database_url, "presence", "set", "1001", "--forward", "+447700900123"
               ).exit_code == 0
    state, until, forward, by = db.execute(
        """SELECT p.state::text, p.until, p.forward_to, p.updated_by FROM presence p
           JOIN employees e ON e.id = p.employee_id WHERE e.extension = '1001'""").fetchone()
    assert (state, forward) == ("vacation", "+447700900123")
    assert until == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # presence.timezone: UTC
    assert by.startswith("cli ")
    shown = run(database_url, "presence", "show", "1001").output.splitlines()
    assert shown[0].split() == ["ext", "name", "state", "until", "forward", "changed", "by",
                                "at"]
    assert "vacation" in shown[-1]
    assert "+447700900123" in shown[-1]


def test_refusals(db, database_url):
    directory.store(db, directory.load_file(DEMO))
    premium = run(database_url, "presence", "set", "1001", "--forward", "+19005550100")
    assert premium.exit_code == 2
    assert "blocked range" in premium.output
    assert run(database_url, "presence", "set", "4444", "dnd").exit_code == 5
    assert run(database_url, "presence", "set", "1001").exit_code == 2  # nothing to change
    assert run(database_url, "presence", "show", "4444").exit_code == 5

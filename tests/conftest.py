"""Shared fixtures: a real PostgreSQL for every test that touches data.

If DATABASE_URL answers, the tests create their own database on that server; otherwise a
throwaway cluster is started from the machine's PostgreSQL binaries. Either way the session
gets one freshly migrated database (``database_url``), and each test that asks for ``db``
starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import structlog

from ivr_app.db import migrations
from ivr_app.esl.call import Call
from ivr_app.esl.outbound import OutboundServer
from ivr_app.testing import pgcluster
from ivr_app.testing.fakeswitch.switch import FakeSwitch

pytest_plugins = ["tests.ivr_harness"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class PgServer:
    url: str  # a database on the server we may connect to for CREATE DATABASE
    cluster: pgcluster.ThrowawayCluster | None

    def new_database(self, prefix: str = "ivr_test") -> str:
        return pgcluster.create_database(self.url, f"{prefix}_{uuid.uuid4().hex[:10]}")

    def drop(self, url: str) -> None:
        pgcluster.drop_database(self.url, psycopg.conninfo.conninfo_to_dict(url)["dbname"])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("DATABASE_URL")
    if pgcluster.answers(external):
        assert external is not None
        yield PgServer(external, None)
        return
    cluster = pgcluster.ThrowawayCluster().start()
    try:
        yield PgServer(cluster.url("postgres"), cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def database_url(pg_server: PgServer) -> Iterator[str]:
    """One migrated database for the whole test session."""
    url = pg_server.new_database()
    with psycopg.connect(url) as conn:
        migrations.migrate(conn, migrations.default_directory())
    yield url
    pg_server.drop(url)


def _app_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_migrations' ORDER BY tablename"
    ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection (autocommit) to the session database, with every table emptied first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = _app_tables(conn)
        if tables:
            conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
        yield conn


@pytest.fixture
def fs():
    """The FreeSWITCH simulator on a free port; one second of call time takes 20 ms."""
    switch = FakeSwitch(time_factor=0.02).start()
    yield switch
    switch.stop()


def socket_dialplan(port: int, number: str = "7000") -> str:
    return f"""<include><context name="public">
      <extension name="to-ivr-app">
        <condition field="destination_number" expression="^{number}$">
          <action application="socket" data="127.0.0.1:{port} async full"/>
          <action application="playback" data="silence_stream://100"/>
          <action application="hangup" data="TEMPORARY_FAILURE"/>
        </condition>
      </extension></context></include>"""


@pytest.fixture
def serve(fs: FakeSwitch) -> Iterator[Callable[..., OutboundServer]]:
    servers: list[OutboundServer] = []

    def start(handler: Callable[[Call], None], **kw: object) -> OutboundServer:
        server = OutboundServer("127.0.0.1", 0, handler, structlog.get_logger(), **kw).start()
        fs.dialplan.load_xml(socket_dialplan(server.port))
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()
        s.calls.kill(timeout=2)


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory):
    """The example menus' text prompts, rendered once per session (espeak-ng + sox)."""
    from ivr_app import menus
    from ivr_app.prompts import PromptStore

    cache = tmp_path_factory.mktemp("prompts")
    PromptStore(ROOT / "sounds", cache).build(menus.load(ROOT / "config" / "menus.example.yaml"))
    return cache


@pytest.fixture
def fresh_database(pg_server: PgServer) -> Iterator[str]:
    """An empty database (no migrations applied), dropped after the test."""
    url = pg_server.new_database("ivr_fresh")
    yield url
    pg_server.drop(url)

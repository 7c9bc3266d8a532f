"""Plain numbered SQL migrations (``migrations/NNNN_name.sql``).

Each file is applied in its own transaction and recorded in ``schema_migrations`` with the
sha256 of its bytes. Running again applies only what is pending. A file changed after it was
applied is refused: an applied migration is history, and a new change is a new file.
Concurrent nodes serialise on an advisory lock, so two nodes starting at once do not race.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from ivr_app.errors import MigrationError

FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
LOCK_KEY = 0x1A1A_0001  # pg_advisory_lock key of ivr-app migrations

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def default_directory() -> Path:
    """The migrations/ directory that ships beside the ivr_app package."""
    return Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class MigrationStatus:
    migration: Migration
    applied: Applied | None

    @property
    def pending(self) -> bool:
        return self.applied is None


def discover(directory: Path) -> list[Migration]:
    """The migrations in ``directory``, in order; malformed names and duplicates are errors."""
    if not directory.is_dir():
        raise MigrationError(f"{directory}: no such migrations directory")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = FILENAME.match(path.name)
        if not m:
            if re.match(r"^\d", path.name):
                raise MigrationError(
                    f"{path}: not a migration name: expected NNNN_lowercase_name.sql"
                )
            continue  # e.g. a schema dump or notes: not a migration
        version = int(m["version"])
        if version in found:
            raise MigrationError(
                f"{path}: version {version:04d} is also used by {found[version].path.name}"
            )
        found[version] = Migration(version, m["name"], path,
                                   hashlib.sha256(path.read_bytes()).hexdigest())
    return [found[v] for v in sorted(found)]


def _applied(conn: psycopg.Connection) -> dict[int, Applied]:
    with conn.transaction():  # leaves no transaction open behind it
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return {}
        rows = conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
    return {r[0]: Applied(*r) for r in rows}


def _verify(migrations: list[Migration], applied: dict[int, Applied]) -> None:
    by_version = {m.version: m for m in migrations}
    problems = []
    for version, row in sorted(applied.items()):
        m = by_version.get(version)
        if m is None:
            problems.append(
                f"the database has migration {version:04d}_{row.name} applied, but there is no "
                "such file: this ivr-app is older than the database schema"
            )
        elif m.checksum != row.checksum:
            problems.append(
                f"{m.path}: changed after it was applied on {row.applied_at:%Y-%m-%d %H:%M} "
                f"(applied sha256 {row.checksum[:12]}, file now {m.checksum[:12]}); an applied "
                "migration must not be edited: restore it and put the change in a new migration"
            )
    if problems:
        raise MigrationError("\n".join(problems))


def status(conn: psycopg.Connection, directory: Path) -> list[MigrationStatus]:
    """Every migration file with its applied row (or None); refuses a changed applied file."""
    migrations = discover(directory)
    applied = _applied(conn)
    _verify(migrations, applied)
    return [MigrationStatus(m, applied.get(m.version)) for m in migrations]


def migrate(conn: psycopg.Connection, directory: Path) -> list[Migration]:
    """Apply every pending migration, each in its own transaction. Returns what was applied."""
    migrations = discover(directory)
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        conn.execute(BOOKKEEPING)
        applied = _applied(conn)
        _verify(migrations, applied)
        done = []
        for m in migrations:
            if m.version in applied:
                continue
            try:
                with conn.transaction():
                    conn.execute(m.sql())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise MigrationError(f"{m.path}: failed, nothing of it applied: {detail}") from exc
            done.append(m)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def pending(conn: psycopg.Connection, directory: Path) -> list[Migration]:
    return [s.migration for s in status(conn, directory) if s.pending]

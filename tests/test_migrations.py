"""Migrations against a real PostgreSQL: idempotent, checksummed, one transaction each."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from ivr_app.cli import cli
from ivr_app.db import migrations
from ivr_app.errors import MigrationError


@pytest.fixture
def mig_dir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    shutil.copytree(migrations.default_directory(), d)
    return d


def test_migrate_applies_everything_once(fresh_database, mig_dir):
    files = sorted(p.name for p in mig_dir.glob("[0-9]*.sql"))
    with psycopg.connect(fresh_database) as conn:
        done = migrations.migrate(conn, mig_dir)
        assert [m.filename for m in done] == files
        assert migrations.migrate(conn, mig_dir) == []
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == [int(f[:4]) for f in files]
    assert all(len(r[1]) == 64 for r in rows)


def test_status_lists_applied_and_pending(fresh_database, mig_dir):
    (mig_dir / "0999_extra.sql").write_text("CREATE TABLE extra (id int);\n")
    with psycopg.connect(fresh_database) as conn:
        before = migrations.status(conn, mig_dir)
        assert all(s.pending for s in before)
        (mig_dir / "0999_extra.sql").rename(mig_dir / "hold.txt")
        migrations.migrate(conn, mig_dir)
        (mig_dir / "hold.txt").rename(mig_dir / "0999_extra.sql")
        after = migrations.status(conn, mig_dir)
    assert [s.migration.filename for s in after if s.pending] == ["0999_extra.sql"]
    assert all(s.applied for s in after if s.migration.version != 999)


def test_changed_applied_migration_is_refused(fresh_database, mig_dir):
    first = sorted(mig_dir.glob("0001_*.sql"))[0]
    with psycopg.connect(fresh_database) as conn:
        migrations.migrate(conn, mig_dir)
        first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
        with pytest.raises(MigrationError) as info:
            migrations.migrate(conn, mig_dir)
    msg = str(info.value)
    assert str(first) in msg
    assert "changed after it was applied" in msg
    assert "put the change in a new migration" in msg


def test_changed_migration_via_cli_exit_code_and_message(fresh_database, mig_dir):
    env = {"DATABASE_URL": fresh_database}
    runner = CliRunner()
    ok = runner.invoke(cli, ["db", "migrate", "--dir", str(mig_dir)], env=env)
    assert ok.exit_code == 0, ok.output
    assert "applied 0001_initial.sql" in ok.output
    again = runner.invoke(cli, ["db", "migrate", "--dir", str(mig_dir)], env=env)
    assert "nothing to apply" in again.output
    first = mig_dir / "0001_initial.sql"
    first.write_text(first.read_text().replace("CREATE TABLE", "create table", 1))
    bad = runner.invoke(cli, ["db", "status", "--dir", str(mig_dir)], env=env)
    assert bad.exit_code == MigrationError.exit_code
    assert f"error: {first}: changed after it was applied" in bad.output


def test_failing_migration_leaves_nothing_behind(fresh_database, mig_dir):
    (mig_dir / "0998_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    with psycopg.connect(fresh_database) as conn:
        with pytest.raises(MigrationError,
                           match=r"0998_broken\.sql: failed, nothing of it applied"):
            migrations.migrate(conn, mig_dir)
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert 998 not in versions
    assert 1 in versions  # the good ones before it stay applied


def test_applied_migration_missing_from_disk(fresh_database, mig_dir):
    (mig_dir / "0997_later.sql").write_text("SELECT 1;\n")
    with psycopg.connect(fresh_database) as conn:
        migrations.migrate(conn, mig_dir)
        (mig_dir / "0997_later.sql").unlink()
        with pytest.raises(MigrationError, match="0997_later applied, but there is no such file"):
            migrations.status(conn, mig_dir)


def test_bad_file_names(tmp_path):
    (tmp_path / "1_init.sql").write_text("")
    with pytest.raises(MigrationError, match="not a migration name"):
        migrations.discover(tmp_path)
    (tmp_path / "1_init.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="version 0001 is also used by"):
        migrations.discover(tmp_path)


def test_caller_number_lookup_is_an_index_hit(db):
    db.execute("INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 3000) g")
    db.execute(
        "INSERT INTO customer_phone_numbers (customer_id, number) "
        "SELECT id, '+7495' || lpad(id::text, 7, '0') FROM customers"
    )
    db.execute("ANALYZE customer_phone_numbers")
    plan = db.execute(
        "EXPLAIN (FORMAT JSON) SELECT c.id, c.name FROM customer_phone_numbers n "
        "JOIN customers c ON c.id = n.customer_id WHERE n.number = %s",
        ("+74950001234",),
    ).fetchone()[0]
    text = str(plan)
    assert "customer_phone_numbers_number_key" in text
    assert "Seq Scan" not in text


def test_constraints_reject_bad_data(db):
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO employees (extension, name) VALUES ('12a', 'x')")
    cid = db.execute("INSERT INTO customers (name) VALUES ('x') RETURNING id").fetchone()[0]
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO customer_phone_numbers (customer_id, number) VALUES (%s, %s)",
                   (cid, "84951234567"))
    db.execute("INSERT INTO customer_phone_numbers (customer_id, number) VALUES (%s, %s)",
               (cid, "+74951234567"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO customer_phone_numbers (customer_id, number) VALUES (%s, %s)",
                   (cid, "+74951234567"))

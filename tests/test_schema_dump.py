"""The migrated schema equals the committed dump: a change to the schema is visible in review
(tests/fixtures/schema.sql) and a migration that does not produce it fails here."""

from __future__ import annotations

from pathlib import Path

from ivr_app.testing.schema_dump import dump_schema

FIXTURE = Path(__file__).parent / "fixtures" / "schema.sql"


def test_migrated_schema_matches_committed_dump(database_url):
    got = dump_schema(database_url)
    want = FIXTURE.read_text()
    assert got == want, "schema differs from tests/fixtures/schema.sql: run `make schema-dump`"

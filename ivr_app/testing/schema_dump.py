"""The migrated schema as a normalised ``pg_dump --schema-only``, for the committed dump test.

    python -m ivr_app.testing.schema_dump OUTFILE      (DATABASE_URL: an empty database)

``make schema-dump`` runs it on a throwaway cluster after the migrations.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from ivr_app.db import migrations
from ivr_app.testing.pgcluster import find_bindir


def normalise(dump: str) -> str:
    keep = []
    for line in dump.splitlines():
        if line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict",
                            "\\unrestrict")):
            continue
        keep.append(line.rstrip())
    text = "\n".join(keep)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def dump_schema(url: str) -> str:
    out = subprocess.run(
        [str(find_bindir() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
         "--dbname", url],
        capture_output=True, text=True, check=True,
    )
    return normalise(out.stdout)


def main(argv: list[str]) -> int:
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        migrations.migrate(conn, migrations.default_directory())
    Path(argv[0]).write_text(dump_schema(url))
    print(f"wrote {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

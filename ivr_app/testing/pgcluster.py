"""A throwaway PostgreSQL cluster for tests and the demo.

When ``DATABASE_URL`` is unset or does not answer, a cluster is created with the machine's own
PostgreSQL binaries in a temporary directory, listening only on a Unix socket inside it (no port
to collide with), and removed afterwards. initdb and postgres refuse to run as root, so as root
they run as the ``postgres`` user.

    python -m ivr_app.testing.pgcluster run -- COMMAND ...

runs COMMAND with ``DATABASE_URL`` pointing at a database ``ivr`` that answers, then stops the
cluster (if it started one).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg


def find_bindir() -> Path:
    """The directory with initdb / pg_ctl: $PG_BINDIR, pg_config, Debian's layout, or PATH."""
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=False)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").resolve().parent))
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the 'postgresql' package "
        "(make does it: scripts/ensure-tools.sh) or set DATABASE_URL"
    )


def answers(url: str | None, timeout: int = 2) -> bool:
    if not url:
        return False
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


class ThrowawayCluster:
    """initdb + pg_ctl start in a temp directory; ``url(dbname)`` gives a connection URL."""

    def __init__(self, base: str | None = None):
        self.bindir = find_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-pg-", dir=base))
        self.data = self.dir / "data"
        self.socket_dir = self.dir
        self.log = self.dir / "postgres.log"
        self.port = 5432
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root but there is no 'postgres' user to run "
                                   "initdb/postgres as: install the postgresql package") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.superuser = "postgres"

    def _run(self, *args: str) -> None:
        kw = {"user": self._user} if self._user else {}
        proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False,
                              cwd=self.dir, **kw)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}{log}")

    def start(self) -> ThrowawayCluster:
        self._run(self.bindir / "initdb", "-D", str(self.data), "-U", self.superuser, "-A",
                  "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-c listen_addresses='' -k {self.socket_dir} -p {self.port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "60", "start")
        return self

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on this cluster (tests stop and start the server around an outage)."""
        if args and args[0] == "start":
            opts = (f"-c listen_addresses='' -k {self.socket_dir} -p {self.port} -c fsync=off "
                    "-c max_connections=200")
            self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o",
                      opts, "-w", *args)
        else:
            self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-w", *args)

    def url(self, dbname: str = "postgres") -> str:
        return (f"postgresql://{self.superuser}@/{dbname}"
                f"?host={quote(str(self.socket_dir), safe='')}&port={self.port}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w",
                          "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_database(server_url: str, dbname: str) -> str:
    """CREATE DATABASE ``dbname`` (dropping an old one) on the server; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return with_dbname(server_url, dbname)


def with_dbname(url: str, dbname: str) -> str:
    """The same postgresql:// URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(dbname)))


def drop_database(server_url: str, dbname: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print("usage: python -m ivr_app.testing.pgcluster run -- COMMAND ...", file=sys.stderr)
        return 2
    command = argv[2:]
    env = dict(os.environ)
    if answers(env.get("DATABASE_URL")):
        return subprocess.call(command, env=env)
    if env.get("DATABASE_URL"):
        print("DATABASE_URL does not answer: starting a throwaway PostgreSQL", file=sys.stderr)
    cluster = ThrowawayCluster().start()
    try:
        env["DATABASE_URL"] = create_database(cluster.url(), "ivr")
        print(f"throwaway PostgreSQL in {cluster.dir} (removed on exit)", file=sys.stderr)
        return subprocess.call(command, env=env)
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

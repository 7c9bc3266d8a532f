"""Deploying a rendered dialplan into FreeSWITCH's conf/dialplan directory, safely.

1. validate (refused before anything is written: result ``invalid``);
2. write every file atomically (a temp file, then rename);
3. ``reloadxml`` over ESL, and read its reply: FreeSWITCH answers ``+OK`` even for broken XML,
   with the error inside the brackets (``+OK [[error near line 7048]: ...]``), and keeps the
   old tree;
4. verify with ``xml_locate dialplan`` that every extension we wrote is loaded, and that each
   deployed number really reaches it there (ivr_app/dialplan/reach.py: a stock extension
   earlier in the context, such as Local_Extension for 1000-1019, would catch it first);
5. on any failure, put the previous files back, ``reloadxml`` again, and say so
   (result ``rolled back``, exit code 7).

Every attempt is recorded in ``dialplan_deploys`` with the files, so ``rollback --to N``
redeploys exactly what version N wrote.
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ivr_app.dialplan import reach
from ivr_app.dialplan.validate import validate
from ivr_app.errors import ConfigError, DeployFailed, NotFound
from ivr_app.esl.errors import EslError

RELOAD_OK = re.compile(r"^\+OK \[Success\]")
EXTENSION_NAME = re.compile(r'<extension name="([^"]+)"')


@dataclass(frozen=True)
class Deploy:
    version: int
    result: str
    detail: str
    diff: str


def checksum(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return h.hexdigest()


def unified_diff(old: dict[str, str | None], new: dict[str, str]) -> str:
    out = []
    for rel in sorted(set(old) | set(new)):
        a = (old.get(rel) or "").splitlines(keepends=True)
        b = (new.get(rel) or "").splitlines(keepends=True)
        out += difflib.unified_diff(a, b, f"deployed/{rel}", f"new/{rel}")
    return "".join(out)


class LocalFiles:
    """FreeSWITCH's conf/dialplan on this machine."""

    def __init__(self, root: Path):
        self.root = root

    def __str__(self) -> str:
        return str(self.root)

    def read(self, rel: str) -> str | None:
        path = self.root / rel
        return path.read_text() if path.is_file() else None

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.ivr-app-tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic on one filesystem: FreeSWITCH never reads half a file

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)


class SshFiles:
    """FreeSWITCH's conf/dialplan on another host, through the system's ssh (keys, known_hosts
    and jump hosts as the operator configured them); writes are temp file + mv there too."""

    def __init__(self, host: str, root: Path, ssh_config: str | None = None):
        if not re.fullmatch(r"[A-Za-z0-9._@-]+", host):
            raise ConfigError([f"--host {host!r}: not a host name (user@host allowed)"])
        self.host, self.root, self.ssh_config = host, root, ssh_config

    def __str__(self) -> str:
        return f"{self.host}:{self.root}"

    def _ssh(self, command: str, data: str | None = None) -> subprocess.CompletedProcess:
        try:
            config = ["-F", self.ssh_config] if self.ssh_config else []
            return subprocess.run(["ssh", *config, "-o", "BatchMode=yes", self.host, command],
                                  input=data, capture_output=True, text=True, timeout=60,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeployFailed(f"ssh {self.host}: {exc}") from exc

    def read(self, rel: str) -> str | None:
        path = shlex.quote(str(self.root / rel))
        proc = self._ssh(f"if test -f {path}; then cat -- {path}; else exit 3; fi")
        if proc.returncode == 3:
            return None
        if proc.returncode != 0:
            raise DeployFailed(f"ssh {self.host}: reading {rel}: {proc.stderr.strip()}")
        return proc.stdout

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        tmp = path.with_name(f".{path.name}.ivr-app-tmp")
        q = shlex.quote
        proc = self._ssh(f"mkdir -p {q(str(path.parent))} && cat > {q(str(tmp))} && "
                         f"mv -f {q(str(tmp))} {q(str(path))}", data=text)
        if proc.returncode != 0:
            raise DeployFailed(f"ssh {self.host}: writing {rel}: {proc.stderr.strip()}")

    def remove(self, rel: str) -> None:
        self._ssh(f"rm -f -- {shlex.quote(str(self.root / rel))}")


class Deployer:
    def __init__(self, conn: psycopg.Connection, control: Any, target: Path | LocalFiles |
                 SshFiles, log: Any, applications: set[str] | None = None):
        self.conn = conn
        self.control = control
        self.target = LocalFiles(target) if isinstance(target, Path) else target
        self.log = log
        self.applications = applications

    def deployed(self, rels: list[str]) -> dict[str, str | None]:
        return {rel: self.target.read(rel) for rel in rels}

    def diff(self, files: dict[str, str]) -> str:
        return unified_diff(self.deployed(list(files)), files)

    def deploy(self, files: dict[str, str], action: str = "deploy") -> Deploy:
        previous = self.deployed(list(files))
        diff = unified_diff(previous, files)
        problems = validate(files, self.applications)
        if problems:
            version = self._record(action, files, "invalid", "\n".join(problems), diff)
            raise ConfigError([f"deploy {version} refused, nothing written:", *problems])
        self._write(files)
        try:
            self._reload_and_verify(files)
        except DeployFailed as exc:
            self._write(previous)
            try:
                self._reload()
            except DeployFailed as again:
                exc = DeployFailed(f"{exc}; and reloading the previous dialplan: {again}")
            version = self._record(action, files, "rolled back", str(exc), diff)
            self.log.error("dialplan deploy rolled back", version=version, error=str(exc))
            raise DeployFailed(f"deploy {version} rolled back: {exc}") from None
        version = self._record(action, files, "ok",
                               "reloadxml +OK, every number reaches its extension", diff)
        self.log.info("dialplan deployed", version=version, action=action)
        return Deploy(version, "ok", "", diff)

    def rollback(self, version: int) -> Deploy:
        row = self.conn.execute("SELECT files FROM dialplan_deploys WHERE version = %s",
                                (version,)).fetchone()
        if row is None:
            raise NotFound(f"no dialplan deploy version {version}")
        return self.deploy(dict(row[0]), action=f"rollback to {version}")

    def history(self, limit: int = 20) -> list[tuple]:
        return self.conn.execute(
            """SELECT version, deployed_at, deployed_by, action, result, left(checksum, 12),
                      detail FROM dialplan_deploys ORDER BY version DESC LIMIT %s""",
            (limit,)).fetchall()

    # -- steps ---------------------------------------------------------------------------------

    def _write(self, files: dict[str, str | None]) -> None:
        for rel, text in files.items():
            if text is None:
                self.target.remove(rel)  # it was not there before
            else:
                self.target.write(rel, text)

    def _reload(self) -> None:
        try:
            reply = self.control.api("reloadxml", timeout=30)
        except EslError as exc:
            raise DeployFailed(f"reloadxml: {exc}") from exc
        if not RELOAD_OK.match(reply):
            raise DeployFailed(f"reloadxml: {reply.strip()}")

    def _reload_and_verify(self, files: dict[str, str]) -> None:
        self._reload()
        try:
            loaded = self.control.api("xml_locate dialplan", timeout=30)
        except EslError as exc:
            raise DeployFailed(f"xml_locate dialplan: {exc}") from exc
        live = set(EXTENSION_NAME.findall(loaded))
        missing = sorted({name for text in files.values()
                          for name in EXTENSION_NAME.findall(text)} - live)
        if missing:
            raise DeployFailed("FreeSWITCH did not load extension(s) " + ", ".join(missing))
        shadows = reach.shadowed(loaded, files)
        if shadows:
            raise DeployFailed("; ".join(shadows))

    def _record(self, action: str, files: dict[str, str], result: str, detail: str,
                diff: str) -> int:
        with self.conn.transaction():
            row = self.conn.execute(
                """INSERT INTO dialplan_deploys
                     (deployed_by, action, target, checksum, result, detail, diff, files)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING version""",
                (getpass.getuser(), action, str(self.target), checksum(files), result, detail,
                 diff, json.dumps(files)),
            ).fetchone()
        assert row is not None
        return int(row[0])

"""`ivr-app dialplan deploy --host`: the files go over real SSH (a throwaway sshd on a free
loopback port, with its own host and user keys), reloadxml over the Event Socket."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest
from click.testing import CliRunner

from ivr_app.cli import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "user")],
                   check=True)
    (d / "authorized_keys").write_text((d / "user.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nPermitRootLogin yes\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(
        f"Host freeswitch-box\n  HostName 127.0.0.1\n  Port {port}\n"
        f"  User {os.environ.get('USER') or 'root'}\n  IdentityFile {d / 'user'}\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    yield str(home / ".ssh" / "config")
    proc.terminate()
    proc.wait(timeout=10)


def test_deploy_to_a_remote_host_over_ssh(fs, db, database_url, sshd, tmp_path):
    remote_root = tmp_path / "remote" / "conf" / "dialplan"
    fs.dialplan_dir = remote_root  # "the remote FreeSWITCH" reads what ssh wrote
    env = {"DATABASE_URL": database_url, "IVR_APP_ESL_PORT": str(fs.esl_port),
           "IVR_APP_SSH_CONFIG": sshd}
    runner = CliRunner()
    out = runner.invoke(cli, ["dialplan", "deploy", "--host", "freeswitch-box", "--target",
                              str(remote_root)], env=env)
    assert out.exit_code == 0, out.output
    assert (remote_root / "public" / "ivr-app.xml").is_file()
    assert "ivr-app-did-74951112233" in fs.dialplan.to_xml()
    out = runner.invoke(cli, ["dialplan", "diff", "--host", "freeswitch-box", "--target",
                              str(remote_root)], env=env)
    assert (out.exit_code, out.output.strip()) == (0, "no changes")
    target = db.execute("SELECT target, result FROM dialplan_deploys").fetchone()
    assert target == (f"freeswitch-box:{remote_root}", "ok")
    out = runner.invoke(cli, ["dialplan", "deploy", "--host", "no;such`host"], env=env)
    assert out.exit_code == 2
    assert "not a host name" in out.output


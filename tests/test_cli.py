import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ivr_app.cli import cli

VENV_BIN = Path(sys.executable).parent


def test_help_lists_command_groups():
    out = subprocess.run([str(VENV_BIN / "ivr-app"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    for group in ("serve", "config", "db", "demo"):
        assert f"  {group} " in out


def test_config_check_good_and_bad(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("esl:\n  password: 'x'\n")
    res = CliRunner().invoke(cli, ["config", "check", str(good)],
                             env={"IVR_APP_ESL_PASSWORD": "topsecret"})
    assert res.exit_code == 0
    assert f"{good}: OK" in res.output
    assert "topsecret" not in res.output
    bad = tmp_path / "ivr-app.yaml"
    bad.write_text("\n" * 11 + "esl:\n  port: -1\n")
    res = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert res.exit_code == 2
    assert res.output.strip() == f"{bad}:13: esl.port: must be an integer 1-65535"


def test_db_command_without_database_is_a_clear_error():
    res = CliRunner().invoke(cli, ["db", "status"], env={"DATABASE_URL": ""})
    assert res.exit_code == 4
    assert "database.url is not set" in res.output


def test_demo_prints_what_it_loaded(database_url, db):
    demo_data = Path(__file__).resolve().parents[1] / "config" / "demo-data.yaml"
    res = CliRunner().invoke(cli, ["demo", "--data", str(demo_data)],
                             env={"DATABASE_URL": database_url})
    assert res.exit_code == 0, res.output
    assert "Ivan Kuznetsov  Kuznetsov Logistics  VIP  ru" in res.output
    assert "1001  Anna Petrova   1000     available" in res.output

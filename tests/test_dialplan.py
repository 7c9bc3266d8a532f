"""Dialplan as code: render -> validate -> deploy -> verify against the simulator, which reads
the deployed files on reloadxml exactly as FreeSWITCH reads conf/dialplan."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from ivr_app import yamlfile
from ivr_app.cli import cli
from ivr_app.dialplan import render, site
from ivr_app.dialplan.deploy import Deployer
from ivr_app.dialplan.validate import validate
from ivr_app.errors import ConfigError, DeployFailed, NotFound
from ivr_app.esl.control import ControlConnection
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "dialplan" / "site.example.yaml"


@pytest.fixture
def deployer(fs, db, tmp_path):
    target = tmp_path / "conf" / "dialplan"
    fs.dialplan_dir = target
    control = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                reconnect_min=0.05).start()
    assert control.wait_connected(5)
    yield Deployer(db, control, target, structlog.get_logger()), target
    control.stop()


def history(db) -> list[tuple]:
    return db.execute("SELECT version, action, result FROM dialplan_deploys "
                      "ORDER BY version").fetchall()


def test_example_site_renders_valid_xml():
    files = render.render(site.load(SITE))
    assert set(files) == {"public/ivr-app.xml", "default/ivr-app.xml"}
    assert validate(files) == []
    assert 'data="127.0.0.1:8084 async full"' in files["public/ivr-app.xml"]
    assert 'expression="^\\*30(\\d*)$"' in files["default/ivr-app.xml"]


def test_site_values_cannot_inject_xml():
    bad = 'dids:\n  - {number: "+7495\\" onload=\\"x", entry: main}\nextensions: ["1000"]\n'
    with pytest.raises(ConfigError) as info:
        site.parse(yamlfile.loads(bad, "site.yaml"))
    assert info.value.problems == [
        "site.yaml:2: dids[0].number: must be a phone number like +74951112233, quoted"]


def test_a_broken_template_is_caught_by_validate(tmp_path):
    for name in ("public.xml.j2", "default.xml.j2"):
        (tmp_path / name).write_text((render.TEMPLATES / name).read_text())
    broken = (tmp_path / "default.xml.j2").read_text()
    broken = broken.replace("</condition>", "</conditon>", 1).replace(
        'application="park"', 'application="prak"')
    (tmp_path / "default.xml.j2").write_text(broken)
    problems = validate(render.render(site.load(SITE), templates=tmp_path))
    assert problems[0].startswith("default/ivr-app.xml:")
    assert "Opening and ending tag mismatch" in problems[0]
    fixed_xml = render.render(site.load(SITE), templates=tmp_path)
    fixed_xml["default/ivr-app.xml"] = fixed_xml["default/ivr-app.xml"].replace(
        "</conditon>", "</condition>")
    assert all("no application 'prak'" in p for p in validate(fixed_xml))
    assert len(validate(fixed_xml)) == 2  # both queue extensions use it


def test_deploy_then_the_simulator_routes_with_the_deployed_dialplan(fs, db, deployer):
    dep, target = deployer
    result = dep.deploy(render.render(site.load(SITE)))
    assert result.result == "ok"
    assert (target / "public" / "ivr-app.xml").is_file()
    assert history(db) == [(1, "deploy", "ok")]
    # ivr-app is not listening: the socket returns and the deployed fallback rings the operator
    fs.originator.far_end("user/1000", FarEnd(answer_after=0.1, talk=0.5))
    ch = fs.place_call("+74951112233")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    assert ch.vars.get("ivr_app_entry") == "main"
    assert ch.vars.get("last_bridge_to")  # the operator answered
    assert not [v for v in fs.voicemails if v[1] == ch.uuid]  # and the call ended with them


def test_reloadxml_error_is_rolled_back_automatically(fs, db, deployer):
    dep, target = deployer
    dep.deploy(render.render(site.load(SITE)))
    before = (target / "public" / "ivr-app.xml").read_text()
    replies = ["+OK [[error near line 7048]: unexpected closing tag </context>]\n",
               "+OK [Success]\n"]
    fs.reloadxml_hook = lambda: replies.pop(0)
    changed = render.render(site.load(SITE))
    changed["public/ivr-app.xml"] = changed["public/ivr-app.xml"].replace(
        "ivr_app_entry=main", "ivr_app_entry=sales")
    with pytest.raises(DeployFailed, match=r"deploy 2 rolled back: reloadxml: \+OK \[\[error "
                                           r"near line 7048\]"):
        dep.deploy(changed)
    assert (target / "public" / "ivr-app.xml").read_text() == before
    assert replies == []  # the previous files were reloaded
    assert history(db) == [(1, "deploy", "ok"), (2, "deploy", "rolled back")]


def test_unverified_extensions_are_rolled_back(fs, db, deployer):
    dep, target = deployer
    fs.reloadxml_hook = lambda: "+OK [Success]\n"  # says yes, loads nothing
    with pytest.raises(DeployFailed, match="did not load extension"):
        dep.deploy(render.render(site.load(SITE)))
    assert not (target / "public" / "ivr-app.xml").exists()  # there was nothing before
    assert history(db) == [(1, "deploy", "rolled back")]


def test_invalid_dialplan_is_refused_before_writing(fs, db, deployer):
    dep, target = deployer
    files = render.render(site.load(SITE))
    files["default/ivr-app.xml"] = files["default/ivr-app.xml"].replace(
        'application="park"', 'application="prak"')
    with pytest.raises(ConfigError, match="deploy 1 refused, nothing written"):
        dep.deploy(files)
    assert not target.exists()
    assert history(db) == [(1, "deploy", "invalid")]


def test_rollback_to_an_earlier_version(fs, db, deployer, tmp_path):
    dep, target = deployer
    v1 = render.render(site.load(SITE))
    dep.deploy(v1)
    other = tmp_path / "site2.yaml"
    other.write_text(SITE.read_text().replace('"+74951112233"', '"+74951119999"'))
    dep.deploy(render.render(site.load(other)))
    assert "74951119999" in (target / "public" / "ivr-app.xml").read_text()
    result = dep.rollback(1)
    assert (target / "public" / "ivr-app.xml").read_text() == v1["public/ivr-app.xml"]
    assert result.version == 3
    assert history(db) == [(1, "deploy", "ok"), (2, "deploy", "ok"),
                           (3, "rollback to 1", "ok")]
    assert "ivr-app-did-74951112233" in fs.dialplan.to_xml()
    with pytest.raises(NotFound):
        dep.rollback(99)


def test_cli_render_validate_diff_deploy_history(fs, db, database_url, tmp_path):
    target = tmp_path / "dialplan"
    fs.dialplan_dir = target
    env = {"DATABASE_URL": database_url, "IVR_APP_ESL_PORT": str(fs.esl_port),
           "IVR_APP_DIALPLAN_TARGET_DIR": str(target), "IVR_APP_ESL_CONNECT_TIMEOUT_SECONDS": "2"}
    runner = CliRunner()
    out = runner.invoke(cli, ["dialplan", "render", "--out", str(tmp_path / "out")], env=env)
    assert out.exit_code == 0, out.output
    assert (tmp_path / "out" / "default" / "ivr-app.xml").is_file()
    out = runner.invoke(cli, ["dialplan", "validate"], env=env)
    assert out.exit_code == 0, out.output
    assert "checked against FreeSWITCH's application list" in out.output
    out = runner.invoke(cli, ["dialplan", "diff"], env=env)
    assert out.exit_code == 1
    assert "+++ new/public/ivr-app.xml" in out.output
    out = runner.invoke(cli, ["dialplan", "deploy"], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.strip() == "deployed version 1: reloadxml +OK, extensions verified"
    out = runner.invoke(cli, ["dialplan", "diff"], env=env)
    assert (out.exit_code, out.output.strip()) == (0, "no changes")
    out = runner.invoke(cli, ["dialplan", "history"], env=env)
    assert " deploy " in out.output
    assert " ok " in out.output
    out = runner.invoke(cli, ["dialplan", "deploy"], env={**env, "IVR_APP_ESL_PORT": "1"})
    assert out.exit_code == 8  # FreeSWITCH unreachable: a clear exit code, nothing written


def test_transfer_targets_must_exist():
    files = {"default/x.xml": """<include>
  <extension name="a"><condition field="destination_number" expression="^1000$">
    <action application="transfer" data="9999 XML default"/>
    <action application="transfer" data="2000 XML default"/>
    <action application="transfer" data="${target} XML default"/>
  </condition></extension>
  <extension name="b"><condition field="destination_number" expression="^(2\\d{3})$">
    <action application="answer"/></condition></extension>
</include>"""}
    assert validate(files) == [
        "default/x.xml:3: transfer to 9999 in context default: no extension matches it"]


def test_each_did_starts_in_its_own_menu(fs, db, deployer, tmp_path):
    """ivr_app_entry set by the deployed dialplan picks the menu a DID starts in."""
    dep, _target = deployer
    other = tmp_path / "site.yaml"
    other.write_text(SITE.read_text().replace('{number: "7000", entry: main}',
                                              '{number: "7000", entry: sales}'))
    dep.deploy(render.render(site.load(other)))
    ch = fs.place_call("7000")
    wait_until(lambda: ch.vars.get("ivr_app_entry") == "sales", timeout=10)
    fs.caller_hangs_up(ch.uuid)


def test_an_internal_extension_call_rings_the_desk_while_ivr_app_is_down(fs, db, deployer):
    dep, _target = deployer
    assert dep.deploy(render.render(site.load(SITE))).result == "ok"
    fs.originator.far_end("user/1001", FarEnd(answer_after=0.1, talk=0.3))
    ch = fs.place_call("1001", context="default", caller_id_number="1002")
    wait_until(lambda: ch.destroyed.is_set(), timeout=10)
    assert ch.vars.get("ivr_app_entry") == "extension"  # it was offered to ivr-app first
    assert ch.vars.get("last_bridge_to")  # then the desk answered

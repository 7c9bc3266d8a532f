"""A stock FreeSWITCH's dialplan order, in the simulator: its default.xml includes
default/*.xml at the end of the context, after Local_Extension (10[01]x) and vmain (*98).
Deploy verification catches that; `ivr-app freeswitch install` fixes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from ivr_app.cli import cli
from ivr_app.dialplan import render, site
from ivr_app.dialplan.deploy import Deployer
from ivr_app.errors import ConfigError, DeployFailed
from ivr_app.esl.control import ControlConnection
from ivr_app.fsconf import DEFAULT_INCLUDE, install

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "dialplan" / "site.example.yaml"

# the shape of FreeSWITCH 1.10's conf/vanilla: the parts that matter here
STOCK_DEFAULT = """<?xml version="1.0" encoding="utf-8"?>
<include>
  <context name="default">
    <extension name="global" continue="true">
      <condition field="${call_debug}" expression="^true$" break="never"/>
    </extension>
    <extension name="Local_Extension">
      <condition field="destination_number" expression="^(10[01][0-9])$">
        <action application="bridge" data="user/$1"/>
      </condition>
    </extension>
    <extension name="vmain">
      <condition field="destination_number" expression="^vmain$|^4000$|^\\*98$">
        <action application="voicemail" data="check default ${domain_name}"/>
      </condition>
    </extension>
    <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
  </context>
</include>
"""
# conf/vanilla/directory/default.xml: the parts the installer touches
STOCK_DIRECTORY = """<include>
  <domain name="$${domain}">
    <params>
      <param name="dial-string" value="DIAL_STRING"/>
    </params>

    <variables>
      <variable name="record_stereo" value="true"/>
    </variables>

    <groups>
      <group name="default">
        <users>
          <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
        </users>
      </group>
    </groups>
  </domain>
</include>
""".replace("DIAL_STRING", "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@"
            "${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})},"
            "${verto_contact(${dialed_user}@${dialed_domain})}")
STOCK_PUBLIC = """<?xml version="1.0" encoding="utf-8"?>
<include>
  <context name="public">
    <X-PRE-PROCESS cmd="include" data="public/*.xml"/>
  </context>
</include>
"""


def stock_conf(root: Path) -> Path:
    """A conf directory shaped like a stock install (the files the installer touches)."""
    (root / "dialplan" / "default").mkdir(parents=True)
    (root / "dialplan" / "public").mkdir(parents=True)
    (root / "dialplan" / "default.xml").write_text(STOCK_DEFAULT)
    (root / "dialplan" / "public.xml").write_text(STOCK_PUBLIC)
    (root / "directory").mkdir()
    (root / "directory" / "default.xml").write_text(STOCK_DIRECTORY)
    auto = root / "autoload_configs"
    auto.mkdir()
    (root / "vars.xml").write_text('<include>\n  <X-PRE-PROCESS cmd="set" '
                                   'data="default_password=1234"/>\n</include>\n')
    (auto / "event_socket.conf.xml").write_text('<configuration name="event_socket.conf">'
                                                '<settings><param name="password" '
                                                'value="ClueCon"/></settings></configuration>')
    (auto / "acl.conf.xml").write_text('<configuration name="acl.conf">\n  <network-lists>\n'
                                       '  </network-lists>\n</configuration>\n')
    (auto / "switch.conf.xml").write_text('<configuration name="switch.conf">\n  <settings>\n'
                                          '    <param name="max-sessions" value="1000"/>\n'
                                          '  </settings>\n</configuration>\n')
    (auto / "local_stream.conf.xml").write_text(
        '<configuration name="local_stream.conf">\n  <directory name="moh/8000" '
        'path="$${sounds_dir}/music/8000"/>\n</configuration>\n')
    return root


@pytest.fixture
def deploying(fs, db, tmp_path):
    conf = stock_conf(tmp_path / "conf")
    fs.dialplan_dir = conf / "dialplan"
    control = ControlConnection("127.0.0.1", fs.esl_port, "ClueCon", structlog.get_logger(),
                                reconnect_min=0.05).start()
    assert control.wait_connected(5)
    yield Deployer(db, control, conf / "dialplan", structlog.get_logger()), conf
    control.stop()


def test_deploy_into_a_stock_dialplan_is_rolled_back_naming_what_catches_the_numbers(
        fs, deploying):
    dep, conf = deploying
    with pytest.raises(DeployFailed) as failed:
        dep.deploy(render.render(site.load(SITE)))
    text = str(failed.value)
    assert "1001 in context default reaches extension 'Local_Extension'" in text
    assert "*98 in context default reaches extension 'vmain'" in text
    assert "*31" not in text  # nothing stock catches it
    assert not (conf / "dialplan" / "default" / "ivr-app.xml").exists()


def test_after_install_the_same_deploy_passes_and_the_app_gets_the_calls(fs, deploying):
    dep, conf = deploying
    install(conf, "a-long-test-secret")
    assert dep.deploy(render.render(site.load(SITE))).result == "ok"
    actions = fs.dialplan.hunt("default", {"destination_number": "1001"}, {})
    assert ("set", "ivr_app_entry=extension") in actions
    star = fs.dialplan.hunt("default", {"destination_number": "*98"}, {})
    assert ("set", "ivr_app_entry=star") in star
    assert not any(app == "voicemail" for app, _ in star)


def test_install_is_idempotent_and_keeps_the_stock_files(tmp_path):
    conf = stock_conf(tmp_path / "conf")
    first = install(conf, "a-long-test-secret")
    assert {c.path for c in first} == {
        "vars.xml", "autoload_configs/event_socket.conf.xml", "autoload_configs/acl.conf.xml",
        "autoload_configs/switch.conf.xml", "dialplan/default.xml", "directory/default.xml"}
    assert install(conf, "a-long-test-secret") == []
    default = (conf / "dialplan" / "default.xml").read_text()
    assert default.index(DEFAULT_INCLUDE) < default.index('name="Local_Extension"')
    assert 'data="esl_password=a-long-test-secret"' in (conf / "vars.xml").read_text()
    assert 'value="4000"' in (conf / "autoload_configs" / "switch.conf.xml").read_text()
    assert (conf / "autoload_configs" / "event_socket.conf.xml.orig").read_text().count(
        "ClueCon") == 1
    changed = install(conf, "another-test-secret")
    assert [c.path for c in changed] == ["vars.xml"]


@pytest.mark.parametrize("password", ["ClueCon", "short", "has blank inside!"])
def test_install_refuses_a_default_or_unsafe_password(tmp_path, password):
    conf = stock_conf(tmp_path / "conf")
    with pytest.raises(ConfigError):
        install(conf, password)
    assert 'esl_password' not in (conf / "vars.xml").read_text()


def test_the_cli_installs_with_the_configured_password(tmp_path, monkeypatch):
    conf = stock_conf(tmp_path / "conf")
    monkeypatch.setenv("IVR_APP_ESL_PASSWORD", "cli-test-secret-1")
    out = CliRunner().invoke(cli, ["freeswitch", "install", "--conf", str(conf)])
    assert out.exit_code == 0, out.output
    assert "dialplan/default.xml: ivr-app's extensions first" in out.output
    again = CliRunner().invoke(cli, ["freeswitch", "install", "--conf", str(conf)])
    assert again.output.strip() == "nothing to change"


def test_install_makes_ivr_app_the_only_presence_publisher_of_the_phones(tmp_path):
    """The phones' channels get a presence_id no lamp watches: the calls they make (a domain
    variable sofia sets when it authenticates them) and the calls they take (the dial-string's
    own presence_id, which mod_dptools would otherwise add as <user>@<domain>)."""
    conf = stock_conf(tmp_path / "conf")
    install(conf, "a-long-test-secret")
    text = (conf / "directory" / "default.xml").read_text()
    assert "presence_id=${dialed_user}@${dialed_domain}" not in text
    assert "presence_id=ivr-app-calls@${dialed_domain}}" in text
    variables = text[text.index("<variables>"):text.index("</variables>")]
    assert '<variable name="presence_id" value="ivr-app-calls@$${domain}"/>' in variables
    assert text.count("ivr-app-calls@$${domain}") == 1

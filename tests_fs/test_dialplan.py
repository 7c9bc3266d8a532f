"""Dialplan deploy on a real FreeSWITCH: the verification reads the dialplan FreeSWITCH
loaded and refuses a deploy whose numbers the stock extensions would catch first."""

from __future__ import annotations

from ivr_app.fsconf import DEFAULT_INCLUDE


def test_deploy_refuses_when_the_stock_dialplan_comes_first_and_passes_once_installed(lab):
    default = lab.conf / "dialplan" / "default.xml"
    installed = default.read_text()
    assert DEFAULT_INCLUDE in installed
    try:
        default.write_text(installed.replace(DEFAULT_INCLUDE, ""))  # a stock default.xml
        refused = lab.cli("dialplan", "deploy", check=False)
        assert refused.returncode == 7, refused.stdout + refused.stderr
        assert "1001 in context default reaches extension 'Local_Extension'" in refused.stderr
        assert "*98 in context default reaches extension 'vmain'" in refused.stderr
    finally:
        default.write_text(installed)
    again = lab.cli("dialplan", "deploy")
    assert "reloadxml +OK" in again.stdout
    live = lab.monitor.api("xml_locate dialplan")
    assert live.index('name="ivr-app-ext-1001"') < live.index('name="Local_Extension"')


def test_rollback_redeploys_a_version_and_verifies_it(lab):
    history = lab.cli("dialplan", "history").stdout
    version = int(history.splitlines()[2].split()[0])  # the newest deploy
    rolled = lab.cli("dialplan", "rollback", "--to", str(version))
    assert f"rolled back to version {version}" in rolled.stdout

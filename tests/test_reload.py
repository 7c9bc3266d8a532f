"""One reload path (issue 13): SIGHUP's new configuration reaches every service that holds a
piece of it; what a running process cannot change is named as needs_restart."""

from __future__ import annotations

import io
import json

from ivr_app import config, logs
from ivr_app.app import App
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from tests.ivr_harness import MENUS


def write(path, policy: str, blocked: str, directory: str, interval: int) -> None:
    path.write_text(f"recording:\n  policy: {policy}\n  directory: {directory}\n"
                    f"presence:\n  blocked_numbers: '{blocked}'\n"
                    f"queue:\n  stats_interval_seconds: {interval}\n")


def test_a_reload_reaches_the_callback_dialler_and_the_recording_policy(
        database_url, prompt_cache, tmp_path):
    fs = FakeSwitch(time_factor=0.01).start()
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    path = tmp_path / "ivr-app.yaml"
    write(path, "none", r"\+1900[0-9]+", str(tmp_path / "rec"), 5)
    env = {"DATABASE_URL": database_url, "IVR_APP_OUTBOUND_PORT": "0",
           "IVR_APP_ESL_PORT": str(fs.esl_port), "IVR_APP_IVR_MENUS": str(MENUS),
           "IVR_APP_IVR_PROMPT_CACHE_DIR": str(prompt_cache),
           "IVR_APP_OUTBOX_DIRECTORY": str(tmp_path / "outbox")}
    app = App(config.load(path, env), path, env, logs.get_logger("app"))
    app.start()
    try:
        assert app.recording.policy.mode == "none"
        write(path, "all", r"\+1900[0-9]+ \+44909[0-9]+", str(tmp_path / "elsewhere"), 9)
        assert app.reload()
        assert app.recording.policy.mode == "all"  # the next call is recorded
        assert app.callbacks.config.presence.blocked_numbers == r"\+1900[0-9]+ \+44909[0-9]+"
        assert app.voicemail.cfg.blocked_numbers == r"\+1900[0-9]+ \+44909[0-9]+"
        assert app.queue_stats.interval == 9
        # recordings being written under the old directory must still be found: kept
        assert app.recording.directory == tmp_path / "rec"
        reloaded = [json.loads(x) for x in out.getvalue().splitlines()
                    if '"config reloaded"' in x]
        assert reloaded[-1]["needs_restart"] == ["recording.directory"]
    finally:
        app.shutdown()
        fs.stop()

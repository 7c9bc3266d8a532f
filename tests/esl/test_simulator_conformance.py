"""The simulator held to the real thing: each capture's client side is replayed against
FakeSwitch over TCP, and what comes back must match what FreeSWITCH 1.10.12 sent
(ivr_app.testing.replay explains the comparison).

Not yet simulated, so not listed: inbound-events-plain-all / -json-all (the full `event ALL`
stream: CODEC, CHANNEL_UUID, CALL_UPDATE, API, PLAYBACK_*, and the loopback leg's early
name `loopback/7400/public-a`) and inbound-disconnect-shutdown (a FreeSWITCH shutdown with
its 290 MODULE_UNLOAD events); and four of the later seven: inbound-loopback-confirm,
inbound-displace-say (MEDIA_BUG_* events), inbound-bridge-registered-user (a registered phone's
PRESENCE_IN), outbound-sip-quoted-display (its log/data stream). Their facts that matter to
the app are simulated and tested in tests/esl/test_real_freeswitch_facts.py.
"""

from __future__ import annotations

import pytest

from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.replay import compare, replay

SUPPORTED = [
    "inbound-auth", "inbound-api", "inbound-bgapi", "inbound-disconnect-exit",
    "inbound-dtmf-pagd", "inbound-dtmf-pagd-invalid", "inbound-dtmf-pagd-timeout",
    "inbound-events-xml", "inbound-filter-and-myevents", "inbound-originate-multi",
    "inbound-presence", "inbound-record", "inbound-sendmsg",
    "outbound-basic", "outbound-basic-json", "outbound-hangup-midplay", "outbound-sip",
    "outbound-break-before-start", "outbound-dtmf-during-playback",
    "outbound-hangup-behind-locked-playback",
]


@pytest.mark.parametrize("scenario", SUPPORTED)
def test_simulator_matches_capture(scenario, tmp_path):
    fs = FakeSwitch(time_factor=0.05, recordings_dir=tmp_path / "recordings").start()
    try:
        conns = replay(scenario, fs)
    finally:
        fs.stop()
    assert all(c.received for c in conns.values()), "a connection received nothing"
    problems = [p for c in conns.values() for p in compare(c, scenario.startswith("outbound"))]
    assert problems == []


def test_a_relative_recording_path_lands_under_recordings_dir(tmp_path, monkeypatch):
    """inbound-record's `{crm_customer_id=42}/tmp/...` path is relative: FreeSWITCH keeps the
    text in Record-File-Path; the file goes under recordings_dir, never the cwd."""
    monkeypatch.chdir(tmp_path)
    fs = FakeSwitch(time_factor=0.05, recordings_dir=tmp_path / "recordings").start()
    try:
        replay("inbound-record", fs)
    finally:
        fs.stop()
    written = list((tmp_path / "recordings").rglob("*.wav"))
    assert [p.parts[-4] for p in written] == ["{crm_customer_id=42}"]
    assert not list(tmp_path.glob("{*"))


def test_a_broken_simulator_is_caught():
    """The comparison is not vacuous: a simulator that forgets DTMF events fails it."""
    from ivr_app.testing.fakeswitch import channel

    fs = FakeSwitch(time_factor=0.05).start()
    original = channel.Channel.queue_dtmf

    def queue_without_events(self, digits, source="INBAND_AUDIO"):
        self.dtmf.extend(digits)
        self.dtmf_arrived.set()

    channel.Channel.queue_dtmf = queue_without_events
    try:
        conns = replay("inbound-dtmf-pagd", fs, wait=0.5)
    finally:
        channel.Channel.queue_dtmf = original
        fs.stop()
    problems = [p for c in conns.values() for p in compare(c)]
    assert any("DTMF" in p for p in problems)

"""The on-a-call table: channel names, answer/hangup, and the rebuild after a reconnect."""

from __future__ import annotations

import structlog

from ivr_app.esl.events import DictEvent
from ivr_app.presence.oncall import OnCallTracker, extension_of


def test_extension_of_registered_user_channels_only():
    assert extension_of("sofia/internal/1001@127.0.0.1") == "1001"
    assert extension_of("sofia/gateway/pstn/+79161110001") is None
    assert extension_of("loopback/1001-a") is None


class FakeControl:
    def __init__(self, channels):
        self.channels = channels
        self.handlers = {}
        self.on_connected = []

        class Connected:
            @staticmethod
            def is_set():
                return True

        self.connected = Connected()

    def on(self, name, handler):
        self.handlers[name] = handler


def test_two_calls_then_one_hangup_keeps_the_employee_busy_and_resync_clears_stale():
    changes = []
    control = FakeControl({"u-old": {"name": "sofia/internal/1002@x", "callstate": "ACTIVE"}})
    tracker = OnCallTracker(structlog.get_logger(), lambda e, b: changes.append((e, b)))
    tracker.attach(control)
    assert tracker.busy("1002")
    for uuid in ("u1", "u2"):
        control.handlers["CHANNEL_ANSWER"](DictEvent(
            {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": uuid,
             "Channel-Name": "sofia/internal/1001@x"}))
    control.handlers["CHANNEL_HANGUP_COMPLETE"](DictEvent(
        {"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": "u1"}))
    assert tracker.busy("1001")  # the second call is still up
    control.channels = {"u2": {"name": "sofia/internal/1001@x", "callstate": "ACTIVE"}}
    tracker.resync(control)  # after a reconnect: 1002's call ended while we were away
    assert not tracker.busy("1002")
    assert changes == [("1002", True), ("1001", True), ("1002", False)]

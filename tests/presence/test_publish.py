"""What a node does with a presence notification, including ones it did not write."""

from __future__ import annotations

import structlog

from ivr_app.presence.publish import PresenceListener, presence_in_headers


class Control:
    def __init__(self):
        self.sent = []

    def sendevent(self, name, headers):
        self.sent.append((name, dict(headers)))


def test_a_change_is_published_as_presence_in():
    control = Control()
    listener = PresenceListener(lambda: None, control, "pbx.example", structlog.get_logger())
    listener.heard('{"extension": "1001", "state": "dnd", "by": "star code dnd_on"}')
    assert listener.seen == {"1001": "dnd"}
    assert control.sent == [("PRESENCE_IN", dict(presence_in_headers("1001", "dnd",
                                                                      "pbx.example")))]
    assert control.sent[0][1]["from"] == "1001@pbx.example"


def test_notifications_someone_else_sent_by_hand_never_break_the_listener():
    control = Control()
    listener = PresenceListener(lambda: None, control, "x", structlog.get_logger())
    for payload in ("not json", "[1, 2]", '{"state": "dnd"}',
                    '{"extension": "1001", "event": "boom", "level": 3}'):
        listener.heard(payload)
    assert control.sent == []
    assert listener.seen == {}

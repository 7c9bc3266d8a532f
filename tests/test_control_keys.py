"""The employee's control keys (*2 record, *3 mask) are consumed by FreeSWITCH, never sent on to
the customer: ivr-app binds them on the caller's channel (``bind_meta_app <key> b si ...``)
before bridging it to an employee. The simulator models what a bridge does with a key and
what that binding consumes (ivr_app/testing/fakeswitch/meta.py, from switch_ivr_async.c
meta_on_dtmf and switch_ivr_bridge.c)."""

from __future__ import annotations

import gevent

from ivr_app.testing.fakeswitch.channel import Channel
from ivr_app.testing.fakeswitch.originate import FarEnd
from ivr_app.testing.fakeswitch.switch import FakeSwitch
from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import EMILY
from tests.test_recording import at_menu, recorded  # noqa: F401 - a fixture


def bridged_pair(fs: FakeSwitch) -> tuple[Channel, Channel]:
    a = Channel(fs, name="sofia/external/caller", direction="inbound")
    b = Channel(fs, name="sofia/internal/1002@127.0.0.1", direction="outbound")
    for ch in (a, b):
        fs.add_channel(ch)
        ch.answer()
    a.other, b.other = b, a
    return a, b


def test_a_bridge_passes_keys_on_unless_a_meta_binding_consumes_them():
    fs = FakeSwitch(time_factor=0.01)
    a, b = bridged_pair(fs)
    b.queue_dtmf("*25")
    assert a.heard_dtmf == "*25"  # no binding: the peer's phone hears every key
    a.execute("bind_meta_app", "2 b si set::ivr_app_control_key=*2")
    a.heard_dtmf = ""
    b.queue_dtmf("*2")
    assert a.heard_dtmf == ""
    assert fs.meta_apps[-1] == (b.uuid, "set", "ivr_app_control_key=*2")  # on the presser
    assert b.vars["ivr_app_control_key"] == "*2"
    b.queue_dtmf("*5")  # armed by *: the next key is consumed even when nothing is bound
    b.queue_dtmf("**")  # ** lets one * through
    b.queue_dtmf("7")
    assert a.heard_dtmf == "*7"
    # a 'b' binding watches what is sent to its channel: the channel's own keys pass
    a.queue_dtmf("*2")
    assert list(a.dtmf) == []  # bridged: dequeued and sent on
    assert b.heard_dtmf == "*2"


def test_the_meta_key_goes_stale_after_five_seconds():
    fs = FakeSwitch(time_factor=0.01)
    a, b = bridged_pair(fs)
    a.execute("bind_meta_app", "3 b si set::ivr_app_control_key=*3")
    b.queue_dtmf("*")
    gevent.sleep(5.2 * fs.time_factor)
    b.queue_dtmf("3")
    assert a.heard_dtmf == "3"


def test_the_customer_never_hears_the_employees_star_2_and_star_3(recorded, db):  # noqa: F811
    """James presses *2 and *3 during the conversation: the recording starts and is masked
    (the DTMF events on his leg still reach ivr-app), and Emily's phone got none of it; the
    keys she hears from him otherwise still pass."""
    fs, _app = recorded(policy="none")
    fs.originator.far_end("user/1002", FarEnd(answer_after=0.2, talk=20))
    ch = fs.place_call("74951112233", caller_id_number=EMILY, caller_id_name="Emily Clark")
    at_menu(fs, ch)
    fs.press(ch.uuid, "2")
    james = wait_until(lambda: next((c for c in fs.channels.values()
                                     if c.name.startswith("sofia/internal/1002")
                                     and c.answer_state == "answered" and c.other), None),
                       what="James answering")
    fs.press(james.uuid, "*2")
    wait_until(lambda: ch.recordings, what="recording on demand")
    (rec,) = ch.recordings.values()
    fs.press(james.uuid, "*3")
    wait_until(lambda: rec.masked_since is not None, what="masked")
    fs.press(james.uuid, "4")
    assert ch.heard_dtmf == "4"
    assert [(u, args) for u, _app, args in fs.meta_apps] == [
        (james.uuid, "ivr_app_control_key=*2"), (james.uuid, "ivr_app_control_key=*3")]
    fs.caller_hangs_up(ch.uuid)

"""FreeSWITCH restarted under a running ivr-app (last: the lab's FreeSWITCH comes back fresh):
the control connection comes back by itself and the next call works."""

from __future__ import annotations

import datetime as dt
import socket
import time

from ivr_app.config import EslConfig
from tests_fs.conftest import MEASURED, setting
from tests_fs.sip import wait_for
from tests_fs.test_ivr import DID, calls_row


def answers() -> bool:
    try:
        with socket.create_connection((setting("IVR_APP_FS_ESL_HOST"),
                                       int(setting("IVR_APP_FS_ESL_PORT"))), timeout=0.5) as s:
            return s.recv(64).startswith(b"Content-Type: auth/request")
    except OSError:
        return False


def test_freeswitch_restarted_ivr_app_reconnects_and_takes_the_next_call(lab, sip):
    ups = len([x for x in lab.log_lines() if x.get("event") == "control connection up"])
    lab.monitor.control.bgapi("fsctl shutdown restart", timeout=10)
    wait_for(lambda: not answers(), 30, "FreeSWITCH going down")
    wait_for(answers, 60, "FreeSWITCH back")
    back = dt.datetime.now(dt.UTC)
    line = wait_for(lambda: [x for x in lab.log_lines()
                             if x.get("event") == "control connection up"][ups:], 60,
                    "ivr-app's control connection up again")[0]
    again = dt.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    late = (again - back).total_seconds()
    MEASURED.append(f"FreeSWITCH restart: ivr-app's control connection up "
                    f"{late:.2f} s after the Event Socket answered")
    # the backoff is capped at esl.reconnect_max_seconds (2 s, jitter +20 %): never later
    assert late < EslConfig().reconnect_max_seconds * 1.2 + 0.5
    assert line["connections"] == 2
    # the harness's own monitor reconnects with its own backoff: events before it are lost
    wait_for(lambda: lab.monitor.control.connections >= 2 and
             lab.monitor.control.connected.is_set(), 60, "the test's monitor back")
    time.sleep(3)  # the profiles come up after the Event Socket
    sip.phone("1000", answer_after=0.5, talk=2)
    mark = lab.monitor.mark()
    caller = sip.call(DID, number="+15550006666", keys=[(1.0, "info", "0")])
    uuid = lab.monitor.channel(mark, "sofia/external/+15550006666@", timeout=30)
    assert caller.wait(60) is not None
    route, _path, _cause, answered = calls_row(lab, uuid)
    assert (route, answered) == ("main/extension 1000", True)

"""The employee's control keys on a real FreeSWITCH: during the conversation 1002's phone
presses *2 (SIP INFO), ivr-app starts recording, and the customer's side gets no DTMF for it
(bind_meta_app ... b on the caller's channel consumes the * and the key); a 5 pressed after
it does reach the customer, as an RFC 2833 telephone-event. The customer's media is a UDP
socket of the test (the SIPp caller's SDP names its port), which reads every RTP packet."""

from __future__ import annotations

import socket
import threading

from tests_fs.sip import wait_for
from tests_fs.test_ivr import EMILY, call_through

TELEPHONE_EVENT = 101  # the payload type tests_fs/sip.py's SDP offers for RFC 2833
EVENT_CODES = {"*": 10, "#": 11, **{str(d): d for d in range(10)}}


class RtpSink:
    """Counts the RTP packets sent to one port, by payload type, and the RFC 2833 event codes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.audio = 0
        self.events: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            if len(data) < 13:
                continue
            pt = data[1] & 0x7F
            if pt == TELEPHONE_EVENT:
                if not self.events or self.events[-1] != data[12]:
                    self.events.append(data[12])  # one digit is several packets
            else:
                self.audio += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_star_2_is_consumed_and_a_plain_key_still_passes(lab, sip):
    sink = RtpSink()
    try:
        sip.phone("1002", answer_after=0.5, press="*2", press_after=1.0, talk=7,
                  then=((2.0, "5"),))
        uuid = call_through(lab, sip, EMILY, 60, name="Emily Clark",
                            keys=[(1.0, "info", "1002#")], media_port=sink.port)
        with lab.db() as db:
            wait_for(lambda: db.execute(
                "SELECT status FROM recordings WHERE call_uuid = %s AND reason = %s",
                (uuid, "on demand by 1002")).fetchone(), 20, "the on-demand recording")
    finally:
        sink.close()
    assert sink.audio > 50  # the caller's media did come here
    assert EVENT_CODES["5"] in sink.events  # a key that is no control key reaches the caller
    assert EVENT_CODES["*"] not in sink.events
    assert EVENT_CODES["2"] not in sink.events

"""The simulator and the app's outbound listener, both on port 0, talking over real TCP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import structlog

from ivr_app.esl.call import Call
from ivr_app.esl.outbound import OutboundServer
from ivr_app.testing.fakeswitch.switch import FakeSwitch


def socket_dialplan(port: int, number: str = "7000") -> str:
    return f"""<include><context name="public">
      <extension name="to-ivr-app">
        <condition field="destination_number" expression="^{number}$">
          <action application="socket" data="127.0.0.1:{port} async full"/>
          <action application="playback" data="silence_stream://100"/>
          <action application="hangup" data="TEMPORARY_FAILURE"/>
        </condition>
      </extension></context></include>"""


@pytest.fixture
def serve(fs: FakeSwitch) -> Iterator[Callable[..., OutboundServer]]:
    servers: list[OutboundServer] = []

    def start(handler: Callable[[Call], None], **kw: object) -> OutboundServer:
        server = OutboundServer("127.0.0.1", 0, handler, structlog.get_logger(), **kw).start()
        fs.dialplan.load_xml(socket_dialplan(server.port))
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()
        s.calls.kill(timeout=2)

"""`ivr-app status` and `ivr-app calls live` against the simulator."""

from __future__ import annotations

import gevent
from click.testing import CliRunner

from ivr_app.cli import cli
from ivr_app.db import directory
from tests.test_directory import DEMO


def park_dialplan(fs):
    fs.dialplan.load_xml('<include><context name="public"><extension name="p">'
                         '<condition field="destination_number" expression="^1$">'
                         '<action application="answer"/><action application="park"/>'
                         '</condition></extension></context></include>')


def test_status_counts_live_calls_and_presence(fs, db, database_url):
    directory.store(db, directory.load_file(DEMO))
    park_dialplan(fs)
    fs.place_call("1", caller_id_number="+74951234567")
    fs.place_call("1", caller_id_number="+74951234568")
    env = {"DATABASE_URL": database_url, "IVR_APP_ESL_PORT": str(fs.esl_port)}
    out = CliRunner().invoke(cli, ["status"], env=env)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("FreeSWITCH: FreeSWITCH Version 1.10.12")
    assert "live channels: 2, 2 waiting in a queue" in out.output
    assert "PostgreSQL: reachable, schema up to date" in out.output
    assert "presence: 3 available" in out.output


def test_status_without_freeswitch_exits_8(database_url):
    out = CliRunner().invoke(cli, ["status"], env={"DATABASE_URL": database_url,
                                                   "IVR_APP_ESL_PORT": "1",
                                                   "IVR_APP_ESL_CONNECT_TIMEOUT_SECONDS": "1"})
    assert out.exit_code == 8
    assert "does not answer" in out.output


def test_calls_live_prints_a_line_per_event(fs):
    park_dialplan(fs)

    def later():
        gevent.sleep(0.3)
        ch = fs.place_call("1", caller_id_number="+74951234567")
        gevent.sleep(0.1)
        fs.caller_hangs_up(ch.uuid, "NORMAL_CLEARING")

    gevent.spawn(later)
    out = CliRunner().invoke(cli, ["calls", "live", "--seconds", "1.0"],
                             env={"IVR_APP_ESL_PORT": str(fs.esl_port)})
    assert out.exit_code == 0, out.output
    events = [line.split()[3] for line in out.output.splitlines() if "+74951234567" in line]
    assert events == ["create", "answer", "hangup_complete"]
    assert "NORMAL_CLEARING" in out.output

"""A node killed mid-call (kill -9) leaves calls rows open; started again, it closes them:
the ones FreeSWITCH no longer has at once, the ones still up (in the dialplan's fallback)
when they hang up."""

from __future__ import annotations

import uuid as uuid_mod

from ivr_app.testing.waiting import wait_until
from tests.ivr_harness import start_app


def open_row(db, uuid: str, node: str) -> None:
    db.execute("""INSERT INTO calls (uuid, direction, caller_number, destination, route, node,
                                     started_at)
                  VALUES (%s, 'inbound', '+15550100001', '+74951112233', 'main', %s,
                          now() - interval '1 minute')""", (uuid, node))


def closed(db, uuid: str):
    return db.execute("SELECT hangup_cause, route FROM calls WHERE uuid = %s AND "
                      "ended_at IS NOT NULL", (uuid,)).fetchone()


def test_a_restarted_node_closes_the_rows_its_killed_run_left_open(fs, db, database_url,
                                                                    prompt_cache):
    fs.dialplan.load_xml("""<include><context name="public"><extension name="fallback">
      <condition field="destination_number" expression="^7100$">
        <action application="park"/></condition></extension></context></include>""")
    still_up = fs.place_call("7100", caller_id_number="+15550100002")  # the operator's desk
    gone, other_node = str(uuid_mod.uuid4()), str(uuid_mod.uuid4())
    open_row(db, gone, "node-a")
    open_row(db, still_up.uuid, "node-a")
    open_row(db, other_node, "node-b")  # another node's live call: not ours to close
    # a call the restarted node itself takes as it starts (its row is younger than the node)
    this_run = str(uuid_mod.uuid4())
    db.execute("""INSERT INTO calls (uuid, direction, caller_number, destination, node,
                                     started_at)
                  VALUES (%s, 'inbound', '+15550100003', '+74951112233', 'node-a',
                          now() + interval '1 minute')""", (this_run,))
    app = start_app(fs, database_url, prompt_cache,
                    env={"IVR_APP_SERVICE_NODE_NAME": "node-a"})
    try:
        assert wait_until(lambda: closed(db, gone), what="the lost call closed") == \
            ("IVR_APP_LOST", "main -> ended while ivr-app was down")
        assert closed(db, still_up.uuid) is None
        fs.caller_hangs_up(still_up.uuid, "NORMAL_CLEARING")
        assert wait_until(lambda: closed(db, still_up.uuid), what="the fallback call closed") \
            == ("NORMAL_CLEARING", "main -> went on without ivr-app")
        assert closed(db, other_node) is None
        assert closed(db, this_run) is None
    finally:
        app.shutdown()

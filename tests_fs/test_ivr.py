"""IVR paths on a real FreeSWITCH: keys as SIP INFO and RFC 2833, invalid, timeout,
type-ahead during the greeting, the operator, the account manager."""

from __future__ import annotations

from tests_fs.sip import wait_for

EMILY = "+442071234567"
DID = "+74951112233"


def call_through(lab, sip, number: str, seconds: float, **call) -> str:
    """Call the company number from ``number`` (sip.call's options), wait for the SIP call to
    end; the UUID of the caller's channel."""
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=number, **call)
    uuid = lab.monitor.channel(mark, f"sofia/external/{number}@")
    assert caller.wait(seconds) is not None, f"the call from {number} did not end"
    return uuid


def calls_row(lab, uuid: str):
    with lab.db() as db:
        return wait_for(lambda: db.execute(
            "SELECT route, menu_path, hangup_cause, employee_answered FROM calls "
            "WHERE uuid = %s AND ended_at IS NOT NULL", (uuid,)).fetchone(), 30,
            "the calls row")


def test_invalid_then_timeout_then_the_operator(lab, sip):
    sip.phone("1000", answer_after=0.5, talk=2)
    # 7 during the greeting (type-ahead, invalid); after it the inter-digit wait (2 s), the
    # invalid prompt and the menu again, nothing for the 5 s timeout, the timeout prompt,
    # then 0 while the menu prompt plays the third time
    second = 2.0 + lab.prompt_seconds("invalid") + lab.prompt_seconds("main_menu") + 5.0 + \
        lab.prompt_seconds("timeout") + 1.5
    uuid = call_through(lab, sip, "+15550001111", 90, name="Test Caller",
                        keys=[(1.0, "info", "7"), (second, "info", "0")])
    route, path, cause, answered = calls_row(lab, uuid)
    assert [k["digits"] for k in path] == ["7", "", "0"]
    assert route == "main/extension 1000"
    assert answered is True
    assert cause == "NORMAL_CLEARING"


def test_type_ahead_during_the_greeting_rfc2833_to_the_account_manager(lab, sip):
    """2 pressed one second into the greeting (RFC 2833) reaches Emily's manager."""
    sip.phone("1002", answer_after=0.5, talk=2)
    mark = lab.monitor.mark()
    caller = sip.call(DID, number=EMILY, name="Emily Clark", keys=[(1.0, "rfc2833", "2")])
    uuid = lab.monitor.channel(mark, f"sofia/external/{EMILY}@")
    assert caller.wait(60) is not None
    route, path, _cause, answered = calls_row(lab, uuid)
    assert path == [{"menu": "main", "digits": "2"}]
    assert route == "main/manager"
    assert answered is True
    dtmf = lab.monitor.since(mark, "DTMF", Unique_ID=uuid)
    assert [e.get("DTMF-Digit") for e in dtmf] == ["2"]
    assert dtmf[0].get("DTMF-Source") == "RTP"


def test_a_quoted_display_name_still_reaches_the_employee(lab, sip):
    """A caller name with \\" made sofia fail every bridge (DESTINATION_OUT_OF_ORDER)."""
    sip.phone("1002", answer_after=0.5, talk=2)
    mark = lab.monitor.mark()
    caller = sip.call(DID, number="+15550002222", name='Evil \\"x\\" Name',
                      keys=[(1.0, "info", "1002#")])
    uuid = lab.monitor.channel(mark, "sofia/external/+15550002222@")
    assert caller.wait(60) is not None
    route, _path, _cause, answered = calls_row(lab, uuid)
    assert route == "main/extension 1002"
    assert answered is True
    leg = lab.monitor.channel(mark, "sofia/internal/1002@")
    created = lab.monitor.since(mark, "CHANNEL_CREATE", Unique_ID=leg)[0]
    assert created.get("Caller-Caller-ID-Name") == "Evil x Name"
    assert created.get("Caller-Caller-ID-Number") == "+15550002222"
    with lab.db() as db:
        name = db.execute("SELECT caller_name FROM calls WHERE uuid = %s", (uuid,)).fetchone()
    assert name == ('Evil \\"x\\" Name',)


def test_a_literal_percent_0a_in_the_name_is_stored_verbatim(lab, sip):
    """FreeSWITCH leaves a valid %XX unencoded in plain events (the first real run stored a
    newline); the app reads such a name again with uuid_getvar."""
    uuid = call_through(lab, sip, "+15550005555", 30, name="Bob%0AEvil", hangup_after=3.0)
    calls_row(lab, uuid)
    with lab.db() as db:
        name = db.execute("SELECT caller_name FROM calls WHERE uuid = %s", (uuid,)).fetchone()
    assert name == ("Bob%0AEvil",)


def test_no_key_three_times_runs_on_failure_the_operator(lab, sip):
    sip.phone("1000", answer_after=0.5, talk=2)
    uuid = call_through(lab, sip, "+15550008888", 100, max_seconds=90)
    route, path, _cause, answered = calls_row(lab, uuid)
    assert [k["digits"] for k in path] == ["", "", ""]
    assert route == "main/failed -> extension 1000"
    assert answered is True

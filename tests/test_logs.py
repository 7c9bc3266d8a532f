import io
import json

from ivr_app import logs


def test_json_lines_when_not_a_tty_with_call_uuid_on_every_call_line():
    out = io.StringIO()
    logs.configure("info", "auto", stream=out)
    base = logs.get_logger("ivr")
    call_log = logs.call_logger(base, "8a6c7d1e-0000-4000-8000-000000000001", caller="+7495")
    call_log.info("answered")
    call_log.warning("invalid entry", digits="9")
    base.info("not a call line")
    call_log.debug("filtered out at info level")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["answered", "invalid entry", "not a call line"]
    assert lines[0]["call_uuid"] == lines[1]["call_uuid"] == "8a6c7d1e-0000-4000-8000-000000000001"
    assert "call_uuid" not in lines[2]
    assert lines[1]["level"] == "warning"
    assert lines[0]["component"] == "ivr"


def test_console_format_is_human_readable():
    out = io.StringIO()
    logs.configure("debug", "console", stream=out)
    logs.get_logger("x").info("hello", call_uuid="abc")
    text = out.getvalue()
    assert "hello" in text
    assert "call_uuid=abc" in text
    assert not text.lstrip().startswith("{")

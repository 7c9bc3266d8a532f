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


def test_stdlib_loggers_are_rendered_as_json_lines_too():
    """psycopg_pool and greenswitch log through the standard library: their lines are the
    same JSON objects as ours (level, logger, timestamp, event), never bare text."""
    import logging
    import warnings

    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    logs.get_logger("app").info("ours")
    logging.getLogger("psycopg.pool").warning("error connecting in %r: %s", "pool-1", "refused")
    logging.getLogger("greenswitch").debug("below the configured level")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("greenswitch").exception("reader died")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(x["logger"], x["level"], x["event"]) for x in lines[:3]] == [
        ("ivr_app.app", "info", "ours"),
        ("psycopg.pool", "warning", "error connecting in 'pool-1': refused"),
        ("greenswitch", "error", "reader died")]
    assert "ValueError: boom" in lines[2]["exception"]
    assert lines[3]["logger"] == "py.warnings"
    assert "a library's warning" in lines[3]["event"]
    assert len(lines) == 4
    assert all(x["timestamp"].endswith("Z") for x in lines)


def test_configure_again_replaces_the_stdlib_handler():
    import logging

    first, second = io.StringIO(), io.StringIO()
    logs.configure("info", "json", stream=first)
    logs.configure("warning", "json", stream=second)  # a reload: one handler, the new level
    logging.getLogger("psycopg.pool").info("filtered")
    logging.getLogger("psycopg.pool").warning("kept")
    assert first.getvalue() == ""
    assert [json.loads(x)["event"] for x in second.getvalue().splitlines()] == ["kept"]

"""freeswitch/ as FreeSWITCH's pre-processor reads it: no directive hides in a comment."""

from __future__ import annotations

import re
from pathlib import Path

from ivr_app.testing.fakeswitch.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[2]
VARS_XML = '<X-PRE-PROCESS cmd="set" data="esl_password=a-long-random-secret"/>\n'


def test_a_directive_inside_a_comment_is_run_as_freeswitch_does():
    text = '<!-- e.g. <X-PRE-PROCESS cmd="set" data="esl_password=..."/> -->\n' \
           '<param name="password" value="$${esl_password}"/>'
    out, gvars = preprocess([VARS_XML, text])
    assert gvars["esl_password"] == "..."
    assert 'value="..."' in out


def test_the_event_socket_keeps_the_password_of_vars_xml():
    conf = (ROOT / "freeswitch" / "autoload_configs" / "event_socket.conf.xml").read_text()
    out, gvars = preprocess([VARS_XML, conf])
    assert gvars["esl_password"] == "a-long-random-secret"
    assert re.search(r'name="password" value="a-long-random-secret"', out)


def test_no_shipped_file_carries_a_directive():
    """Any directive (set, include, exec ...): the snippets are merged into FreeSWITCH's files,
    where a directive in their comments would run."""
    for path in sorted((ROOT / "freeswitch").rglob("*.xml")):
        assert not re.search(r"<X-PRE-PROCESS", path.read_text(), re.I), \
            f"{path}: a pre-processor directive (runs even in a comment)"

"""The quoting gate against a model of FreeSWITCH's own string handling (fsstrings)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr_app.esl.quoting import Target, UnsafeValue, app_args, quote
from ivr_app.testing.fakeswitch import fsstrings

# printable text with everything FreeSWITCH treats specially, no CR/LF/NUL
special = st.sampled_from(list("${}\\' \"()[],|:^%\t"))
text = st.lists(st.one_of(st.characters(blacklist_characters="\r\n\x00",
                                        blacklist_categories=("Cs",)), special),
                max_size=40).map("".join)


class Spy:
    """Records every variable or API lookup the expansion makes: there must be none."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def api(self, cmd: str, arg: str) -> str:
        self.calls.append((cmd, arg))
        return "API-RAN"


class Vars(dict):
    def __init__(self, spy: Spy):
        super().__init__()
        self.spy = spy

    def get(self, key, default=None):
        self.spy.calls.append(("var", key))
        return "VAR-READ"


@given(text)
def test_app_arg_reaches_the_application_unchanged_and_expands_nothing(value):
    spy = Spy()
    quoted = quote(value, Target.APP_ARG)
    assert fsstrings.expand(quoted, Vars(spy), Vars(spy), spy.api) == value
    assert spy.calls == []


@given(st.lists(text.filter(lambda w: w and "'" not in w and "\\" not in w
                            and not w.startswith("^^") and w.strip(" ") == w and w.strip()),
                min_size=1, max_size=6))
def test_blank_separated_words_survive_expansion_and_splitting(words):
    spy = Spy()
    arg = app_args(*words)
    expanded = fsstrings.expand(arg, Vars(spy), Vars(spy), spy.api)
    assert fsstrings.separate(expanded) == words
    assert spy.calls == []


@given(text)
def test_line_breaks_and_nul_are_refused_everywhere(value):
    for bad in ("\r", "\n", "\x00"):
        poisoned = value + bad + "Unique-ID: x"
        for target in Target:
            with pytest.raises(UnsafeValue):
                quote(poisoned, target)


def test_examples_of_what_expansion_would_have_done():
    spy = Spy()
    evil = "${system rm -rf /}"
    assert fsstrings.expand(evil, {}, {}, spy.api) == "API-RAN"  # unquoted: runs an API
    assert spy.calls == [("system", "rm -rf /")]
    assert quote(evil, Target.APP_ARG) == "\\${system rm -rf /}"
    assert quote("$${domain}", Target.APP_ARG) == "\\$\\${domain}"
    assert quote("C:\\x", Target.APP_ARG) == "C:\\\\x"
    assert quote("price $5", Target.APP_ARG) == "price $5"  # no expansion, nothing to escape


def test_prompt_with_spaces_is_quoted_as_one_word():
    assert app_args("1", "4", "/sounds/main menu.wav") == "1 4 '/sounds/main menu.wav'"
    assert fsstrings.separate("1 4 '/sounds/main menu.wav' x") == [
        "1", "4", "/sounds/main menu.wav", "x"]


@pytest.mark.parametrize(("value", "target"), [
    ("user/1001,user/1002", Target.DIAL_TARGET),  # a second leg
    ("1001|user/1002", Target.DIAL_TARGET),
    ("user/1001:_:sofia/gateway/pstn/+19005550100", Target.DIAL_TARGET),  # an enterprise leg
    ("x:_:sofia/gateway/pstn/+19005550100", Target.DIAL_VAR),  # FreeSWITCH splits it first
    ("{ignore_early_media=true}user/1", Target.DIAL_TARGET),
    ("+7495${x}", Target.DIAL_TARGET),
    ("a|b", Target.DIAL_VAR),
    ("{x}", Target.DIAL_VAR),
    ("x}user/666", Target.DIAL_VAR),
    ("12a$", Target.DTMF),
    ("my var", Target.VAR_NAME),
    ("not-a-uuid", Target.UUID),
    ("it's", Target.ARG_TOKEN),
    ("", Target.ARG_TOKEN),
])
def test_refused(value, target):
    with pytest.raises(UnsafeValue):
        quote(value, target, what="test value")


def test_accepted_dial_targets_and_vars():
    assert quote("user/1001", Target.DIAL_TARGET) == "user/1001"
    assert quote("sofia/gateway/gw1/+74951234567", Target.DIAL_TARGET) == \
        "sofia/gateway/gw1/+74951234567"
    assert quote("Anna Petrova", Target.DIAL_VAR) == "'Anna Petrova'"
    assert quote("8A6C7D1E-0000-4000-8000-000000000001", Target.UUID) == \
        "8a6c7d1e-0000-4000-8000-000000000001"
    assert quote(1234, Target.DTMF) == "1234"


def test_error_names_the_value():
    with pytest.raises(UnsafeValue, match="caller_id_name: line breaks"):
        quote("Evil\nUnique-ID: x", Target.HEADER, what="caller_id_name")


@given(text)
def test_set_value_survives_both_expansions(value):
    spy = Spy()
    once = fsstrings.expand(quote(value, Target.SET_VALUE), Vars(spy), Vars(spy), spy.api)
    assert fsstrings.expand(once, Vars(spy), Vars(spy), spy.api) == value
    assert spy.calls == []


@given(st.from_regex(r"\^?(\\d|\\w|\[0-9\]|[0-9*#]|\$|\{|\}|\+|\.)+\$?", fullmatch=True))
def test_regex_words_reach_the_application_unchanged(pattern):
    from ivr_app.esl.quoting import Regex

    spy = Spy()
    arg = app_args("1", "4", Regex(pattern), "x")
    words = fsstrings.separate(fsstrings.expand(arg, Vars(spy), Vars(spy), spy.api))
    assert words == ["1", "4", pattern, "x"]
    assert spy.calls == []


@pytest.mark.parametrize("pattern", ["\\s+", "a\\\\b", "\\n", "a b", "x\\"])
def test_regex_that_freeswitch_would_mangle_is_refused(pattern):
    with pytest.raises(UnsafeValue):
        quote(pattern, Target.REGEX)


def test_dial_string_switches_separator_for_values_with_commas():
    from ivr_app.esl.dialstring import DialString, Leg
    from ivr_app.testing.fakeswitch.originate import parse

    dial = DialString.simultaneous(
        [Leg("user/1001"),
         Leg("sofia/gateway/gw1/+79161110001",
             {"group_confirm_key": "1", "group_confirm_file": "tone_stream://%(300,0,440)"})],
        ignore_early_media=True).render()
    assert dial == ("{ignore_early_media=true}user/1001,[^^;group_confirm_key=1;"
                    "group_confirm_file=tone_stream://%(300,0,440)]sofia/gateway/gw1/+79161110001")
    ((gvars, groups),) = parse(dial)
    assert gvars == {"ignore_early_media": "true"}
    assert [leg.target for leg in groups[0]] == ["user/1001", "sofia/gateway/gw1/+79161110001"]
    assert groups[0][1].variables == {"group_confirm_key": "1",
                                      "group_confirm_file": "tone_stream://%(300,0,440)"}


def test_file_string_joins_prompts_and_refuses_a_separator_in_a_part():
    from ivr_app.esl.quoting import UnsafeValue, file_string

    assert file_string(["/p/a.wav"]) == "/p/a.wav"
    assert file_string(["digits/1.wav"], always=True) == "file_string://digits/1.wav"
    assert file_string(["/p/a.wav", "digits/1.wav"]) == "file_string:///p/a.wav!digits/1.wav"
    for bad in (["/p/a!b.wav"], [""], []):
        with pytest.raises(UnsafeValue):
            file_string(bad)

"""Configuration: YAML + environment, validated once into frozen objects, errors with file:line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ivr_app import config
from ivr_app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "ivr-app.example.yaml"


def write(tmp_path: Path, text: str, name: str = "ivr-app.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def problems_of(path: Path, environ: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.load(path, environ or {})
    return info.value.problems


def test_example_file_is_valid_and_documents_every_setting():
    cfg = config.load(EXAMPLE, {})
    assert cfg.esl.port == 8021
    assert cfg.outbound.port == 8084
    text = EXAMPLE.read_text()
    for key, _default, _env, _doc in config.defaults_reference():
        section, name = key.split(".")
        assert re.search(rf"^{section}:$", text, re.M), f"section {section} missing in example"
        assert re.search(rf"^  {name}:", text, re.M), f"{key} not documented in the example"


def test_bad_port_names_file_line_and_key(tmp_path):
    p = write(tmp_path, "service:\n  shutdown_grace_seconds: 5\nesl:\n  host: fs1\n  port: 99999\n")
    assert problems_of(p) == [f"{p}:5: esl.port: must be an integer 1-65535"]


def test_string_port_is_refused_not_coerced(tmp_path):
    p = write(tmp_path, "esl:\n  port: '8021'\n")
    assert problems_of(p) == [f"{p}:2: esl.port: must be an integer 1-65535"]


def test_every_problem_gets_its_own_line_in_file_order(tmp_path):
    p = write(tmp_path, "logging:\n  level: loud\nesl:\n  passwd: x\n  port: 0\n")
    got = problems_of(p)
    assert got[0] == f"{p}:2: logging.level: must be one of: debug, info, warning, error"
    assert got[1].startswith(f"{p}:4: esl.passwd: unknown key (expected one of: ")
    assert got[2] == f"{p}:5: esl.port: must be an integer 1-65535"
    assert len(got) == 3


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path, "esl:\n  host: fs1\n  port: [8021\noutbound:\n  port: 1\n")
    (line,) = problems_of(p)
    assert re.match(rf"^{re.escape(str(p))}:\d+: YAML syntax error: ", line), line


def test_duplicate_key_is_an_error(tmp_path):
    p = write(tmp_path, "esl:\n  port: 8021\n  port: 8022\n")
    assert problems_of(p) == [f"{p}:3: esl.port: duplicate key"]


def test_unknown_section_and_wrong_shape(tmp_path):
    p = write(tmp_path, "eslx:\n  port: 1\nesl: 5\n")
    got = problems_of(p)
    assert got[0].startswith(f"{p}:1: eslx: unknown key")
    assert got[1] == f"{p}:3: esl: must be a mapping"


def test_unquoted_number_where_a_string_is_expected(tmp_path):
    # YAML reads 0123 as an integer (octal 83 in YAML 1.1): a password must be quoted
    p = write(tmp_path, "esl:\n  password: 0123\n")
    assert problems_of(p) == [f"{p}:2: esl.password: must be a non-empty string (quote it in YAML)"]


def test_cross_field_check(tmp_path):
    p = write(tmp_path, "database:\n  pool_min: 20\n  pool_max: 5\n")
    assert problems_of(p) == [
        f"{p}:2: database.pool_min: must not be larger than database.pool_max"
    ]


def test_missing_file(tmp_path):
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_environment_overrides_the_file(tmp_path):
    p = write(tmp_path, "esl:\n  password: from-file\n  port: 8021\n")
    cfg = config.load(p, {"IVR_APP_ESL_PASSWORD": "s3cret", "IVR_APP_ESL_PORT": "9021",
                          "DATABASE_URL": "postgresql://u:pw@db1/ivr",
                          "IVR_APP_LOGGING_FORMAT": "json"})
    assert cfg.esl.password == "s3cret"
    assert cfg.esl.port == 9021
    assert cfg.database.url == "postgresql://u:pw@db1/ivr"
    assert cfg.logging.format == "json"


def test_specific_env_var_beats_database_url_alias():
    cfg = config.load(None, {"DATABASE_URL": "postgresql://a/x",
                             "IVR_APP_DATABASE_URL": "postgresql://b/y"})
    assert cfg.database.url == "postgresql://b/y"


def test_bad_environment_value_is_named(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(None, {"IVR_APP_OUTBOUND_PORT": "eighty", "DATABASE_URL": "mysql://x"})
    assert info.value.problems == [
        "environment DATABASE_URL: database.url: must be a PostgreSQL URL: "
        "postgresql://user:password@host:port/dbname",
        "environment IVR_APP_OUTBOUND_PORT: outbound.port: must be an integer 0-65535",
    ]


def test_config_is_immutable():
    cfg = config.load(None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.esl.port = 1  # type: ignore[misc]


def test_describe_masks_secrets():
    cfg = config.load(None, {"IVR_APP_ESL_PASSWORD": "hunter2",
                             "DATABASE_URL": "postgresql://ivr:dbpass@db1:5432/ivr"})
    text = "\n".join(config.describe(cfg))
    assert "hunter2" not in text
    assert "dbpass" not in text
    assert "esl.password = ***" in text
    assert "database.url = 'postgresql://ivr:***@db1:5432/ivr'" in text


def test_empty_file_means_defaults(tmp_path):
    cfg = config.load(write(tmp_path, ""), {})
    assert cfg == dataclasses.replace(config.load(None, {}), source=cfg.source)
    assert cfg.source == str(tmp_path / "ivr-app.yaml")


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    for key, _default, env, _doc in config.defaults_reference():
        assert f"`{key}`" in readme, f"{key} missing from the README's configuration table"
        assert f"`{env}`" in readme, f"{env} missing from the README"

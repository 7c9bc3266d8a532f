"""Loading employees, devices and customers from YAML into PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr_app import yamlfile
from ivr_app.cli import cli
from ivr_app.db import directory
from ivr_app.errors import ConfigError
from ivr_app.pin import verify_pin

DEMO = Path(__file__).resolve().parents[1] / "config" / "demo-data.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        directory.parse(yamlfile.loads(text, "people.yaml"))
    return info.value.problems


def test_demo_data_loads_and_is_idempotent(db):
    data = directory.load_file(DEMO)
    first = directory.store(db, data)
    second = directory.store(db, data)
    assert first == second
    counts = db.execute(
        "SELECT (SELECT count(*) FROM employees), (SELECT count(*) FROM employee_devices), "
        "(SELECT count(*) FROM customers), (SELECT count(*) FROM customer_phone_numbers), "
        "(SELECT count(*) FROM presence)"
    ).fetchone()
    assert counts == (first.employees, first.devices, first.customers, first.phones,
                      first.employees)


def test_relations_are_stored(db):
    directory.store(db, directory.load_file(DEMO))
    row = db.execute(
        """SELECT c.name, c.vip, c.language, m.extension, boss.extension
           FROM customer_phone_numbers n JOIN customers c ON c.id = n.customer_id
           JOIN employees m ON m.id = c.account_manager_id
           LEFT JOIN employees boss ON boss.id = m.manager_id
           WHERE n.number = '+79031234567'"""
    ).fetchone()
    assert row == ("Ivan Kuznetsov", True, "ru", "1001", "1000")


def test_pins_are_stored_hashed(db):
    directory.store(db, directory.load_file(DEMO))
    (stored,) = db.execute("SELECT pin_hash FROM employees WHERE extension = '1001'").fetchone()
    assert "4321" not in stored
    assert stored.startswith("scrypt$")
    assert verify_pin("4321", stored)
    assert not verify_pin("4322", stored)


def test_errors_name_line_and_key():
    got = problems(
        "employees:\n"
        "  - extension: 1001\n"          # unquoted
        "    name: A\n"
        "  - extension: '1002'\n"
        "    name: B\n"
        "    manager: '1999'\n"
        "    devices:\n"
        "      - {kind: pager, destination: 'x'}\n"
        "customers:\n"
        "  - name: C\n"
        "    phones: ['84951234567']\n"
    )
    assert got == [
        "people.yaml:2: employees[0].extension: must be 2-8 digits, quoted (quote it in YAML)",
        "people.yaml:8: employees[1].devices[0].kind: must be one of: desk, mobile, home, other",
        "people.yaml:8: employees[1].devices[0].destination: must be an extension (1001 or "
        "user/1001), an E.164 number (+447700900123) or sofia/gateway/<gateway>/<E.164 "
        "number>, not 'x'",
        "people.yaml:11: customers[0].phones[0]: must be an E.164 number such as +74951234567, "
        "quoted",
    ]


def test_cross_references_are_checked():
    got = problems(
        "employees:\n"
        "  - {extension: '1001', name: A, manager: '1999'}\n"
        "customers:\n"
        "  - {name: C, account_manager: '1002', phones: ['+74951234567']}\n"
        "  - {name: D, phones: ['+74951234567']}\n"
    )
    assert got == [
        "people.yaml:2: employees[0].manager: no employee with extension 1999",
        "people.yaml:4: customers[0].account_manager: no employee with extension 1002",
        "people.yaml:5: customers[1].phones[0]: +74951234567 belongs to two customers",
    ]


def test_cli_load(database_url, db):
    res = CliRunner().invoke(cli, ["db", "load", str(DEMO)], env={"DATABASE_URL": database_url})
    assert res.exit_code == 0, res.output
    assert "loaded 3 employees (7 devices), 3 customers (4 numbers)" in res.output
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (3,)


def test_rules_load_and_replace_the_stored_ones(db, tmp_path):
    from ivr_app.db import presence as presence_db
    from ivr_app.presence.model import Action, DeviceKind, State

    directory.store(db, directory.load_file(DEMO))
    anna = presence_db.load_profile(db, "1001")
    assert [(r.state, r.action, r.priority, r.devices) for r in anna.rules] == [
        (State.MEETING, Action.RING, 10, (DeviceKind.MOBILE,)),
        (State.MEETING, Action.VOICEMAIL, 20, ()),
        (State.AWAY, Action.RING, 30, (DeviceKind.MOBILE, DeviceKind.HOME))]
    assert anna.rules[0].caller.manager
    assert anna.rules[0].caller.vip
    assert str(anna.rules[2].active_from) == "08:00:00"
    f = tmp_path / "d.yaml"
    f.write_text('employees:\n  - {extension: "1001", name: Anna, rules: []}\n')
    directory.store(db, directory.load_file(f))
    assert presence_db.load_profile(db, "1001").rules == ()


def test_bad_rules_are_named_by_line(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text('employees:\n'
                 '  - extension: "1001"\n'
                 '    name: Anna\n'
                 '    rules:\n'
                 '      - {state: lunch, action: ring}\n'
                 '      - {state: away, action: forward}\n'
                 '      - {state: away, action: ring, callers: [boss], from: "8:00"}\n')
    with pytest.raises(ConfigError) as info:
        directory.load_file(f)
    text = "\n".join(info.value.problems)
    assert f"{f}:5:" in text
    assert "must be one of: available" in text
    assert "a forward rule needs forward_to" in text
    assert "must be any, manager, vip or an E.164 number" in text
    assert "a time window needs both from and to" in text


@pytest.mark.parametrize("dest", [
    "loopback/1002/default",  # a leg in the caller's context, no confirm key (freeswitch/)
    "sofia/internal/1002@127.0.0.1",
    "error/USER_BUSY",
    "user/1002,user/1003",  # a second leg
    "sofia/gateway/pstn/19005550100",  # a gateway leg whose number is not E.164
    "9005550100",
])
def test_a_device_that_is_no_destination_is_refused_at_load(dest):
    got = problems("employees:\n"
                   "  - extension: '1002'\n"
                   "    name: B\n"
                   "    devices:\n"
                   f"      - {{kind: mobile, destination: '{dest}'}}\n")
    assert len(got) == 1
    assert got[0].startswith("people.yaml:5: employees[0].devices[0].destination: must be ")

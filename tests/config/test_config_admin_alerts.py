"""`notifications.admin_alerts`: validated with file:line, and shown by `oncall check`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from oncall.cli import app
from oncall.config.loader import check

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
CONFIG = """\
desks:
  - {id: pacific, timezone: America/Los_Angeles, hours: {mon-fri: "07:00-17:00"}}
rules:
  - {name: everything, page: true, escalation_policy: after-hours}
people:
  - {id: alice, name: Alice, timezone: America/Los_Angeles, phone: "+14155550101"}
  - {id: bob, name: Bob, timezone: America/Los_Angeles, phone: "+14155550102",
     email: bob@example.test, contact_methods: [voice, sms]}
schedules:
  - id: primary
    timezone: America/Los_Angeles
    layers: [{participants: [alice], shift: 1w, start_date: "2026-01-05"}]
escalation_policies:
  - {id: after-hours, steps: [{targets: [{schedule: primary}]}]}
notifications:
  admins: [alice, bob]
  admin_alerts:
    ENTRY
"""
ENTRY_LINE = CONFIG.splitlines().index("    ENTRY") + 1


@dataclass(frozen=True)
class Case:
    entry: str
    expected: list[str]


CASES = [
    pytest.param(Case("nobody: {warning: [sms]}", ["error: admin_alerts: unknown person 'nobody'"]),
                 id="unknown-person"),
    pytest.param(Case("alice: {warning: [email]}",
                      ["error: admin_alerts: 'alice' gets warning alerts by email but has no email"]),
                 id="channel-without-an-address"),
    pytest.param(Case("alice: {critical: [sms, pager]}",
                      ["error: notifications.admin_alerts.alice.critical.1: Input should be 'sms', 'voice', "
                       "'email' or 'chat'"]),
                 id="unknown-channel"),
    pytest.param(Case("bob: {warning: email, critical: [sms, voice]}", []), id="good"),
]


@pytest.mark.parametrize("case", CASES)
def test_admin_alerts_are_checked_with_file_and_line(tmp_path: Path, case: Case) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("ENTRY", case.entry))
    _snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    assert [f"{path}:{ENTRY_LINE}: {text}" for text in case.expected] == [str(i) for i in issues]


def test_admin_alerts_for_someone_who_is_no_admin_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("admins: [alice, bob]", "admins: [alice]").replace("ENTRY", "bob: {warning: [sms]}"))
    snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    assert snapshot is not None
    assert [f"{path}:{ENTRY_LINE}: warning: admin_alerts: 'bob' is not in admins, so this has no effect"] == [
        str(i) for i in issues]


def test_check_shows_how_each_admin_is_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")  # no STOP warnings
    (tmp_path / "oncall.yaml").write_text(CONFIG.replace("ENTRY", "bob: {warning: email}"))
    result = CliRunner().invoke(app, ["--config", str(tmp_path), "check"])
    assert 0 == result.exit_code, result.output
    assert ["admin alerts for alice: warning by sms; critical by sms else voice",
            "admin alerts for bob: warning by email; critical by voice else sms"] == result.stdout.splitlines()[1:]

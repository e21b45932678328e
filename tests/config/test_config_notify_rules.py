"""People's `notify` rules and a policy's `ack_timeout`: validated with file:line, shown by
`oncall check` (each person's chain) and `oncall explain` (who gets what, when; the timeout)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from oncall.cli import app
from oncall.config.loader import check

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=LA)
CONFIG = """\
desks:
  - {id: pacific, timezone: America/Los_Angeles, hours: {mon-fri: "07:00-17:00"}}
rules:
  - {name: everything, page: true, escalation_policy: after-hours}
people:
  - id: alice
    name: Alice
    timezone: America/Los_Angeles
    phone: "+14155550101"
    notify:
      ENTRY
  - {id: bob, name: Bob, timezone: America/Los_Angeles, phone: "+14155550102"}
schedules:
  - id: primary
    timezone: America/Los_Angeles
    layers: [{participants: [alice], shift: 1w, start_date: "2026-01-05"}]
escalation_policies:
  - {id: after-hours, ack_timeout: 30m, steps: [{targets: [{schedule: primary}], delay: 10m}]}
notifications:
  admins: [bob]
"""
ENTRY_LINE = CONFIG.splitlines().index("      ENTRY") + 1
GOOD = "[{via: sms, after: 0m}, {via: voice, after: 2m}, {via: voice, after: 5m, repeat: 3}]"


@dataclass(frozen=True)
class Case:
    entry: str
    expected: list[str]


CASES = [
    pytest.param(Case("[{via: pigeon}]", ["error: people[alice].notify.0.via: Input should be 'sms', 'voice'"]),
                 id="unknown-channel"),
    pytest.param(Case("[{via: voice, after: -2m}]",
                      ["error: people[alice].notify.0.after: must not be negative (got '-2m')"]),
                 id="negative-after"),
    pytest.param(Case("[{via: voice, after: 2m, repeat: -1}]",
                      ["error: people[alice].notify.0.repeat: repeat must be between 0 and 50 (got -1)"]),
                 id="negative-repeat"),
    pytest.param(Case("[{via: sms}, {via: email, after: 5m}]",
                      ["error: person 'alice' is notified via email but has no email"]),
                 id="a-channel-without-an-address"),
    pytest.param(Case("[{via: voice, repeat: 2}]",
                      ["error: people[alice]: notify: voice after 0s repeats but has no interval"]),
                 id="repeats-without-an-interval"),
    pytest.param(Case(GOOD, []), id="good"),
]


@pytest.mark.parametrize("case", CASES)
def test_notify_rules_are_checked_with_file_and_line(tmp_path: Path, case: Case) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG.replace("ENTRY", case.entry))
    _snapshot, issues = check(tmp_path, now=NOW, horizon=timedelta(days=7))
    found = [str(i) for i in issues]
    assert len(case.expected) == len(found), found
    for text, issue in zip(case.expected, found, strict=True):
        assert issue.startswith(f"{path}:"), issue
        assert text in issue, issue
    if case.expected and case.entry != "[{via: voice, repeat: 2}]":
        assert all(f"{path}:{ENTRY_LINE}:" in i for i in found), found


def test_check_shows_each_chain_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    (tmp_path / "oncall.yaml").write_text(CONFIG.replace("ENTRY", GOOD))
    result = CliRunner().invoke(app, ["--config", str(tmp_path), "check"])
    assert 0 == result.exit_code, result.output
    assert ("notify alice: sms at 0s, voice at 2m, voice at 5m, voice at 10m, voice at 15m, voice at 20m"
            in result.stdout.splitlines())


def test_explain_says_who_gets_what_when_and_the_ack_timeout(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "oncall.yaml").write_text(CONFIG.replace("ENTRY", "[{via: sms}, {via: voice, after: 2m}]"))
    ticket = tmp_path / "ticket.json"
    ticket.write_text(json.dumps({"id": "T-1", "source": "generic", "subject": "Down", "priority": "urgent",
                                  "status": "new", "created_at": "2026-11-28T03:00:00-08:00"}))
    result = CliRunner().invoke(app, ["--config", str(conf), "explain", str(ticket), "--json"])
    assert 0 == result.exit_code, result.output
    out = json.loads(result.stdout)
    assert [("alice", "sms", "2026-11-28T03:00:00-08:00"), ("alice", "voice", "2026-11-28T03:02:00-08:00")] == [
        (p["person"], p["channel"], p["at"]) for p in out["would_page"]]
    assert "30m" == out["ack_timeout"]
    text = CliRunner().invoke(app, ["--config", str(conf), "explain", str(ticket)]).stdout.splitlines()
    assert "  would page now: alice by sms to +1******0101, at 2026-11-28T03:00:00-08:00" in text
    assert ("  then, until somebody acknowledges: alice by voice to +1******0101, at 2026-11-28T03:02:00-08:00"
            in text)
    assert ("  policy after-hours: an acknowledgement times out after 30m (triggered again, the "
            "acknowledger paged first, unless resolved or the ticket is solved)") in text

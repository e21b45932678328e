"""`oncall explain` says who a paging ticket would reach now, how, and when the next step fires."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app

ROOT = Path(__file__).resolve().parents[2]
PACIFIC = ROOT / "examples" / "weekday-pacific"
runner = CliRunner()
TICKET = {
    "id": "T-1001", "source": "generic", "subject": "Production down", "priority": "urgent",
    "status": "new", "created_at": "2026-11-28T03:00:00-08:00", "customer": "acme",
    "requester": "ops@acme.example", "environment": "production",
}
CONTRACT_KEYS = ("page", "reasons", "desk", "business_hours", "holiday", "entitled", "escalation_policy",
                 "respond_by", "next_business_open")


@pytest.fixture(autouse=True)
def no_service_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No overrides made on the web: the service's database does not exist."""
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def explain(tmp_path: Path, *args: str, config: Path = PACIFIC) -> dict[str, object]:
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(TICKET))
    result = runner.invoke(app, ["--config", str(config), "explain", str(path), "--json", *args])
    assert 0 == result.exit_code, result.output
    out: dict[str, object] = json.loads(result.stdout)
    return out


@dataclass(frozen=True)
class Case:
    at: str  # --at
    person: str
    channel: str
    to: str
    paged_at: str  # in the desk's zone
    next_step_at: str


# Alice, Bob and Carol (voice first) take weekly turns from Monday 09:00 in Los Angeles;
# step 1 of the policy waits 10 minutes.
CASES = [
    pytest.param(Case("2026-11-28T03:00:00-08:00", "bob", "sms", "+1******0102",
                      "2026-11-28T03:00:00-08:00", "2026-11-28T03:10:00-08:00"), id="saturday-night"),
    pytest.param(Case("2026-11-30T06:59:00-08:00", "bob", "sms", "+1******0102",
                      "2026-11-30T06:59:00-08:00", "2026-11-30T07:09:00-08:00"), id="monday-before-the-desk-opens"),
    pytest.param(Case("2026-11-30T17:00:00-08:00", "carol", "voice", "+1******0103",
                      "2026-11-30T17:00:00-08:00", "2026-11-30T17:10:00-08:00"), id="after-the-hand-off-voice-first"),
    pytest.param(Case("2026-11-01T01:55:00-07:00", "alice", "sms", "+1******0101",
                      "2026-11-01T01:55:00-07:00", "2026-11-01T01:05:00-08:00"),
                 id="the-delay-spans-the-fall-back-hour"),
    pytest.param(Case("2026-11-28T11:00:00Z", "bob", "sms", "+1******0102",
                      "2026-11-28T03:00:00-08:00", "2026-11-28T03:10:00-08:00"),
                 id="given-in-utc-shown-in-the-desk-zone"),
]


@pytest.mark.parametrize("case", CASES)
def test_json_says_who_would_be_paged_and_when_the_next_step_fires(tmp_path: Path, case: Case) -> None:
    out = explain(tmp_path, "--at", case.at)
    assert True is out["page"]
    assert [{"person": case.person, "channel": case.channel, "to": case.to, "at": case.paged_at}
            ] == out["would_page"]
    assert case.next_step_at == out["next_step_at"]
    assert set(CONTRACT_KEYS) <= set(out)


def test_text_says_it_after_the_reasons(tmp_path: Path) -> None:
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(TICKET))
    result = runner.invoke(app, ["--config", str(PACIFIC), "explain", str(path)])
    assert 0 == result.exit_code, result.output
    assert ["  would page now: bob by sms to +1******0102, at 2026-11-28T03:00:00-08:00",
            "  next step: 2026-11-28T03:10:00-08:00, if nobody acknowledges"] == result.stdout.splitlines()[-2:]


def test_a_ticket_that_does_not_page_pages_nobody(tmp_path: Path) -> None:
    out = explain(tmp_path, "--at", "2026-11-30T10:00:00-08:00")
    assert (False, [], None) == (out["page"], out["would_page"], out["next_step_at"])


UNREACHABLE = """\
people:
  - {id: erin, name: Erin, timezone: America/Los_Angeles, phone: "+14155550105", contact_methods: []}
  - {id: dana, name: Dana, timezone: America/Los_Angeles, phone: "+14155550104"}
schedules:
  - id: primary
    timezone: America/Los_Angeles
    layers: [{participants: [erin], shift: 1w, start_date: "2026-01-05"}]
escalation_policies:
  - {id: after-hours, steps: [{targets: [{schedule: primary}], delay: 10m}], repeat: forever}
notifications: {admins: [dana]}
"""


def test_nobody_reachable_is_said_plainly(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "desk.yaml").write_text((PACIFIC / "desk.yaml").read_text())
    (config / "oncall.yaml").write_text(UNREACHABLE)
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(TICKET))
    result = runner.invoke(app, ["--config", str(config), "explain", str(path)])
    assert 0 == result.exit_code, result.output
    assert ["  would page now: NOBODY",
            "    - round 1 step 1: no usable contact method",
            "    - round 1 step 1: targets resolve to nobody reachable",
            "  admins told: dana by sms to +1******0104",
            "  next step: 2026-11-28T03:05:00-08:00, if nobody acknowledges"] == result.stdout.splitlines()[-5:]

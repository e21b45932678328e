"""`oncall check` and `oncall explain`: contract keys, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()

TICKET = {
    "id": "T-1001", "source": "generic", "subject": "Production down", "priority": "urgent",
    "status": "new", "created_at": "2026-11-28T03:00:00-08:00", "customer": "acme",
    "requester": "ops@acme.example", "environment": "production",
}


def write_ticket(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps({**TICKET, **changes}))
    return path


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_check_passes_for_every_example(example: str) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLES / example), "check"])
    assert 0 == result.exit_code, result.output
    assert "OK" in result.output


def test_explain_json_has_the_contract_keys(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain",
                                 str(write_ticket(tmp_path)), "--json"])
    assert 0 == result.exit_code, result.output
    out = json.loads(result.stdout)
    for key in ("page", "reasons", "desk", "business_hours", "holiday", "entitled", "escalation_policy",
                "respond_by", "next_business_open"):
        assert key in out
    assert (True, "after-hours", "pacific", "2026-11-30T07:00:00-08:00") == (
        out["page"], out["escalation_policy"], out["desk"], out["next_business_open"])


def test_explain_at_overrides_created_at(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain",
                                 str(write_ticket(tmp_path)), "--at", "2026-11-30T10:00:00-08:00", "--json"])
    out = json.loads(result.stdout)
    assert (False, True) == (out["page"], out["business_hours"])


def test_explain_human_output_says_why(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain",
                                 str(write_ticket(tmp_path, customer="umbrella"))])
    assert 0 == result.exit_code
    assert "NO PAGE" in result.output and "expired 2026-06-30" in result.output


@pytest.mark.parametrize(("changes", "needle"), [
    ({"priority": True}, "priority"),
    ({"created_at": "2026-11-28T03:00:00"}, "created_at"),
])
def test_explain_bad_ticket_names_the_field(tmp_path: Path, changes: dict[str, object], needle: str) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain",
                                 str(write_ticket(tmp_path, **changes))])
    assert 2 == result.exit_code
    assert needle in result.output and "Traceback" not in result.output


def test_explain_missing_file_and_bad_at(tmp_path: Path) -> None:
    r1 = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain", str(tmp_path / "x.json")])
    r2 = runner.invoke(app, ["--config", str(EXAMPLES / "weekday-pacific"), "explain",
                             str(write_ticket(tmp_path)), "--at", "tomorrow"])
    assert (2, 2) == (r1.exit_code, r2.exit_code)
    assert "cannot read" in r1.output and "--at" in r2.output


def test_check_lists_errors_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(
        "desks:\n  - id: d\n    timezone: Nowhere/City\n    hours: {mon: '09:00-17:00'}\n")
    result = runner.invoke(app, ["--config", str(tmp_path), "check"])
    assert 1 == result.exit_code
    assert f"{tmp_path / 'desk.yaml'}:3: error: desks[d].timezone: unknown time zone 'Nowhere/City'" in result.output


def test_installed_console_script_reads_oncall_config_env(tmp_path: Path) -> None:
    """The real entry point, as an admin runs it; ONCALL_CONFIG picks the directory."""
    exe = Path(sys.executable).with_name("oncall")
    env = {"ONCALL_CONFIG": str(EXAMPLES / "utc-partner"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(exe), "check"], capture_output=True, text=True, env=env, timeout=60)
    assert 0 == done.returncode, done.stderr
    assert "utc-partner: OK" in done.stdout


def test_schema_is_json_schema_for_every_section() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert {"desks", "customers", "rules", "people", "schedules", "overrides", "escalation_policies",
            "entitlement", "response_targets"} <= set(schema["properties"])


def test_check_warns_about_people_who_texted_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from oncall.store.db import make_engine, upgrade
    from oncall.store.inbox import set_cursor

    url = f"sqlite:///{tmp_path / 'o.db'}"
    engine = make_engine(url)
    upgrade(engine)
    set_cursor(engine, "sms_blocked:erin", "1", datetime.now(UTC))
    set_cursor(engine, "sms_blocked:frank", "0", datetime.now(UTC))
    engine.dispose()
    monkeypatch.setenv("ONCALL_DATABASE_URL", url)
    result = runner.invoke(app, ["--config", str(EXAMPLES / "eastern-emergency"), "check"])
    assert 0 == result.exit_code, result.output
    assert "person 'erin' texted STOP" in result.output
    assert "frank" not in result.output


def test_check_without_a_database_yet_does_not_create_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    result = runner.invoke(app, ["--config", str(EXAMPLES / "eastern-emergency"), "check"])
    assert 0 == result.exit_code
    assert not (tmp_path / "none.db").exists()

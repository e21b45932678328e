"""`oncall explain` says how the ticket was read: unknown values and their fallback, and ids of
Zendesk event webhooks looked up (Zendesk API, value_maps, or unresolved)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app
from oncall.testing.fake_helpdesks import FakeZendesk
from oncall.testing.helpdesk_payloads import zendesk_event_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()
SATURDAY_NIGHT = datetime.fromisoformat("2026-11-28T03:00:00-08:00")
TICKET = {"id": "T-1001", "source": "generic", "subject": "Production down", "priority": "urgent",
          "status": 6, "created_at": "2026-11-28T03:00:00-08:00", "customer": "acme",
          "requester": "ops@acme.example", "environment": "production"}
CONTRACT = ("page", "reasons", "desk", "business_hours", "holiday", "entitled", "escalation_policy",
            "respond_by", "next_business_open")


def config(tmp_path: Path, sources_yaml: str = "") -> Path:
    directory = tmp_path / "config"
    shutil.copytree(EXAMPLES / "weekday-pacific", directory)
    if sources_yaml:
        (directory / "sources.yaml").write_text(sources_yaml)
    return directory


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(data)
    return path


def test_explain_names_a_custom_status_and_its_fallback(tmp_path: Path) -> None:
    ticket = write(tmp_path, json.dumps(TICKET).encode())
    result = runner.invoke(app, ["--config", str(config(tmp_path)), "explain", str(ticket)])
    assert 0 == result.exit_code, result.output
    assert "status '6' is not a known status; treated as open (add value_maps.status to map it)" in result.output
    assert "PAGE through after-hours" in result.output


def test_explain_json_keeps_the_contract_and_adds_unmapped(tmp_path: Path) -> None:
    ticket = write(tmp_path, json.dumps(TICKET).encode())
    result = runner.invoke(app, ["--config", str(config(tmp_path)), "explain", str(ticket), "--json"])
    out = json.loads(result.stdout)
    assert all(key in out for key in CONTRACT)
    assert {"status": {"value": "6", "treated_as": "open"}} == out["unmapped"]
    assert out["reasons"][0].startswith("status '6' is not a known status")


def test_explain_zendesk_event_with_value_maps(tmp_path: Path) -> None:
    body = write(tmp_path, zendesk_event_body(at=SATURDAY_NIGHT, requester_id=None))
    directory = config(tmp_path, 'sources:\n  - id: zendesk\n    value_maps:\n      customer: {"360001": acme}\n')
    result = runner.invoke(app, ["--config", str(directory), "explain", str(body), "--source", "zendesk", "--json"])
    assert 0 == result.exit_code, result.output
    out = json.loads(result.stdout)
    assert "organization 360001 resolved via value_maps.customer → acme" == out["reasons"][0]
    assert [{"what": "organization", "id": "360001", "via": "value_maps.customer", "value": "acme",
             "reason": None}] == out["lookups"]


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.add_organization(360001, "Acme", tags=("cust_acme",))
        fake.add_user(601, "ops@acme.example")
        yield fake


def test_explain_zendesk_event_through_the_api(tmp_path: Path, zendesk: FakeZendesk,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in (("BASE_URL", zendesk.url), ("EMAIL", zendesk.email), ("API_TOKEN", zendesk.api_token)):
        monkeypatch.setenv(f"ONCALL_SOURCES__ZENDESK__{key}", value)
    body = write(tmp_path, zendesk_event_body(at=SATURDAY_NIGHT, tags=["env_prod"]))
    directory = config(tmp_path, "sources:\n  - id: zendesk\n    customer_from: organization_tag:cust_\n"
                                 "    environment_from: tag:env_\n")
    result = runner.invoke(app, ["--config", str(directory), "explain", str(body), "--source", "zendesk"])
    assert 0 == result.exit_code, result.output
    assert "organization 360001 resolved via Zendesk API → Acme" in result.output
    assert "requester 601 resolved via Zendesk API → ops@acme.example" in result.output
    assert "PAGE through after-hours" in result.output


def test_explain_zendesk_event_without_names_says_unresolved(tmp_path: Path) -> None:
    body = write(tmp_path, zendesk_event_body(at=SATURDAY_NIGHT))
    result = runner.invoke(app, ["--config", str(config(tmp_path)), "explain", str(body), "--source", "zendesk"])
    assert 0 == result.exit_code, result.output
    assert ("organization 360001 unresolved (no Zendesk API credentials configured; add value_maps.customer "
            "to map the id)") in result.output
    assert "NO PAGE" in result.output


def test_explain_an_event_the_daemon_ignores_says_so(tmp_path: Path) -> None:
    body = write(tmp_path, zendesk_event_body("ticket.comment_added", at=SATURDAY_NIGHT))
    result = runner.invoke(app, ["--config", str(config(tmp_path)), "explain", str(body), "--source", "zendesk"])
    assert 1 == result.exit_code
    assert "stores nothing" in result.output and "Traceback" not in result.output


def test_check_refuses_a_value_maps_target_oncall_does_not_know(tmp_path: Path) -> None:
    directory = config(tmp_path, 'sources:\n  - id: freshdesk\n    value_maps:\n      status: {"6": parked}\n')
    result = runner.invoke(app, ["--config", str(directory), "check"])
    assert 1 == result.exit_code
    assert "sources.yaml:" in result.output and "'6' maps to 'parked'" in result.output

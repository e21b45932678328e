"""`oncall test-page PERSON [--voice]` through the real twilio library and the fake Twilio."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eastern-emergency"
runner = CliRunner()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTwilio:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as server:
        monkeypatch.setenv("ONCALL_TWILIO__ACCOUNT_SID", ACCOUNT_SID)
        monkeypatch.setenv("ONCALL_TWILIO__AUTH_TOKEN", AUTH_TOKEN)
        monkeypatch.setenv("ONCALL_TWILIO__FROM_NUMBER", FROM_NUMBER)
        monkeypatch.setenv("ONCALL_TWILIO__API_BASE_URL", server.base_url)
        monkeypatch.setenv("ONCALL_PUBLIC_URL", "http://127.0.0.1:9")
        yield server


def test_test_page_sends_an_sms_and_a_call_and_says_what_twilio_said(fake: FakeTwilio) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLE), "test-page", "erin", "--voice"])
    assert 0 == result.exit_code, result.output
    assert ["+12025550143"] == [m.to for m in fake.messages]
    assert ["+12025550143"] == [c.to for c in fake.calls]
    assert "queued" in result.output and "+1******0143" in result.output
    assert "+12025550143" not in result.output


def test_test_page_reports_a_refusal(fake: FakeTwilio) -> None:
    fake.fail_number("+12025550143", status=400, code=21610)
    result = runner.invoke(app, ["--config", str(EXAMPLE), "test-page", "erin"])
    assert "21610" in result.output


def test_test_page_unknown_person(fake: FakeTwilio) -> None:
    result = runner.invoke(app, ["--config", str(EXAMPLE), "test-page", "nobody"])
    assert 2 == result.exit_code and "unknown person 'nobody'" in result.output

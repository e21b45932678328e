"""`oncall send-ticket` signs exactly as each source's webhook verifies, against a real HTTP server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from typer.testing import CliRunner

from oncall.cli import app
from oncall.sources.settings import SourceSettings
from oncall.sources.web import ticket_routes
from oncall.testing.fake_helpdesk_store import MemorySink
from oncall.testing.twilio_doubles import serve

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def intake() -> Iterator[tuple[str, MemorySink]]:
    sink = MemorySink()
    settings = {"generic": SourceSettings(secret=SecretStr("g-secret")),
                "zendesk": SourceSettings(secret=SecretStr("z-secret"))}
    web = Starlette(routes=ticket_routes(sink, settings, {}, clock=lambda: datetime.now(UTC)))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    with serve(web, sock) as url:
        yield url, sink


def test_generic_ticket_is_signed_and_accepted(intake: tuple[str, MemorySink], monkeypatch: pytest.MonkeyPatch) -> None:
    url, sink = intake
    monkeypatch.setenv("ONCALL_SOURCES__GENERIC__SECRET", "g-secret")
    result = runner.invoke(app, ["--config", str(ROOT / "schedules"), "send-ticket",
                                 str(ROOT / "examples" / "demo-ticket.json"), "--url", url])
    assert 0 == result.exit_code, result.output
    assert result.stdout.splitlines()[-1].startswith("202 ")
    assert ["DEMO-1"] == [a.ticket.id for a in sink.accepted]


def test_zendesk_body_is_signed_with_a_fresh_timestamp(intake: tuple[str, MemorySink], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, sink = intake
    monkeypatch.setenv("ONCALL_SOURCES__ZENDESK__SECRET", "z-secret")
    body = tmp_path / "zd.json"
    body.write_text(json.dumps({"ticket": {"id": "4711", "subject": "Down", "priority": "urgent", "status": "new",
                                           "created_at": "2026-11-25T03:00:00Z", "requester": "ops@acme.example"}}))
    result = runner.invoke(app, ["--config", str(ROOT / "schedules"), "send-ticket", str(body),
                                 "--source", "zendesk", "--url", url])
    assert 0 == result.exit_code, result.output
    assert ["4711"] == [a.ticket.id for a in sink.accepted]


def test_wrong_secret_is_refused_and_exit_is_non_zero(intake: tuple[str, MemorySink],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url, sink = intake
    monkeypatch.setenv("ONCALL_SOURCES__GENERIC__SECRET", "not-the-secret")
    result = runner.invoke(app, ["--config", str(ROOT / "schedules"), "send-ticket",
                                 str(ROOT / "examples" / "demo-ticket.json"), "--url", url])
    assert 1 == result.exit_code and result.stdout.splitlines()[-1].startswith("401 ")
    assert [] == sink.accepted


def test_no_secret_configured_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["--config", str(ROOT / "schedules"), "send-ticket",
                                 str(ROOT / "examples" / "demo-ticket.json"), "--url", "http://127.0.0.1:9"])
    assert 2 == result.exit_code and "ONCALL_SOURCES__GENERIC__SECRET" in result.output


def test_daemon_not_running_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_SOURCES__GENERIC__SECRET", "g-secret")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, ["--config", str(ROOT / "schedules"), "send-ticket",
                                 str(ROOT / "examples" / "demo-ticket.json"), "--url", f"http://127.0.0.1:{port}"])
    assert 2 == result.exit_code and "cannot reach the daemon" in result.output
    assert "Traceback" not in result.output

"""`oncall check` judges chat addresses against the settings: a room naming a webhook that is not
configured is an error at its file and line (a warning when no webhook is configured at all, as
where the check runs without the service's secrets); a URL there is refused without being echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import configs
from typer.testing import CliRunner

from oncall.cli import app

runner = CliRunner()

ROOMS = configs.PEOPLE.replace("schedules:", """\
  - id: support-room
    name: "#support on Slack"
    timezone: America/New_York
    addresses: {chat: support}
    contact_methods: [chat]
  - id: ops-room
    name: Ops on Teams
    timezone: America/New_York
    addresses: {chat: ops_teams}
    contact_methods: [chat]
schedules:""", 1) + """\
escalation_policies:
  - id: emergency
    steps:
      - targets: [{schedule: emergency}, {person: support-room}, {person: ops-room}]
        delay: 10m
notifications:
  admins: [gina]
"""
RULES = configs.EAST_DESK + "rules:\n  - {name: everything, page: true, escalation_policy: emergency}\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "desk.yaml").write_text(RULES)
    (tmp_path / "oncall.yaml").write_text(ROOMS)
    return tmp_path


def webhook(monkeypatch: pytest.MonkeyPatch, name: str, kind: str) -> None:
    monkeypatch.setenv(f"ONCALL_CHAT__WEBHOOKS__{name.upper()}__URL", f"https://hooks.example/{name}/s3cr3t")
    monkeypatch.setenv(f"ONCALL_CHAT__WEBHOOKS__{name.upper()}__KIND", kind)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_rooms_naming_configured_webhooks_pass(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    webhook(monkeypatch, "support", "slack")
    webhook(monkeypatch, "ops_teams", "teams")
    result = runner.invoke(app, ["--config", str(config), "check"])
    assert 0 == result.exit_code, result.output
    assert "OK" in result.output and "chat" not in result.output


def test_a_room_naming_an_unknown_webhook_is_an_error_at_its_line(config: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    webhook(monkeypatch, "support", "slack")
    result = runner.invoke(app, ["--config", str(config), "check"])
    assert 1 == result.exit_code
    where = f"{config / 'oncall.yaml'}:{line_of(config / 'oncall.yaml', '{chat: ops_teams}')}"
    assert (f"{where}: error: person 'ops-room': chat webhook 'ops_teams' is not configured (known: support)"
            in result.output)


def test_without_any_webhook_it_is_a_warning(config: Path) -> None:
    result = runner.invoke(app, ["--config", str(config), "check"])
    assert 0 == result.exit_code, result.output
    assert "warning: person 'support-room': chat webhook 'support' is not configured here" in result.output


def test_a_webhook_url_in_the_configuration_is_refused_and_not_echoed(config: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    webhook(monkeypatch, "support", "slack")
    webhook(monkeypatch, "ops_teams", "teams")
    yaml = config / "oncall.yaml"
    yaml.write_text(yaml.read_text().replace("{chat: support}", '{chat: "https://hooks.slack.com/services/T/B/s3cr3t"}'))
    result = runner.invoke(app, ["--config", str(config), "check"])
    assert 1 == result.exit_code
    assert "belongs in ONCALL_CHAT__WEBHOOKS__<NAME>__URL" in result.output and "s3cr3t" not in result.output

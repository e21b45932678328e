"""Settings: oncall.toml in the configuration directory, overridden by ONCALL_* variables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncall.cli import app
from oncall.config.settings import load_settings
from oncall.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "weekday-pacific"


def config_dir(tmp_path: Path, toml: str) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(EXAMPLE, target)
    (target / "oncall.toml").write_text(toml)
    return target


def test_toml_values_and_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = config_dir(tmp_path, 'listen = "127.0.0.1:9000"\npublic_url = "https://toml.example"\n'
                                     '[twilio]\naccount_sid = "AC' + "1" * 32 + '"\n')
    monkeypatch.setenv("ONCALL_PUBLIC_URL", "https://env.example")
    monkeypatch.setenv("ONCALL_TWILIO__AUTH_TOKEN", "tok-from-env")
    s = load_settings(directory)
    assert ("127.0.0.1:9000", "https://env.example", "AC" + "1" * 32) == (
        s.listen, s.public_url, s.twilio.account_sid)
    assert s.twilio.auth_token is not None and "tok-from-env" == s.twilio.auth_token.get_secret_value()
    assert "tok-from-env" not in repr(s) and "tok-from-env" not in str(s)


def test_nested_source_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_SOURCES__ZENDESK__SECRET", "zsecret")
    s = load_settings(EXAMPLE)
    assert "zsecret" == s.sources["zendesk"].secret.get_secret_value()  # type: ignore[union-attr]


def test_bad_setting_names_the_file_and_the_variable(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, 'listen = "everywhere"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(directory)
    text = str(info.value)
    assert "oncall.toml" in text and "ONCALL_LISTEN" in text and "host:port" in text


def test_broken_toml_is_a_clear_cli_error(tmp_path: Path) -> None:
    directory = config_dir(tmp_path, "listen = [unclosed\n")
    result = CliRunner().invoke(app, ["--config", str(directory), "check"])
    assert 2 == result.exit_code
    assert "oncall.toml" in result.output and "Traceback" not in result.output

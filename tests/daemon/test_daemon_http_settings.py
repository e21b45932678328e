"""The HTTP server's bounds as settings: defaults, the environment, refusals naming the
variable, and ``max_connections`` fitted under the process's open-file limit."""

from __future__ import annotations

import resource
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from oncall.config.settings import load_settings
from oncall.errors import ConfigError
from oncall.web.server import RESERVED_DESCRIPTORS, guarded_protocol


def test_defaults(tmp_path: Path) -> None:
    http = load_settings(tmp_path).http
    assert (timedelta(seconds=10), timedelta(seconds=5), 900) == (
        http.request_timeout, http.keep_alive_timeout, http.max_connections)


def test_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_HTTP__REQUEST_TIMEOUT", "0.5s")
    monkeypatch.setenv("ONCALL_HTTP__KEEP_ALIVE_TIMEOUT", "2s")
    monkeypatch.setenv("ONCALL_HTTP__MAX_CONNECTIONS", "50")
    protocol = guarded_protocol(load_settings(tmp_path).http)
    assert (0.5, 2.0, 50) == (protocol.request_timeout, protocol.keep_alive_timeout, protocol.max_connections)


def test_from_oncall_toml(tmp_path: Path) -> None:
    (tmp_path / "oncall.toml").write_text('[http]\nrequest_timeout = "30s"\nmax_connections = 200\n')
    http = load_settings(tmp_path).http
    assert (timedelta(seconds=30), 200) == (http.request_timeout, http.max_connections)


@pytest.mark.parametrize(("name", "value"), [("REQUEST_TIMEOUT", "0s"), ("KEEP_ALIVE_TIMEOUT", "2h"),
                                             ("REQUEST_TIMEOUT", "soon"), ("MAX_CONNECTIONS", "0")])
def test_bad_values_are_refused_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                    value: str) -> None:
    monkeypatch.setenv(f"ONCALL_HTTP__{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert f"ONCALL_HTTP__{name}" in str(caught.value)


def _budget_under(soft: int, hard: int, wanted: int) -> str:
    """connection_budget(wanted) in a child process whose open-file limit is (soft, hard)."""
    code = ("from oncall.web.server import connection_budget\n"
            f"allowed, warning = connection_budget({wanted})\n"
            "import resource\n"
            "print(allowed, resource.getrlimit(resource.RLIMIT_NOFILE)[0], warning or '', sep='|')\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run([sys.executable, "-c", code], preexec_fn=limit, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def test_max_connections_fits_when_the_soft_limit_can_be_raised() -> None:
    assert f"300|{300 + RESERVED_DESCRIPTORS}|" == _budget_under(200, 1000, 300)


def test_max_connections_is_lowered_with_a_warning_under_a_hard_limit() -> None:
    allowed, soft, warning = _budget_under(256, 256, 900).split("|")
    assert ("156", "256") == (allowed, soft)
    assert warning.startswith("http.max_connections 900 lowered to 156: the open-file limit is 256")

"""systemd/oncall.service: the directives an administrator relies on, verify clean, rated OK or better.

``systemd-analyze`` needs no running systemd for ``verify`` and ``security --offline``;
CI installs the systemd package, so these run there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "oncall.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not on PATH (install the systemd package to run this)")

_OVERALL_RE = re.compile(r"Overall exposure level for (?P<unit>\S+): (?P<score>\d+\.\d+) (?P<word>[A-Z]+)")


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order; comments and blanks dropped."""
    section = ""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {raw!r}"
        out.append((section, key.strip(), value.strip()))
    return out


def values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in directives(UNIT.read_text()) if s == section and k == key]


def installed_unit(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at this checkout's real ``oncall`` script."""
    script = Path(sys.executable).parent / "oncall"
    if not script.is_file():
        pytest.fail(f"{script} does not exist: install the project into the venv (pip install -e .)")
    text = UNIT.read_text() if text is None else text
    text, n = re.subn(r"^ExecStart=\S+/oncall\b", f"ExecStart={script}", text, flags=re.M)
    assert 1 == n, "expected exactly one ExecStart= naming the oncall script"
    path = tmp_path / "oncall.service"
    path.write_text(text)
    return path


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    env = {**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    return subprocess.run([ANALYZE, "--no-pager", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def lines_about(unit: Path, output: str) -> list[str]:
    """Lines naming our unit; verify may also grumble about unrelated units on the host."""
    return [ln for ln in output.splitlines() if str(unit) in ln or unit.name in ln]


@pytest.mark.parametrize(("key", "expected"), [
    ("Type", "notify"),
    ("Restart", "on-failure"),
    ("DynamicUser", "yes"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("StateDirectory", "oncall"),
    ("ConfigurationDirectory", "oncall"),
])
def test_unit_sets(key: str, expected: str) -> None:
    assert [expected] == values(key)


@pytest.mark.parametrize("key", ["WatchdogSec", "EnvironmentFile", "RestrictAddressFamilies", "ExecStart"])
def test_unit_has_a_non_empty(key: str) -> None:
    [value] = values(key)
    assert value


def test_system_call_filter_allows_the_system_service_set() -> None:
    assert "@system-service" in values("SystemCallFilter")


def test_capability_bounding_set_is_empty() -> None:
    assert [""] == values("CapabilityBoundingSet")
    assert [""] == values("AmbientCapabilities")


def test_address_families_cover_notify_and_tcp_only() -> None:
    [families] = values("RestrictAddressFamilies")
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} == set(families.split())


def test_watchdog_is_long_enough_for_half_interval_pings() -> None:
    [watchdog] = values("WatchdogSec")
    m = re.fullmatch(r"(\d+)s?", watchdog)
    assert m, f"WatchdogSec={watchdog} is not plain seconds"
    assert 10 <= int(m.group(1)) <= 120


def test_secrets_file_is_optional_and_under_etc() -> None:
    [env_file] = values("EnvironmentFile")
    # '-' prefix: a missing file is not an error (console transport, no webhook secrets yet).
    assert env_file.startswith("-/etc/oncall/")


def test_exec_start_runs_the_daemon() -> None:
    [exec_start] = values("ExecStart")
    assert exec_start.split()[0].endswith("/oncall")
    assert exec_start.split()[-1] == "run"


def test_installed_into_multi_user() -> None:
    assert ["multi-user.target"] == values("WantedBy", section="Install")


@needs_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    unit = installed_unit(tmp_path)
    result = analyze("verify", str(unit), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert 0 == result.returncode, output
    assert [] == lines_about(unit, output), output


@needs_analyze
def test_verify_harness_reports_a_broken_unit(tmp_path: Path) -> None:
    """The clean result above means something: a typo and a missing binary are reported."""
    text = UNIT.read_text().replace("[Service]\n", "[Service]\nWatchdogSecs=30s\n", 1)
    unit = tmp_path / "oncall.service"
    unit.write_text(text)  # ExecStart still names /opt/oncall, which does not exist here
    result = analyze("verify", str(unit), cwd=tmp_path)
    about = lines_about(unit, result.stdout + result.stderr)
    assert any("WatchdogSecs" in ln for ln in about), about
    assert any("/opt/oncall/bin/oncall" in ln for ln in result.stderr.splitlines()), result.stderr


@needs_analyze
def test_systemd_analyze_security_rates_ok_or_better(tmp_path: Path) -> None:
    unit = installed_unit(tmp_path)
    result = analyze("security", "--offline=true", str(unit), cwd=tmp_path)
    output = result.stdout + result.stderr
    m = _OVERALL_RE.search(output)
    assert m, output
    assert "oncall.service" == m["unit"]
    assert m["word"] in {"OK", "SAFE", "PERFECT"}, m.group(0)
    assert float(m["score"]) <= 4.9, m.group(0)


@needs_analyze
def test_security_rating_notices_a_weakened_unit(tmp_path: Path) -> None:
    """The parser reads a real score: dropping the hardening makes it worse."""
    hardening = ("Protect", "Restrict", "Private", "DynamicUser=", "NoNewPrivileges=", "SystemCall",
                 "CapabilityBoundingSet=", "MemoryDenyWriteExecute=", "LockPersonality=")
    weak = "\n".join(ln for ln in UNIT.read_text().splitlines() if not ln.startswith(hardening))
    unit = installed_unit(tmp_path, weak + "\n")
    m = _OVERALL_RE.search(analyze("security", "--offline=true", str(unit), cwd=tmp_path).stdout)
    assert m
    assert float(m["score"]) > 4.9
    assert m["word"] not in {"OK", "SAFE", "PERFECT"}

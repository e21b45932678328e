"""Suite-wide settings: a non-UTC local zone so UTC assumptions show up."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

os.environ["TZ"] = "Europe/Berlin"
time.tzset()
# Tests must never pick up a developer's or CI's real credentials or configuration.
for _name in list(os.environ):
    if _name.startswith(("ONCALL_", "TWILIO_")) and _name != "ONCALL_TEST_POSTGRES_URL":
        del os.environ[_name]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus's ``promtool`` (Debian package ``prometheus``; ``.ci/run`` installs it).
    Skipped where it is missing, except under ``CI=true``, where that is a failure."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is not installed on CI (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found

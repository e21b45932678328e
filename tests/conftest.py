"""Suite-wide settings: a non-UTC local zone so UTC assumptions show up."""

from __future__ import annotations

import os
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

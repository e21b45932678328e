"""End-to-end fixtures: the real daemon process, a fake Twilio, a temporary configuration
(helpers live in e2e_process.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_process import API_TOKEN, CONFIG, ONCALL, SECRET, DaemonProcess, free_port

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as twilio:
        yield twilio


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    for name, text in CONFIG.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def daemon(tmp_path: Path, config_dir: Path, fake: FakeTwilio) -> Iterator[DaemonProcess]:
    assert ONCALL.exists(), f"the oncall console script is not installed next to {sys.executable}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "TWILIO_"))}
    env.update({
        "ONCALL_CONFIG": str(config_dir),
        "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path / 'oncall.db'}",
        "ONCALL_LISTEN": f"127.0.0.1:{port}",
        "ONCALL_PUBLIC_URL": url,
        "ONCALL_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
        "ONCALL_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
        "ONCALL_TWILIO__FROM_NUMBER": FROM_NUMBER,
        "ONCALL_TWILIO__API_BASE_URL": fake.base_url,
        "ONCALL_SOURCES__GENERIC__SECRET": SECRET,
        "ONCALL_API_TOKEN": API_TOKEN,
        "ONCALL_ENGINE_TICK_SECONDS": "0.5",
        "ONCALL_RELOAD_CHECK_SECONDS": "3600",  # SIGHUP is what reloads in these tests
        "ONCALL_HANDOFF_NOTICES": "false",  # keep the fake's counts to pages
    })
    proc = DaemonProcess(env=env, dir=tmp_path, url=url)
    yield proc
    proc.kill()

"""With ``ONCALL_LOG_FORMAT=json`` everything ``oncall run`` writes, on stdout and on stderr,
is one JSON object per line with timestamp, level and event, and no terminal escape codes:
the start-up facts, uvicorn's own records and errors, a warnings-module warning, a page, a
refused request, shutdown."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import DaemonProcess, ticket, wait_until

from oncall import __version__
from oncall.testing.fake_twilio import FakeTwilio

pytestmark = pytest.mark.e2e

ESCAPES = ("\x1b", "\\u001b", "\\x1b", "\x9b")
# Loaded by the daemon's interpreter (PYTHONPATH): a warnings-module warning when uvicorn binds
# its socket, i.e. after logging is configured, as a library's warning would come.
SITECUSTOMIZE = """\
import sys
import warnings

_warned = []


def _warn_once_on_bind(event, _args):
    if event == "socket.bind" and not _warned:
        _warned.append(True)
        warnings.warn("a library warning while oncall runs", UserWarning, stacklevel=2)


sys.addaudithook(_warn_once_on_bind)
"""


def json_lines(text: str, where: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{where} line {number} is not JSON: {line[:200]!r}") from None
        assert isinstance(record, dict), f"{where} line {number} is not an object: {line[:200]!r}"
        assert {"timestamp", "level", "event"} <= set(record), f"{where} line {number}: {line[:200]!r}"
        datetime.fromisoformat(record["timestamp"])
        records.append(record)
    return records


def send_garbage(url: str) -> None:
    """Not HTTP at all: uvicorn itself logs a warning about it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        try:
            conn.recv(1024)
        except OSError:
            pass


def test_every_line_on_stdout_and_stderr_is_a_json_record(daemon: DaemonProcess, fake: FakeTwilio,
                                                          config_dir: Path) -> None:
    rig = daemon.dir / "rig-site"
    rig.mkdir()
    (rig / "sitecustomize.py").write_text(SITECUSTOMIZE)
    # Development mode turns on every warning Python has (ResourceWarning…) and asyncio's debug logs.
    path = os.pathsep.join(p for p in (str(rig), daemon.env.get("PYTHONPATH", "")) if p)
    daemon.start(ONCALL_LOG_FORMAT="json", PYTHONDEVMODE="1", PYTHONWARNINGS="always", PYTHONPATH=path)
    assert 202 == daemon.post_ticket(ticket("T-1", "fast")).status_code
    fake.wait_for_messages(1, timeout=10)
    assert 200 == httpx.get(daemon.url + "/healthz", timeout=5).status_code
    assert 200 == httpx.get(daemon.url + "/metrics", timeout=5).status_code
    assert 404 == httpx.get(daemon.url + "/no-such-page", timeout=5).status_code
    assert 401 == daemon.post_ticket(ticket("T-2", "fast"), secret="wrong").status_code
    send_garbage(daemon.url)
    wait_until("uvicorn's warning", lambda: "uvicorn.error" in daemon.stderr and "HTTP" in daemon.stderr)
    assert 0 == daemon.stop()

    out = json_lines(daemon.stdout, "stdout")
    err = json_lines(daemon.stderr, "stderr")
    everything = daemon.stdout + daemon.stderr
    assert [] == [e for e in ESCAPES if e in everything]
    records = out + err
    events = [r["event"] for r in records]
    for expected in ("oncall started", "daemon.ready", "webhook.received", "webhook.signature_refused",
                     "daemon.stopped"):
        assert expected in events
    assert any(r.get("logger") == "uvicorn.error" for r in records)  # uvicorn's own records came through
    assert any(r.get("logger") == "uvicorn.error" and r["level"] == "warning" for r in records)
    warned = [r for r in records if r.get("logger") == "py.warnings"]  # once per process: web and worker
    assert 1 <= len(warned) <= 2
    assert all("UserWarning: a library warning while oncall runs" in w["event"] for w in warned)
    assert all("color_message" not in r for r in records)

    [started] = [r for r in records if r["event"] == "oncall started"]
    listen = daemon.env["ONCALL_LISTEN"]
    assert (f"http://{listen}", daemon.url, __version__, str(config_dir), ["generic"]) == (
        started["listen"], started["public_url"], started["version"], started["config_dir"], started["sources"])
    assert started["database"].startswith("sqlite:///") and started["database"].endswith("oncall.db")
    assert started["transport"].startswith("twilio")
    assert ["emergency"] == started["schedules"]
    assert "info" == started["level"]


def test_insecure_source_warning_is_in_the_started_event(daemon: DaemonProcess) -> None:
    daemon.env.pop("ONCALL_SOURCES__GENERIC__SECRET")
    daemon.start(ONCALL_LOG_FORMAT="json", ONCALL_SOURCES__GENERIC__INSECURE="true")
    assert 0 == daemon.stop()
    [started] = [r for r in json_lines(daemon.stderr, "stderr") if r["event"] == "oncall started"]
    [warning] = [w for w in started["warnings"] if "generic" in w]
    assert "UNAUTHENTICATED" in warning
    assert "" == daemon.stdout


def test_refusing_to_start_is_a_json_record_too(daemon: DaemonProcess, config_dir: Path) -> None:
    (config_dir / "oncall.yaml").write_text("people: [")
    daemon.start(ready=False, ONCALL_LOG_FORMAT="json")
    assert daemon.proc is not None
    assert 1 == daemon.proc.wait(30)
    assert "" == daemon.stdout
    [refused] = [r for r in json_lines(daemon.stderr, "stderr") if r["event"] == "oncall not started"]
    assert ("critical", True) == (refused["level"], "oncall.yaml" in refused["reason"])

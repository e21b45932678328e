"""``oncall run --role worker`` has no web process watching it; systemd's watchdog does. Its
keep-alives (``WATCHDOG=1``) go out only while its duties make progress: wedged in a database
call past ``ONCALL_WORKER_STALL_SECONDS``, the worker withholds them (and says so once in the
log), so systemd kills and restarts it; once it progresses again they
resume. Here the notify socket is ours and the wedge is an exclusive lock on its SQLite file."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_process import DaemonProcess, wait_until

STALL = 6  # ONCALL_WORKER_STALL_SECONDS: its floor


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield sock, path
    sock.close()


def received(sock: socket.socket, seconds: float) -> list[str]:
    """Every notify message that arrives within ``seconds``."""
    out: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return out


def test_a_wedged_worker_withholds_its_watchdog_keep_alives_until_it_progresses(
        daemon: DaemonProcess, notify: tuple[socket.socket, str]) -> None:
    sock, path = notify
    daemon.start(ONCALL_ROLE="worker", NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000",  # a keep-alive every 0.5 s
                 ONCALL_WORKER_STALL_SECONDS=str(STALL))
    assert "WATCHDOG=1" in received(sock, 2.0), "a working worker keeps systemd's watchdog fed"
    holder = sqlite3.connect(daemon.dir / "oncall.db", isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        stalled = wait_until("the worker to find itself stalled", lambda: next(
            (e for e in daemon.log_events() if e.get("event") == "worker.stalled"), None), timeout=STALL + 10)
        received(sock, 0.3)  # what was on its way before
        assert "WATCHDOG=1" not in received(sock, 2.0), "a stalled worker must let systemd's watchdog fire"
    finally:
        holder.rollback()
        holder.close()
    assert stalled["limit_seconds"] == STALL and stalled["silent_seconds"] >= STALL
    assert stalled["waiting_on"] in ("engine duty", "event loop"), stalled
    wait_until("the keep-alives to resume", lambda: "WATCHDOG=1" in received(sock, 1.0), timeout=20)
    assert 1 == [e.get("event") for e in daemon.log_events()].count("worker.stalled"), "said once per stall"

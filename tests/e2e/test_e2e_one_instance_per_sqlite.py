"""A second `oncall run` on the same SQLite file refuses to start, with one clear line."""

from __future__ import annotations

import signal
import subprocess

from e2e_process import ONCALL, DaemonProcess, free_port, ticket, wait_until


def test_a_second_instance_on_one_sqlite_file_refuses_and_the_first_keeps_paging(daemon: DaemonProcess) -> None:
    daemon.start()
    second = subprocess.run([str(ONCALL), "run"], env={**daemon.env, "ONCALL_LISTEN": f"127.0.0.1:{free_port()}",
                                                       "ONCALL_LOG_FORMAT": "console"},
                            capture_output=True, text=True, timeout=60)
    assert 1 == second.returncode
    [line] = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert daemon.proc is not None
    assert f"another oncall (pid {daemon.proc.pid}) is already running on {daemon.dir / 'oncall.db'}" in line
    assert "PostgreSQL" in line
    assert 202 == daemon.post_ticket(ticket("ONE-1")).status_code
    wait_until("the first instance to open the incident", lambda: daemon.incidents())


def test_the_lock_dies_with_its_process(daemon: DaemonProcess) -> None:
    """After a SIGKILL there is no stale lock: the next start comes up."""
    daemon.start()
    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None
    daemon.proc.wait(10)
    daemon.start()
    assert 202 == daemon.post_ticket(ticket("ONE-2")).status_code

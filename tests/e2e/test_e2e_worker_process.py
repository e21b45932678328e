"""``oncall run`` serves HTTP in its own process and works in a child it supervises: intake
answers while the worker is frozen, the page goes out once it thaws, and a worker that dies
is started again and pages."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest
from e2e_process import DaemonProcess, ticket, wait_until

from oncall.testing.fake_twilio import FakeTwilio

pytestmark = pytest.mark.e2e


def instance(daemon: DaemonProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(daemon.url + "/readyz", timeout=5.0).json()["instance"]
    return body


def worker_pid(daemon: DaemonProcess) -> int:
    pid = wait_until("the worker process", lambda: instance(daemon).get("worker", {}).get("pid"))
    return int(pid)


def test_intake_answers_while_the_worker_is_frozen_and_the_page_goes_out_when_it_thaws(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    assert daemon.proc is not None
    pid = worker_pid(daemon)
    assert pid != daemon.proc.pid
    assert "all" == instance(daemon)["role"]
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert 202 == daemon.post_ticket(ticket("FROZEN-1")).status_code
        answered = time.monotonic() - started
        assert answered < 2.0, answered  # the web process never waits for the worker
        with pytest.raises(TimeoutError):  # nobody pages while the worker is frozen
            fake.wait_for_messages(1, timeout=1.0)
    finally:
        os.kill(pid, signal.SIGCONT)
    [page] = fake.wait_for_messages(1, timeout=15)
    assert "Production down" in page.body


def test_a_worker_that_dies_is_started_again_and_paging_resumes(daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start()
    first = worker_pid(daemon)
    os.kill(first, signal.SIGKILL)
    second = int(wait_until("a new worker process", lambda: (p := instance(daemon).get("worker", {}).get("pid"))
                            and p != first and p, timeout=20))
    assert 1 <= instance(daemon)["worker"]["restarts"]
    assert 202 == daemon.post_ticket(ticket("AFTER-RESTART")).status_code
    fake.wait_for_messages(1, timeout=20)
    events = [e.get("event") for e in daemon.log_events()]
    assert "worker.exited" in events
    os.kill(second, 0)  # still alive


def test_sigterm_drains_the_worker_and_both_processes_exit(daemon: DaemonProcess) -> None:
    daemon.start()
    pid = worker_pid(daemon)
    assert 0 == daemon.stop(timeout=30)
    wait_until("the worker process to be gone", lambda: not _alive(pid), timeout=5)


def test_the_worker_dies_with_its_web_process(daemon: DaemonProcess) -> None:
    daemon.start()
    pid = worker_pid(daemon)
    daemon.signal(signal.SIGKILL)
    assert daemon.proc is not None
    daemon.proc.wait(10)
    wait_until("the orphaned worker to die", lambda: not _alive(pid), timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie until its new parent reaps it counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False

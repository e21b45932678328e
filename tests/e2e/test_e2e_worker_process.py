"""``oncall run`` serves HTTP in its own process and works in a child it supervises: intake
answers while the worker is frozen, the page goes out once it thaws, a worker that dies is
started again and pages, and one that stays stuck past ``ONCALL_WORKER_STALL_SECONDS`` is
killed and replaced — but not one merely waiting on a slow provider."""

from __future__ import annotations

import os
import signal
import sqlite3
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


def reporting_worker_pid(daemon: DaemonProcess) -> int:
    """The worker's pid once it has reported (before, it has a start-up grace of its own)."""
    def reported() -> dict[str, Any] | None:
        worker: dict[str, Any] = instance(daemon).get("worker", {})
        return worker if worker.get("last_report_seconds_ago") is not None else None

    worker = wait_until("the worker's first report", reported)
    return int(worker["pid"])


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


STALL = 6.0  # ONCALL_WORKER_STALL_SECONDS in these tests (its lowest allowed value)


def test_a_stopped_worker_is_killed_and_replaced_within_the_limit_and_paging_resumes(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    daemon.start(ONCALL_WORKER_STALL_SECONDS=str(STALL))
    first = reporting_worker_pid(daemon)
    os.kill(first, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        wait_until("/readyz to say not ready", lambda: httpx.get(daemon.url + "/readyz", timeout=5.0)
                   .status_code == 503, timeout=STALL + 2)
        second = int(wait_until("a new worker process", lambda: (p := instance(daemon).get("worker", {})
                                                                 .get("pid")) and p != first and p, timeout=STALL + 10))
        replaced = time.monotonic() - stopped
    finally:
        if _alive(first):
            os.kill(first, signal.SIGCONT)
    assert STALL <= replaced < STALL + 8, replaced
    assert not _alive(first)  # killed (SIGKILL works on a stopped process) and reaped
    daemon.wait_ready()  # the new worker reports
    assert 202 == daemon.post_ticket(ticket("AFTER-STALL")).status_code
    [page] = fake.wait_for_messages(1, timeout=15)
    assert "Production down" in page.body
    [stalled] = [e for e in daemon.log_events() if e.get("event") == "worker.stalled"]
    assert first == stalled["pid"]
    assert STALL <= stalled["silent_seconds"] < STALL + 2
    assert "no report" == stalled["waiting_on"]
    assert 1.0 == daemon.metric('oncall_worker_restarts_total{reason="stalled"}')
    worker = instance(daemon)["worker"]
    assert (second, 1, 1) == (worker["pid"], worker["stalls"], worker["restarts"])


def test_a_worker_waiting_on_a_slow_provider_is_not_taken_for_stuck(daemon: DaemonProcess,
                                                                    fake: FakeTwilio) -> None:
    """Two Twilio attempts that time out (5 s each) keep the engine in one run for longer than
    the limit; it renews its sending claims meanwhile, which is progress."""
    daemon.start(ONCALL_WORKER_STALL_SECONDS=str(STALL))
    first = reporting_worker_pid(daemon)
    fake.hold_seconds = 8.0  # past the client's 5 s timeout
    fake.fail_next(2, "timeout")
    asked = time.monotonic()
    assert 202 == daemon.post_ticket(ticket("SLOW-PROVIDER")).status_code
    wait_until("the page, by SMS or by a call", lambda: fake.messages or fake.calls, timeout=20)
    assert time.monotonic() - asked > STALL  # the provider really was slower than the limit
    assert first == instance(daemon)["worker"]["pid"]
    assert "worker.stalled" not in [e.get("event") for e in daemon.log_events()]
    assert 0.0 == daemon.metric('oncall_worker_restarts_total{reason="stalled"}')


def test_a_worker_wedged_in_a_database_call_is_replaced(daemon: DaemonProcess, fake: FakeTwilio) -> None:
    """The worker process lives, but its engine waits on a lock another process holds on the
    database: no statement completes, which is no progress."""
    daemon.start(ONCALL_WORKER_STALL_SECONDS=str(STALL))
    first = reporting_worker_pid(daemon)
    holder = sqlite3.connect(daemon.dir / "oncall.db", isolation_level=None, timeout=10)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        stalled = wait_until("the watchdog to find the worker stalled", lambda: next(
            (e for e in daemon.log_events() if e.get("event") == "worker.stalled"), None), timeout=STALL + 8)
    finally:
        holder.rollback()
        holder.close()
    assert first == stalled["pid"]
    assert stalled["waiting_on"] in ("engine duty", "no report"), stalled
    wait_until("a new worker process", lambda: (p := instance(daemon).get("worker", {}).get("pid")) and p != first,
               timeout=15)
    assert not _alive(first)
    assert 202 == daemon.post_ticket(ticket("AFTER-WEDGE")).status_code
    fake.wait_for_messages(1, timeout=15)


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

"""The worker watchdog: what counts as progress in the worker, when the web process calls it
stalled, and what it does then — on an injected monotonic clock, never waiting on it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_rig import MakeRig
from sqlalchemy import create_engine, text

from oncall.daemon.liveness import NO_REPORT, START_GRACE, Progress, Verdict, judge
from oncall.daemon.roles import Roles
from oncall.daemon.worker_process import CHECK_EVERY, STALLED, WorkerProcess
from oncall.interfaces import Channel

LIMIT = 10.0


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def progress(seconds_ago: float, waiting_on: str = "event loop") -> dict[str, Any]:
    return {"seconds_ago": seconds_ago, "waiting_on": waiting_on}


@pytest.mark.parametrize(("now", "since", "received", "body", "expected"), [
    pytest.param(100.0, 0.0, 99.5, progress(0.3), Verdict(seconds=0.8, what=NO_REPORT, stalled=False),
                 id="healthy: a fresh report of fresh progress"),
    pytest.param(100.0, 0.0, 89.0, progress(0.2), Verdict(seconds=11.2, what=NO_REPORT, stalled=True),
                 id="no report for longer than the limit: stopped, or its reports stuck"),
    pytest.param(100.0, 0.0, 99.8, progress(10.5, "engine duty"),
                 Verdict(seconds=10.7, what="engine duty", stalled=True),
                 id="reports keep coming but the engine has made no progress"),
    pytest.param(100.0, 0.0, 99.8, progress(10.5, "event loop"),
                 Verdict(seconds=10.7, what="event loop", stalled=True),
                 id="reports keep coming but the event loop does not turn"),
    pytest.param(100.0, 0.0, 99.8, progress(9.0, "engine duty"),
                 Verdict(seconds=9.2, what="engine duty", stalled=False),
                 id="quiet, within the limit"),
    pytest.param(100.0, 80.0, None, None, Verdict(seconds=20.0, what="no report since it started", stalled=False),
                 id="not reported yet, within the start-up grace"),
    pytest.param(100.0, 100.0 - START_GRACE - 1, None, None,
                 Verdict(seconds=START_GRACE + 1, what="no report since it started", stalled=True),
                 id="never reported, past the start-up grace"),
    pytest.param(100.0, 99.0, 40.0, progress(0.1), Verdict(seconds=1.0, what=NO_REPORT, stalled=False),
                 id="this process was frozen too: the reckoning starts when it resumed"),
    pytest.param(100.0, 0.0, 99.8, {"seconds_ago": "junk"}, Verdict(seconds=0.2, what=NO_REPORT, stalled=False),
                 id="a report without a readable progress counts as fresh"),
])
def test_judge(now: float, since: float, received: float | None, body: dict[str, Any] | None,
               expected: Verdict) -> None:
    verdict = judge(now, limit=LIMIT, since=since, received=received, progress=body)
    assert (expected.what, expected.stalled) == (verdict.what, verdict.stalled)
    assert expected.seconds == pytest.approx(verdict.seconds)


# ---- the worker's side: what counts as progress ----------------------------------------------

def test_an_idle_engine_with_its_loop_turning_is_never_quiet() -> None:
    clock = Clock()
    p = Progress(clock=clock)
    for _ in range(3600):
        clock.advance(1.0)
        p.loop_turned()
    assert (0.0, "event loop") == p.quiet()


def test_a_blocked_event_loop_is_quiet() -> None:
    clock = Clock()
    p = Progress(clock=clock)
    clock.advance(12.0)
    assert (12.0, "event loop") == p.quiet()


def test_a_long_engine_run_that_keeps_completing_statements_is_progress() -> None:
    """A large batch, or a slow provider call while the engine renews its claims every 5 s:
    the run lasts a minute, its quiet never exceeds the gap between statements."""
    clock = Clock()
    p = Progress(clock=clock)
    worst = 0.0
    with p.running("engine"):
        for _ in range(12):
            for _ in range(5):
                clock.advance(1.0)
                p.loop_turned()
                worst = max(worst, p.quiet()[0])
            p.statement_done()
    assert 5.0 == worst


def test_an_engine_run_wedged_in_a_call_is_quiet_while_the_loop_turns() -> None:
    clock = Clock()
    p = Progress(clock=clock)
    with p.running("engine"):
        p.statement_done()
        for _ in range(11):
            clock.advance(1.0)
            p.loop_turned()
        assert (11.0, "engine duty") == p.quiet()
    assert (0.0, "event loop") == p.quiet()  # the run ended: progress again


def test_statements_of_other_threads_are_not_the_engines_progress() -> None:
    """The lease keeper and the report thread keep using the database while the engine is
    wedged: that is not the engine's progress."""
    clock = Clock()
    p = Progress(clock=clock)
    with p.running("engine"):
        clock.advance(11.0)
        other = threading.Thread(target=p.statement_done)
        other.start()
        other.join()
        p.loop_turned()
        assert (11.0, "engine duty") == p.quiet()


def test_unwatched_duties_may_take_their_time() -> None:
    """A poll may wait a whole HTTP timeout: not the engine, not watched."""
    clock = Clock()
    p = Progress(clock=clock)
    with p.running("poll:zendesk"):
        clock.advance(60.0)
        p.loop_turned()
        assert (0.0, "event loop") == p.quiet()


def test_each_statement_completed_on_the_engine_is_progress_of_its_thread() -> None:
    clock = Clock()
    p = Progress(clock=clock)
    engine = create_engine("sqlite://")
    p.observe(engine)
    try:
        with p.running("engine"):
            clock.advance(30.0)
            p.loop_turned()
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            assert 0.0 == p.quiet()[0]
    finally:
        engine.dispose()


# ---- the web process's side: the watchdog kills and replaces a stalled child ---------------

# A stand-in worker child that reports fresh progress once, then hangs (a real one's reports
# would arrive at the injected clock's instant, which only the test moves).
CHILD = """
import json, socket, sys, time
link = socket.socket(fileno=int(sys.argv[1]))
link.send(json.dumps({"op": "report", "body": {"progress": {"seconds_ago": 0.0, "waiting_on": "event loop"}}}).encode())
time.sleep(3600)
"""


@pytest.fixture
def supervised() -> Iterator[tuple[WorkerProcess, Clock, list[tuple[str, int, int]]]]:
    clock = Clock()
    lost: list[tuple[str, int, int]] = []
    worker = WorkerProcess(lambda fd: [sys.executable, "-c", CHILD, str(fd)], stall_after=LIMIT, clock=clock,
                           on_lost=lambda reason, pid, in_a_row: lost.append((reason, pid, in_a_row)))
    worker.start(watch=False)
    try:
        yield worker, clock, lost
    finally:
        worker.stop(budget=1.0)


def wait_for(what: str, check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return value


def test_a_child_that_stops_reporting_is_killed_and_replaced(
        supervised: tuple[WorkerProcess, Clock, list[tuple[str, int, int]]]) -> None:
    worker, clock, lost = supervised
    first = wait_for("the first report", lambda: worker.latest() is not None and worker.pid)
    assert not worker.check(clock())
    clock.advance(LIMIT - 1)
    assert not worker.check(clock())
    clock.advance(2.0)
    assert worker.check(clock())
    wait_for("the stalled child to be replaced", lambda: (p := worker.pid) is not None and p != first)
    assert [(STALLED, first, 1)] == lost
    assert (1, STALLED) == (worker.stalls, worker.last_lost)
    clock.advance(LIMIT - 1)
    assert not worker.check(clock())  # the new child is reckoned from its start


def test_a_watchdog_that_woke_late_does_not_blame_the_child(
        supervised: tuple[WorkerProcess, Clock, list[tuple[str, int, int]]]) -> None:
    """The whole instance was stopped and thawed (SIGSTOP to its process group): the web
    process's watchdog wakes 60 s late, to reports 60 s old, and starts the reckoning again."""
    worker, clock, lost = supervised
    wait_for("the first report", lambda: worker.latest() is not None)
    last = clock()
    clock.advance(60.0)
    last = worker.look(clock(), last)
    clock.advance(LIMIT - 1)
    worker.look(clock(), clock() - CHECK_EVERY)
    assert (0, []) == (worker.stalls, lost)
    clock.advance(2.0)
    worker.look(clock(), clock() - CHECK_EVERY)
    assert 1 == worker.stalls  # still silent a limit after the watchdog resumed: stalled


def alerts_sent() -> None:
    """Wait for the alerts under way (each goes from a thread of its own)."""
    for thread in threading.enumerate():
        if thread.name == "worker-lost-alert":
            thread.join(10)


def test_the_admins_are_told_when_workers_keep_being_lost(make_rig: MakeRig, tmp_path: Path) -> None:
    rig = make_rig()
    roles = rig.daemon.roles
    worker = WorkerProcess(lambda fd: [sys.executable, "-c", "pass"], stall_after=LIMIT)
    roles.supervise(worker)
    worker.on_lost(STALLED, 4101, 1)
    worker.on_lost("exited", 4102, 2)
    alerts_sent()
    assert [] == rig.to("gina")
    worker.on_lost(STALLED, 4103, 3)
    alerts_sent()
    [alert] = rig.to("gina")
    assert alert.text.startswith("oncall CRITICAL admin alert: the worker process of instance ")
    assert "3 lost in a row, the last (pid 4103) stalled (killed). Paging is broken" in alert.text
    assert alert.channel in (Channel.SMS, Channel.VOICE)
    worker.on_lost(STALLED, 4104, 4)  # the same hour: not told again
    alerts_sent()
    assert 1 == len(rig.to("gina"))
    metrics = rig.daemon.metrics.render().decode()
    assert 'oncall_worker_restarts_total{reason="stalled"} 3.0' in metrics
    assert 'oncall_worker_restarts_total{reason="exited"} 1.0' in metrics


def test_a_standalone_worker_judges_its_own_progress(make_rig: MakeRig) -> None:
    """``--role worker`` (no web process above it): /readyz and the systemd keep-alives follow
    its own proofs of progress."""
    rig = make_rig()
    now = [1000.0]
    roles = Roles(rig.daemon, web=False, worker=True)
    assert roles.standalone_worker
    roles.links.progress = Progress(clock=lambda: now[0])
    assert roles.stalled() is None and (True, "this worker process") == roles.readiness()["worker"]
    now[0] += 6.0  # the event loop has not turned for 6 s
    assert roles.stalled() is None  # within ONCALL_WORKER_STALL_SECONDS (10 s)
    assert (False, "this worker process: its event loop made no progress for 6 s") == roles.readiness()["worker"]
    now[0] += 5.0
    assert (11.0, "event loop") == roles.stalled()
    roles.links.progress.loop_turned()
    assert roles.stalled() is None
    both = Roles(rig.daemon, web=True, worker=True)
    both.links.progress = Progress(clock=lambda: now[0] - 100)
    assert not both.standalone_worker and both.stalled() is None and "worker" not in both.readiness()


def test_an_outage_over_between_two_reports_is_still_reported_once(make_rig: MakeRig) -> None:
    """The transport failed past its threshold and recovered within one watch period: the
    worker's next report says failing (so /readyz shows it), the one after healthy again."""

    class Transport:
        healthy = True
        outages = 0

    rig = make_rig()
    roles = Roles(rig.daemon, web=False, worker=True)
    transport = Transport()
    rig.daemon.transport = transport  # type: ignore[assignment]
    watched = roles.transport_watch()
    assert roles.report()["transport"]["healthy"]
    transport.outages = 1  # suspected and over already: healthy again
    assert roles.transport_watch() != watched, "the link reports at once"
    assert [False, True] == [roles.report()["transport"]["healthy"] for _ in range(2)]
    transport.healthy = False
    assert not roles.report()["transport"]["healthy"]

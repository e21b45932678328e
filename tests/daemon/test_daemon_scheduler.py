"""The duty runner: APScheduler rings, one run of a duty at a time, the ``may_run`` guard asked
before every run. Fake duties on the real clock; every wait has a hard timeout."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from daemon_rig import NY, MakeRig
from structlog.testing import capture_logs

from oncall.daemon import SystemClock
from oncall.daemon.duties import Duty, DutyReport, Pacing
from oncall.daemon.scheduler import DutyRunner
from oncall.errors import LeaseLost

WAIT = 5.0  # seconds: the hard timeout of every wait below


@dataclass(eq=False)
class FakeDuty:
    name: str
    pacing: Pacing = Pacing.INTERVAL
    at_start: bool = False
    singleton: bool = True
    interval: timedelta = timedelta(hours=1)
    answer: Callable[[int], DutyReport] = lambda _run: DutyReport()
    runs: int = 0
    ran: threading.Event = field(default_factory=threading.Event)

    def run_once(self, now: datetime) -> DutyReport:
        self.runs += 1
        try:
            return self.answer(self.runs)
        finally:
            self.ran.set()


def serve(runner: DutyRunner, until: Callable[[], Coroutine[Any, Any, None]]) -> list[str]:
    """Start ``runner``, await ``until()``, stop it; the duties still running when stopped."""

    async def go() -> list[str]:
        runner.start()
        try:
            await until()
        finally:
            unfinished = await runner.stop(budget=WAIT)
        return unfinished

    return asyncio.run(go())


async def wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT), "timed out"


def test_may_run_saying_no_keeps_a_singleton_duty_from_running(make_rig: MakeRig) -> None:
    """Monday 07:30, a hand-off at 08:00: the notice would go at once, but the guard says no."""
    asked: list[str] = []
    engine_asked = threading.Event()

    def guard(duty: Duty) -> bool:
        asked.append(duty.name)
        if duty.name == "engine":
            engine_asked.set()
        return not duty.singleton

    rig = make_rig(datetime(2026, 11, 30, 7, 30, tzinfo=NY), may_run=guard)
    assert rig.daemon.duties.run_once("handoffs") is None
    assert rig.daemon.duties.run_once("engine") is not None
    assert [] == serve(rig.daemon.duties, lambda: wait_for(engine_asked))
    assert "handoffs" in asked
    assert [] == rig.transport.sent  # the same rig without the guard sends one (test_daemon_reload)


def test_a_duty_runs_at_start_and_again_at_the_instant_its_report_names() -> None:
    third = threading.Event()

    def answer(run: int) -> DutyReport:
        if run == 3:
            third.set()
        return DutyReport(next_at=SystemClock().now() if run < 3 else None)  # then one interval on: an hour

    duty = FakeDuty("poll:x", pacing=Pacing.REPORTED, at_start=True, answer=answer)
    serve(DutyRunner([duty], clock=SystemClock()), lambda: wait_for(third))
    assert 3 == duty.runs


def test_wake_runs_a_duty_now_from_another_thread() -> None:
    duty = FakeDuty("engine")
    runner = DutyRunner([duty], clock=SystemClock())

    async def wake_and_wait() -> None:
        threading.Thread(target=runner.wake, args=("engine",)).start()
        await wait_for(duty.ran)

    serve(runner, wake_and_wait)
    assert 1 == duty.runs


def test_a_report_wakes_the_duties_it_names() -> None:
    poll = FakeDuty("poll:x", at_start=True, answer=lambda _run: DutyReport(done=1, wake=("engine",)))
    engine = FakeDuty("engine")
    serve(DutyRunner([poll, engine], clock=SystemClock()), lambda: wait_for(engine.ran))
    assert (1, 1) == (poll.runs, engine.runs)


def test_a_duty_that_raises_is_run_again_when_woken() -> None:
    def boom(_run: int) -> DutyReport:
        raise RuntimeError("database gone")

    duty = FakeDuty("selfcheck", at_start=True, answer=boom)
    runner = DutyRunner([duty], clock=SystemClock())

    async def twice() -> None:
        await wait_for(duty.ran)
        duty.ran.clear()
        runner.wake("selfcheck")
        await wait_for(duty.ran)

    serve(runner, twice)
    assert 2 == duty.runs


def test_a_run_that_loses_its_lease_is_logged_as_such_and_the_duty_runs_again() -> None:
    def taken(_run: int) -> DutyReport:
        raise LeaseLost("poll:x", "token 1 is no longer ours")

    duty = FakeDuty("poll:x", at_start=True, answer=taken)
    runner = DutyRunner([duty], clock=SystemClock())

    async def twice() -> None:
        await wait_for(duty.ran)
        duty.ran.clear()
        runner.wake("poll:x")
        await wait_for(duty.ran)

    with capture_logs() as logged:
        serve(runner, twice)
    assert 2 == duty.runs
    events = [e["event"] for e in logged]
    assert (2, 0) == (events.count("duty.lease_lost"), events.count("duty.failed"))


def test_stop_names_the_duties_still_running_after_the_budget() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(_run: int) -> DutyReport:
        started.set()
        release.wait(WAIT)
        return DutyReport()

    duty = FakeDuty("writeback", at_start=True, answer=slow)
    runner = DutyRunner([duty], clock=SystemClock())

    async def go() -> list[str]:
        runner.start()
        await wait_for(started)
        try:
            return await runner.stop(budget=0.05)
        finally:
            release.set()

    assert ["writeback"] == asyncio.run(go())


def test_duty_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        DutyRunner([FakeDuty("engine"), FakeDuty("engine")], clock=SystemClock())

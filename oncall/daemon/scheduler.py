"""The duties on APScheduler: the alarm clock, and the seam for several instances.

Each duty gets one task on the event loop that waits for its bell, then runs the duty in a
worker thread: never two runs of one duty at once, and bells rung while it runs make one
more run, not many. APScheduler only rings: an interval job per :attr:`Pacing.INTERVAL`
duty, and a one-off job at the instant a report asks for (the engine's next due step, a
poller's next poll). :meth:`DutyRunner.wake` rings from any thread (a webhook stored a
ticket: the engine). All work is re-derived from the database, so nothing is lost with the
scheduler's in-memory jobs.

Before every run the runner asks ``may_run(duty)``: the daemon's lease keeper
(:mod:`.leases`) answers it — no duty while the schema gate is closed, a singleton duty only
under its named lease —, while the engine claims its work in batches. A run that finds its
lease gone midway (:class:`~oncall.errors.LeaseLost`: another instance took over) stops there,
logged as such rather than as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from oncall import logs
from oncall.daemon.duties.base import Duty, DutyReport, Pacing
from oncall.errors import LeaseLost
from oncall.interfaces import Clock

log = logs.get("oncall.daemon")

Guard = Callable[[Duty], bool]
"""``may_run(duty)``: whether this instance may run ``duty`` now (called in a worker thread)."""


def always(_duty: Duty) -> bool:
    return True


class DutyRunner:
    def __init__(self, duties: Sequence[Duty], *, clock: Clock, may_run: Guard = always) -> None:
        names = [d.name for d in duties]
        if len(set(names)) != len(names):
            raise ValueError(f"duty names must be unique: {names}")
        self._duties = {d.name: d for d in duties}
        self.clock = clock
        self.may_run = may_run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._bells: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        # Around each run, in the thread running it: the worker child's progress watch
        # (:mod:`.liveness`) sees which duty runs where.
        self.watch: Callable[[str], contextlib.AbstractContextManager[None]] = lambda _name: contextlib.nullcontext()

    @property
    def duties(self) -> list[Duty]:
        return list(self._duties.values())

    def duty(self, name: str) -> Duty:
        try:
            return self._duties[name]
        except KeyError:
            raise KeyError(f"no duty {name!r}; the duties are {', '.join(self._duties)}") from None

    def run_once(self, name: str, now: datetime | None = None) -> DutyReport | None:
        """Run one duty once, as the scheduler does: ``None`` when ``may_run`` says no, else
        its report. Blocks; exceptions from the duty propagate."""
        duty = self.duty(name)
        with self.watch(name):
            if not self.may_run(duty):
                return None
            return duty.run_once(now or self.clock.now())

    def wake(self, name: str) -> None:
        """Run ``name`` as soon as it is free; safe from any thread, a no-op until started."""
        loop, bell = self._loop, self._bells.get(name)
        if loop is not None and bell is not None and not loop.is_closed():
            loop.call_soon_threadsafe(bell.set)

    def start(self) -> None:
        """Schedule every duty; call from the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        for duty in self._duties.values():
            self._bells[duty.name] = asyncio.Event()
            if duty.pacing is Pacing.INTERVAL:
                self._scheduler.add_job(self._ring, "interval", args=[duty.name], id=duty.name,
                                        seconds=duty.interval.total_seconds())
            if duty.at_start:
                self._bells[duty.name].set()
            elif duty.pacing is Pacing.REPORTED:
                self._ring_at(duty.name, self.clock.now() + duty.interval)
        self._scheduler.start()
        for duty in self._duties.values():
            self._tasks[duty.name] = asyncio.create_task(self._serve(duty), name=f"duty:{duty.name}")

    async def stop(self, budget: float) -> list[str]:
        """Stop ringing and let running duties finish, for at most ``budget`` seconds; returns
        the names of those still running then (their tasks are cancelled)."""
        self._stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for bell in self._bells.values():
            bell.set()
        if not self._tasks:
            return []
        _done, pending = await asyncio.wait(self._tasks.values(), timeout=budget)
        for task in pending:
            task.cancel()
        return sorted(name for name, task in self._tasks.items() if task in pending)

    async def _serve(self, duty: Duty) -> None:
        bell = self._bells[duty.name]
        while not self._stopping:
            await bell.wait()
            bell.clear()
            if self._stopping:
                break
            report: DutyReport | None = None
            try:
                report = await asyncio.to_thread(self.run_once, duty.name)
            except LeaseLost as exc:  # another instance runs it now: not a failure of the duty
                log.warning("duty.lease_lost", duty=duty.name, reason=str(exc))
            except Exception:  # keep the duty alive: log loudly, run again at its next time
                log.exception("duty.failed", duty=duty.name)
            self._after(duty, report)

    def _after(self, duty: Duty, report: DutyReport | None) -> None:
        if self._stopping:
            return
        if report is not None and report.next_at is not None:
            self._ring_at(duty.name, report.next_at)
        elif duty.pacing is Pacing.REPORTED:  # failed or not ours to run: try again one interval on
            self._ring_at(duty.name, self.clock.now() + duty.interval)
        for name in report.wake if report is not None else ():
            if name in self._bells:
                self._bells[name].set()

    def _ring_at(self, name: str, at: datetime) -> None:
        if self._scheduler is not None:
            self._scheduler.add_job(self._ring, "date", args=[name], id=f"{name}:at", replace_existing=True,
                                    run_date=max(at, self.clock.now()))

    async def _ring(self, name: str) -> None:
        self._bells[name].set()

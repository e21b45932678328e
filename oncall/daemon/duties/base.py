"""What a duty is: a name, an interval, whether one instance at a time may run it, and
``run_once(now) -> DutyReport``.

A duty decides nothing about time itself: it is handed the instant to run at, does its
work once, and says in its report what came of it, when it wants to run next if that is not
simply one interval later, and which other duties have work because of it (a poll that
stored tickets wakes the engine). :class:`~oncall.daemon.scheduler.DutyRunner` does the
timing; a test calls ``run_once`` with a fake clock's instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

ENGINE = "engine"
"""The engine duty's name: what webhooks, incident changes and reloads wake."""


class Pacing(StrEnum):
    """How the runner times a duty."""

    INTERVAL = "interval"
    """Every ``interval``; a report's ``next_at`` adds one run at that instant (the engine's next due step)."""
    REPORTED = "reported"
    """At the instant its last report named (a poller's paging and backoff), else one interval after it ran."""


@dataclass(frozen=True, kw_only=True)
class DutyReport:
    """What one run of a duty did."""

    done: int = 0
    """How many things it did: tickets and steps, notes, notices, alerts, pings…"""
    ok: bool = True
    """False when the run failed in a way the duty itself handled (a failed poll or ping)."""
    next_at: datetime | None = None
    """Run again at this instant (see :class:`Pacing`)."""
    wake: tuple[str, ...] = ()
    """Names of duties that have work now because of this run."""


class Duty(Protocol):
    """One periodic duty of the daemon."""

    @property
    def name(self) -> str:
        """Unique in the list: ``engine``, ``poll:<source>``, ``writeback``…"""
        ...

    @property
    def interval(self) -> timedelta:
        """How often it runs, from the settings."""
        ...

    @property
    def pacing(self) -> Pacing: ...

    @property
    def at_start(self) -> bool:
        """Run once as soon as the daemon starts, rather than one interval later."""
        ...

    @property
    def singleton(self) -> bool:
        """Only one instance at a time may run it (several instances sharing PostgreSQL)."""
        ...

    def run_once(self, now: datetime) -> DutyReport:
        """Do the work once, at ``now``. Runs in a worker thread; may block on the database or
        the network (each duty bounds its own waiting). An exception is logged by the runner,
        which runs the duty again at its next time."""
        ...

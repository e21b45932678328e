"""A poll duty for each helpdesk source with a ``poll_interval`` whose kind can poll.

One poll fetches what changed since the cursor kept in the database and stores it in the
inbox, as a webhook would; the engine is woken when it stored anything. The poller says when
to poll next: after the interval, sooner while more pages wait (no faster than the
helpdesk's rate limit), later after failures (backoff, ``Retry-After``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall.daemon.duties.base import ENGINE, DutyReport, Pacing
from oncall.interfaces import Clock
from oncall.metrics import Metrics
from oncall.sources.pollers import BasePoller


class PollDuty:
    pacing = Pacing.REPORTED
    at_start = True
    singleton = True

    def __init__(self, poller: BasePoller, metrics: Metrics, *, clock: Clock) -> None:
        self.poller = poller
        self.metrics = metrics
        self.clock = clock
        self.name = f"poll:{poller.source}"
        self.interval: timedelta = poller.interval

    def run_once(self, now: datetime) -> DutyReport:
        result = self.poller.poll_once(now)
        if not result.ok:
            self.metrics.poll_errors.labels(self.poller.source).inc()
        return DutyReport(done=result.tickets_accepted, ok=result.ok,
                          next_at=self.clock.now() + result.next_delay,  # the delay counts from the poll's end
                          wake=(ENGINE,) if result.tickets_accepted else ())

"""The reload duty: the configuration files changed → reload (a refused edit is tried again
only once the files change again); the stored overrides changed (on another instance) →
merge them. Every instance runs it: each serves its own snapshot. It also runs ``also``: the
re-reading of state other processes and instances share through the database (who texted
STOP, :mod:`oncall.daemon.roles`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.daemon.snapshots import SnapshotHolder


class ReloadDuty:
    name = "reload"
    pacing = Pacing.INTERVAL
    at_start = False
    singleton = False

    def __init__(self, holder: SnapshotHolder, *, interval: timedelta,
                 also: tuple[Callable[[], None], ...] = ()) -> None:
        self.holder = holder
        self.interval = interval
        self.also = also

    def run_once(self, now: datetime) -> DutyReport:
        for refresh in self.also:
            refresh()
        if self.holder.files_changed():
            swapped = self.holder.reload("file change", now)
            return DutyReport(done=int(swapped), ok=swapped)
        if self.holder.overrides_changed():
            self.holder.refresh_overrides()
            return DutyReport(done=1)
        return DutyReport()

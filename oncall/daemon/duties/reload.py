"""The reload duty: the configuration files changed → reload (a refused edit is tried again
only once the files change again); the stored overrides changed (on another instance) →
merge them. Every instance runs it: each serves its own snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.daemon.snapshots import SnapshotHolder


class ReloadDuty:
    name = "reload"
    pacing = Pacing.INTERVAL
    at_start = False
    singleton = False

    def __init__(self, holder: SnapshotHolder, *, interval: timedelta) -> None:
        self.holder = holder
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        if self.holder.files_changed():
            swapped = self.holder.reload("file change", now)
            return DutyReport(done=int(swapped), ok=swapped)
        if self.holder.overrides_changed():
            self.holder.refresh_overrides()
            return DutyReport(done=1)
        return DutyReport()

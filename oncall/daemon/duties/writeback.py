"""The write-back duty: notes on the helpdesk's tickets from the audit log (paged,
acknowledged — by any channel, the CLI and API included —, escalated, exhausted) and the
queued public replies. Present when some source writes back."""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.writeback_feed import WriteBackFeed


class WriteBackDuty:
    name = "writeback"
    pacing = Pacing.INTERVAL
    at_start = False
    singleton = True

    def __init__(self, feed: WriteBackFeed, *, interval: timedelta) -> None:
        self.feed = feed
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        return DutyReport(done=self.feed.run_once(now))

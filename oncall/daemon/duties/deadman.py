"""The dead-man duty: ``GET ONCALL_DEADMAN_URL`` while the daemon is healthy (its database
answers, it is not shutting down), so an outside monitor raises the alarm when the pings
stop. Present when the URL is set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from oncall import logs
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.store.leases import UNFENCED, Fencing

log = logs.get("oncall.daemon")
PING_TIMEOUT = 10.0


class DeadmanDuty:
    name = "deadman"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, url: str, http: httpx.Client, *, healthy: Callable[[], bool], interval: timedelta) -> None:
        self.url = url
        self.http = http
        self.healthy = healthy
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        if not self.healthy():
            return DutyReport(ok=False)
        self.fence.check()  # a ping from an instance that lost its lease would hide the new holder's silence
        try:
            self.http.get(self.url, timeout=PING_TIMEOUT)
        except httpx.HTTPError as exc:
            log.warning("deadman.ping_failed", error=str(exc))
            return DutyReport(ok=False)
        return DutyReport(done=1)

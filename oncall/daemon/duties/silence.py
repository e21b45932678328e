"""The silence duty: a helpdesk source quiet for longer than its ``SILENCE_AFTER`` — no
authenticated webhook and no successful poll, at any instance or process — is told to the
admins, once per silence. What every process heard is read from the database (see
:mod:`oncall.sources.health`), so webhooks answered by another instance count. Present when
some source has ``SILENCE_AFTER``."""

from __future__ import annotations

from datetime import datetime, timedelta

from oncall.alerts import AdminAlerts
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.escalation.alerting import AlertSeverity
from oncall.sources.health import SourceHealth
from oncall.store.leases import UNFENCED, Fencing


class SilenceDuty:
    name = "silence"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = True
    fence: Fencing = UNFENCED  # the lease keeper's, when it runs the duty

    def __init__(self, health: SourceHealth, alerts: AdminAlerts, *, interval: timedelta) -> None:
        self.health = health
        self.alerts = alerts
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        told = 0
        for source, since in self.health.silent_sources(now):
            told += self.alerts.alert(f"silent:{source}:{since.isoformat()}",
                                      f"ticket source {source} has been silent since {since.isoformat()}", now,
                                      severity=AlertSeverity.WARNING, fence=self.fence)
        return DutyReport(done=told)

"""The self-check duty: what this instance sees of itself. The open-incidents gauge and the
time-to-acknowledge histogram (acknowledgements from any channel, the CLI and API included,
read from the database); schedules with nobody on call within a day (a warning ahead, critical
once under way); this instance's transport failing persistently (critical). Alerts are
de-duplicated in the database, so several instances tell the admins once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from oncall.alerts import AdminAlerts, coverage_gap_alerts
from oncall.config.snapshot import Snapshot
from oncall.daemon.duties.base import DutyReport, Pacing
from oncall.escalation.alerting import AlertSeverity
from oncall.incidents.stats import acknowledged_after, open_count
from oncall.interfaces import Transport
from oncall.metrics import Metrics


class SelfCheckDuty:
    name = "selfcheck"
    pacing = Pacing.INTERVAL
    at_start = True
    singleton = False

    def __init__(self, engine: Engine, metrics: Metrics, alerts: AdminAlerts, snapshot: Callable[[], Snapshot],
                 transport: Transport, transport_name: str, *, since: datetime, interval: timedelta) -> None:
        """``since``: acknowledgements before it are not observed (the daemon's start)."""
        self.engine = engine
        self.metrics = metrics
        self.alerts = alerts
        self.snapshot = snapshot
        self.transport = transport
        self.transport_name = transport_name
        self.acks_seen_until = since
        self.interval = interval

    def run_once(self, now: datetime) -> DutyReport:
        self.metrics.open_incidents.set(open_count(self.engine))
        for created_at, acked_at in acknowledged_after(self.engine, self.acks_seen_until):
            self.metrics.time_to_ack.observe((acked_at - created_at).total_seconds())
            self.acks_seen_until = max(self.acks_seen_until, acked_at)
        told = 0
        for gap in coverage_gap_alerts(self.snapshot(), now):
            told += self.alerts.alert(gap.key, gap.text, now, severity=gap.severity)
        if not getattr(self.transport, "healthy", True):
            told += self.alerts.alert(f"transport:{now:%Y-%m-%dT%H}", f"{self.transport_name} is failing persistently",
                                      now, severity=AlertSeverity.CRITICAL)
        return DutyReport(done=told)

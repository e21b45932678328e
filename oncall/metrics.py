"""Prometheus metrics (``oncall_`` prefix), on a registry of their own so tests and
several daemons in one process do not collide."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# The Content-Type /metrics answers with: the text format this prometheus_client renders.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every metric the daemon exposes; one instance per daemon."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tickets_received = Counter(
            "oncall_tickets_received", "Tickets received, by source and outcome",
            ["source", "outcome"], registry=r)
        self.pages_sent = Counter(
            "oncall_pages_sent", "Notifications handed to a transport", ["channel"], registry=r)
        self.pages_failed = Counter(
            "oncall_pages_failed", "Notifications that failed", ["channel"], registry=r)
        self.time_to_ack = Histogram(
            "oncall_time_to_acknowledge_seconds", "Incident created → acknowledged",
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200), registry=r)
        self.escalations = Counter("oncall_escalations", "Escalation steps taken", registry=r)
        self.open_incidents = Gauge(
            "oncall_open_incidents", "Incidents not yet resolved or cancelled", registry=r)
        self.poll_errors = Counter("oncall_poll_errors", "Failed helpdesk polls", ["source"], registry=r)
        self.reload_failures = Counter(
            "oncall_reload_failures", "Configuration reloads refused", registry=r)
        self.reloads = Counter("oncall_reloads", "Configuration reloads applied", registry=r)
        self.unmapped_values = Counter(
            "oncall_unmapped_values", "Ticket values oncall does not know, read with a fallback "
            "(add value_maps), by source and field", ["source", "field"], registry=r)
        self.tickets_unreadable = Counter(
            "oncall_tickets_unreadable", "Polled tickets that could not be read at all (admins "
            "are told)", ["source"], registry=r)
        self.webhook_rejected = Counter(
            "oncall_webhooks_rejected", "Inbound requests refused", ["endpoint", "reason"], registry=r)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve it with ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

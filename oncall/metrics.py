"""Prometheus metrics (``oncall_`` prefix), on a registry of their own so tests and
several daemons in one process do not collide.

Names follow Prometheus conventions: counters end in ``_total`` (the client adds it),
durations are in seconds, instants are Unix timestamps in ``..._timestamp_seconds``.
Label values come from bounded sets only (configured source names, channels, HTTP
statuses, provider error codes), never from request input. The README's *Metrics*
section lists every family; ``ops/`` has alerting rules and a dashboard built on them.

Gauges that describe the current state (open incidents, silent sources…) are refreshed
by the callables registered with :meth:`Metrics.before_render`, just before each scrape.

``oncall run`` counts in two processes, the web process and its worker: the web process's
``/metrics`` merges the worker's exposition into its own (:func:`merge_exposition`: counters
and histograms added up, a gauge the web process has kept as it is), so a scrape sees one
instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from oncall import __version__

# The Content-Type /metrics answers with: the text format this prometheus_client renders.
CONTENT_TYPE = CONTENT_TYPE_LATEST
# A step fires within milliseconds when healthy; minutes late means the worker was stuck.
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
NO_ERROR_CODE = "none"

log = logging.getLogger("oncall.metrics")


class Metrics:
    """Every metric the daemon exposes; one instance per daemon."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._refreshers: list[Callable[[], None]] = []
        self._others: list[Callable[[], str | None]] = []
        self.build_info = Gauge(
            "oncall_build_info", "Always 1; the running oncall version as a label", ["version"], registry=r)
        self.build_info.labels(__version__).set(1)
        # ---- intake
        self.tickets_received = Counter(
            "oncall_tickets_received", "Tickets received, by source and outcome",
            ["source", "outcome"], registry=r)
        # ---- response clocks (desk ids and priorities: bounded sets from the configuration)
        self.response_warnings = Counter(
            "oncall_response_warnings", "Response targets warned about (a share used without a response), "
            "by desk and priority", ["desk", "priority"], registry=r)
        self.response_misses = Counter(
            "oncall_response_misses", "Response targets missed, by desk and priority", ["desk", "priority"],
            registry=r)
        self.webhook_requests = Counter(
            "oncall_webhook_requests", "Ticket webhook requests answered, by source and HTTP status "
            "(source \"unknown\" for names not configured)", ["source", "status"], registry=r)
        self.unmapped_values = Counter(
            "oncall_unmapped_values", "Ticket values oncall does not know, read with a fallback "
            "(add value_maps), by source and field", ["source", "field"], registry=r)
        self.tickets_unreadable = Counter(
            "oncall_tickets_unreadable", "Polled tickets that could not be read at all (admins "
            "are told)", ["source"], registry=r)
        self.webhook_rejected = Counter(
            "oncall_webhooks_rejected", "Inbound requests refused (ticket webhooks and Twilio callbacks), "
            "by endpoint and reason", ["endpoint", "reason"], registry=r)
        self.poll_errors = Counter("oncall_poll_errors", "Failed helpdesk polls", ["source"], registry=r)
        self.handover_keep_failures = Counter(
            "oncall_handover_keep_failures", "Decided tickets the morning hand-over could not record", registry=r)
        self.public_replies_failed = Counter(
            "oncall_public_replies_failed", "Public replies to customers not posted, by source and outcome: "
            "retry (tried again later), given_up, unknown (its poster stopped mid-post), not_queued",
            ["source", "outcome"], registry=r)
        self.source_last_success = Gauge(
            "oncall_source_last_success_timestamp_seconds", "When a source was last heard from: "
            "via=poll a successful poll, via=webhook an authenticated webhook (Unix time)",
            ["source", "via"], registry=r)
        self.source_silent = Gauge(
            "oncall_source_silent", "1 while a source has been silent longer than its silence_after",
            ["source"], registry=r)
        # ---- incidents and escalation
        self.open_incidents = Gauge(
            "oncall_open_incidents", "Incidents not yet resolved or cancelled", registry=r)
        self.unacknowledged_incidents = Gauge(
            "oncall_unacknowledged_incidents", "Open incidents nobody has acknowledged yet", registry=r)
        self.oldest_unacknowledged_age = Gauge(
            "oncall_oldest_unacknowledged_incident_age_seconds",
            "Age of the oldest open incident nobody has acknowledged (0 when there is none)", registry=r)
        self.time_to_ack = Histogram(
            "oncall_time_to_acknowledge_seconds", "Incident created → acknowledged",
            buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200), registry=r)
        self.escalations = Counter("oncall_escalations", "Escalation steps taken", registry=r)
        self.step_lateness = Histogram(
            "oncall_escalation_step_lateness_seconds",
            "Delay between the instant an escalation step was due and the instant it fired",
            buckets=LATENESS_BUCKETS, registry=r)
        # ---- notifications
        self.pages_sent = Counter(
            "oncall_pages_sent", "Notifications handed to a transport", ["channel"], registry=r)
        self.pages_failed = Counter(
            "oncall_pages_failed", "Notifications that failed, when handed over or reported later by the "
            "provider's status callback (undelivered SMS, unanswered call)", ["channel"], registry=r)
        self.pages_held = Counter(
            "oncall_pages_held", "Notifications held back by a storm limit (they go out later, bundled)",
            ["channel"], registry=r)
        self.deliveries = Counter(
            "oncall_deliveries", "Delivery outcomes: at hand-over (sent, rejected, error) and as reported "
            "by the provider (delivered, answered, undelivered, failed, no_answer, busy, canceled)",
            ["channel", "outcome", "error_code"], registry=r)
        # ---- HTTP server
        self.http_connections = Gauge(
            "oncall_http_connections", "HTTP connections open (at most http.max_connections)", registry=r)
        self.http_connections_refused = Counter(
            "oncall_http_connections_refused", "HTTP connections answered 503 and closed at once: "
            "http.max_connections were open", registry=r)
        self.http_requests_timed_out = Counter(
            "oncall_http_requests_timed_out", "HTTP requests not received in full within "
            "http.request_timeout (answered 408 and closed)", registry=r)
        # ---- configuration
        self.reload_failures = Counter(
            "oncall_reload_failures", "Configuration reloads refused", registry=r)
        self.reloads = Counter("oncall_reloads", "Configuration reloads applied", registry=r)
        # ---- several instances: named leases of the singleton duties
        self.leases_held = Gauge(
            "oncall_leases_held", "1 while this instance holds the named lease of a singleton duty "
            "(a poller, write-back, hand-off notices…), else 0", ["name"], registry=r)
        self.lease_acquisitions = Counter(
            "oncall_lease_acquisitions", "Named leases taken by this instance (at start, or from an "
            "instance that stopped renewing)", ["name"], registry=r)
        self.messages_claimed = Gauge(
            "oncall_messages_claimed", "Messages this instance holds a sending claim on (being handed to "
            "the provider now)", registry=r)
        # ---- oncall run's worker child, as its web process sees it
        self.worker_restarts = Counter(
            "oncall_worker_restarts", "Worker child processes the web process had to replace, by reason: "
            "exited (on its own), stalled (no progress for ONCALL_WORKER_STALL_SECONDS: killed)",
            ["reason"], registry=r)
        self.lease_losses = Counter(
            "oncall_lease_losses", "Named leases this instance lost while it meant to keep them "
            "(another took them, or they lapsed: frozen, or the database out of reach)", ["name"], registry=r)

    def before_render(self, refresh: Callable[[], None]) -> None:
        """Call ``refresh`` before each rendering (to set gauges of the current state)."""
        self._refreshers.append(refresh)

    def merge_from(self, other: Callable[[], str | None]) -> None:
        """Merge the exposition ``other()`` returns (another process's, ``None`` when it has
        nothing to say) into each rendering."""
        self._others.append(other)

    def delivery(self, channel: str, outcome: str, error_code: int | str | None = None) -> None:
        self.deliveries.labels(channel, outcome, NO_ERROR_CODE if error_code in (None, "") else str(error_code)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve it with ``CONTENT_TYPE``).

        May block (refreshers read the database): call it from a worker thread."""
        for refresh in self._refreshers:
            try:
                refresh()
            except Exception:  # a scrape must still answer: the other metrics are good
                log.exception("metrics.refresh_failed")
        own = generate_latest(self.registry)
        others = []
        for other in self._others:
            try:
                text = other()
            except Exception:
                log.exception("metrics.merge_failed")
                continue
            if text:
                others.append(text)
        return merge_exposition(own, others) if others else own

    def render_own(self, leave_out: Iterable[str] = ()) -> str:
        """This process's exposition without refreshing state gauges or merging (what a worker
        process reports), without the families named in ``leave_out``."""
        skip = set(leave_out)
        if not skip:
            return generate_latest(self.registry).decode()
        return generate_latest(_Families(f for f in self.registry.collect() if f.name not in skip)).decode()


ADDED_UP = frozenset({"counter", "histogram", "summary"})


class _Families(CollectorRegistry):
    """A registry holding fixed families (a merge's result), for ``generate_latest``."""

    def __init__(self, families: Iterable[Metric]) -> None:
        super().__init__(auto_describe=False)
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def merge_exposition(own: bytes, others: Iterable[str]) -> bytes:
    """``own`` (Prometheus text) with the families of ``others`` merged in: samples of
    counters and histograms added up (creation times excepted: the first is kept), any
    other sample kept as the first exposition has it, samples only the others have added."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in (own.decode(), *others):
        for family in text_string_to_metric_families(text):
            merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            samples = values.setdefault(family.name, {})
            add = family.type in ADDED_UP
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in samples:
                    samples[key] = sample.value
                elif add and not sample.name.endswith("_created"):
                    samples[key] += sample.value
    out = []
    for name, family in merged.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        out.append(family)
    return generate_latest(_Families(out))

"""The daemon's HTTP app, assembled from the composition root's parts: health, readiness and
metrics; the ticket webhooks; the API; Twilio's inbound routes (when Twilio is configured);
the console (unless turned off). The routes themselves live in ``oncall.web``,
``oncall.sources.web`` and ``oncall.notify.inbound``; this module only connects them. A
process playing only the worker role (``oncall run --role worker``) serves health, readiness
and metrics alone."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from oncall.daemon.roles import messages_claimed
from oncall.inbound_adapter import ServiceInbound
from oncall.incidents.service import FAILED_STATUSES
from oncall.incidents.stats import incident_counts
from oncall.metrics import Metrics
from oncall.sources.web import REFUSALS, ticket_routes
from oncall.web.api import api_routes
from oncall.web.app import build_app, health_routes

if TYPE_CHECKING:
    from oncall.daemon.wiring import Daemon

Check = Callable[[], tuple[bool, str]]


def daemon_app(d: Daemon) -> Starlette:
    s = d.settings
    routes: list[BaseRoute] = []
    routes += health_routes(ready_checks(d), d.metrics, alive=lambda: not d.stopping, detail=d.roles.detail)
    if not d.roles.web:
        return build_app(routes)
    # While the schema gate is closed (a newer oncall migrated the database) webhooks answer
    # 503, as when draining: the helpdesk retries, and reaches an upgraded instance.
    routes += ticket_routes(d.sink, s.sources, lambda: d.snapshot.source_mappings, clock=d.clock.now,
                            on_accepted=d.accepted, draining=lambda: d.draining or not d.gate.last().open,
                            health=d.source_health,
                            on_answer=partial(webhook_answered, d.metrics))
    token = s.api_token.get_secret_value() if s.api_token else None
    routes += api_routes(d.service, d.configuration, api_token=token, clock=d.clock.now)
    tw = s.twilio
    if tw.configured and tw.auth_token is not None:
        from oncall.notify.inbound import twilio_routes

        inbound = ServiceInbound(d.service, d.engine, d.directory, d.alerts, checkpoint=d.checkpoint,
                                 on_outcome=partial(delivery_reported, d.metrics))
        routes += twilio_routes(inbound, auth_token=tw.auth_token.get_secret_value(), public_url=s.public_url or "",
                                clock=d.clock.now,
                                on_rejected=lambda path, reason: d.metrics.webhook_rejected.labels(path, reason).inc())
    if s.console.enabled:
        from oncall.web.console.core import ConsoleDeps
        from oncall.web.console.routes import console_routes

        routes += console_routes(ConsoleDeps(
            service=d.service, snapshot=d.configuration, engine=d.engine, clock=d.clock.now, settings=s,
            transport=d.transport, overrides=d.overrides, on_overrides_changed=d.refresh_overrides,
            sms_blocked=d.alerts.sms_blocked, readiness=ready_checks(d), source_health=d.source_health,
            last_reload_error=lambda: d.last_reload_error, transport_name=d.transport_name))
    return build_app(routes)


def ready_checks(d: Daemon) -> dict[str, Check]:
    """``/readyz``'s checks (also on the console's admin page)."""

    def database() -> tuple[bool, str]:
        with d.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, "reachable"

    def configuration() -> tuple[bool, str]:
        if d.last_reload_error:
            return True, f"running on the last good configuration; latest edit refused: {d.last_reload_error}"
        return True, f"loaded {d.snapshot.loaded_at.isoformat()}"

    def sources() -> tuple[bool, str]:
        silent = d.source_health.silent_sources(d.clock.now())
        if silent:
            return False, "; ".join(f"{s} silent since {t.isoformat()}" for s, t in silent)
        return True, f"{len(d.settings.sources)} configured"

    def transport() -> tuple[bool, str]:
        healthy = bool(getattr(d.transport, "healthy", True)) and d.roles.transport_healthy()
        return healthy, d.transport_name + ("" if healthy else ": failing")

    def draining() -> tuple[bool, str]:
        return (False, "shutting down") if d.draining else (True, "accepting")

    def role(name: str) -> Check:
        return lambda: d.roles.readiness()[name]

    checks = {"database": database, "configuration": configuration, "sources": sources,
              "transport": transport, "intake": draining}
    return checks | {name: role(name) for name in d.roles.readiness()}


def refresh_gauges(d: Daemon) -> None:
    """State gauges, read at each scrape: sources heard from, open and unacknowledged incidents."""
    now = d.clock.now()
    for status in d.source_health.snapshot():
        for via, at in (("poll", status.last_success), ("webhook", status.last_traffic)):
            if at is not None:
                d.metrics.source_last_success.labels(status.source, via).set(at.timestamp())
    silent = {source for source, _since in d.source_health.silent_sources(now)}
    for name, source in d.settings.sources.items():
        if source.silence_after is not None:
            d.metrics.source_silent.labels(name.lower()).set(1 if name.lower() in silent else 0)
    d.metrics.messages_claimed.set(messages_claimed(d.engine, d.instance_id))
    counts = incident_counts(d.engine)
    d.metrics.open_incidents.set(counts.open)
    d.metrics.unacknowledged_incidents.set(counts.unacknowledged)
    oldest = counts.oldest_unacknowledged_at
    d.metrics.oldest_unacknowledged_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0)


def webhook_answered(metrics: Metrics, source: str, status: int) -> None:
    metrics.webhook_requests.labels(source, str(status)).inc()
    if status >= 400:
        metrics.webhook_rejected.labels(f"/webhooks/tickets/{source}", REFUSALS.get(status, "error")).inc()


def delivery_reported(metrics: Metrics, channel: str, status: str, error_code: int | None) -> None:
    """A final status from the provider's callback (each message's once)."""
    outcome = {"completed": "answered", "read": "delivered", "no-answer": "no_answer"}.get(status, status)
    metrics.delivery(channel, outcome, error_code)
    if status in FAILED_STATUSES:
        metrics.pages_failed.labels(channel).inc()

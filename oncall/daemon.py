"""``oncall run``: one asyncio process wiring every part together.

- uvicorn serves the ASGI app (webhooks, Twilio inbound, API, feeds, health, metrics);
- APScheduler (AsyncIOScheduler) is only the alarm clock: the engine tick, the precise
  wake-up at the next due step, pollers, hand-off notices, self-monitoring and reload
  checks. Each job just wakes the worker or runs one small check;
- the worker processes stored tickets and runs the escalation runner in a thread,
  re-deriving all work from the database, so a restart resumes where it was.

Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT drain (webhooks answer 503
so helpdesks retry), finish in-flight sends and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from oncall import __version__, logs
from oncall.alerts import STOP_REFUSED, AdminAlerts, coverage_gap_alerts
from oncall.config.loader import digest, load
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot, with_stored_overrides
from oncall.directory import SnapshotDirectory
from oncall.errors import ConfigError, DeliveryError, PermanentDeliveryError
from oncall.escalation.alerting import AlertSeverity
from oncall.escalation.runner import Runner
from oncall.faults import checkpoint_from_env
from oncall.inbound_adapter import ServiceInbound
from oncall.incidents.service import FAILED_STATUSES, IncidentService
from oncall.intake import Intake, Outcome
from oncall.interfaces import Clock, Outbound, Transport
from oncall.metrics import Metrics
from oncall.notify.channels import quiet_channels, reachable, texted_stop
from oncall.notify.composite import CountingTransport, build_transport
from oncall.schedules.handoffs import handoff_text, upcoming_handoffs
from oncall.schedules.stored_overrides import StoredOverrides
from oncall.sdnotify import Notifier, watchdog_interval
from oncall.sources.health import SourceHealth
from oncall.sources.pollers import BasePoller
from oncall.sources.registry import helpdesk_for, ticket_resolver
from oncall.sources.settings import startup_warnings
from oncall.sources.store_adapters import EngineCursors, GroupCommitSink
from oncall.sources.web import REFUSALS, ticket_routes
from oncall.sources.writeback import writeback_for
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox, get_cursor, set_cursor
from oncall.store.tables import OPEN_STATES, incidents
from oncall.store.types import as_utc
from oncall.vocabulary import VocabularyReports
from oncall.web.api import api_routes
from oncall.web.app import build_app, health_routes
from oncall.web.server import ConnectionStats, connection_budget, guarded_protocol
from oncall.writeback_feed import WriteBackFeed

log = logs.get("oncall.daemon")
INTAKE_BATCH = 25  # stored tickets processed between two runs of the escalation runner
SHUTDOWN_BUDGET = 8.0  # seconds to finish in-flight work after SIGTERM (systemd allows 20)


class SystemClock:
    """The real :class:`~oncall.interfaces.Clock`: the system's time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by make_engine; just don't echo secrets
        return "<unparsable URL>"


class Daemon:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, transport: Transport | None = None,
                 handle_signals: bool = True, out: TextIO | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.handle_signals = handle_signals
        self.out = out or sys.stdout
        self.metrics = Metrics()
        self.notifier = Notifier()
        started = self.clock.now()
        self.snapshot: Snapshot = load(settings.config, now=started,
                                       horizon=timedelta(days=settings.coverage_horizon_days))
        self.config_digest = self.snapshot.digest
        self.last_reload_error: str | None = None
        self._reload_lock = threading.Lock()
        self.engine = make_engine(settings.database_url)
        upgrade(self.engine)
        # Overrides made on the web live in the database; every reader sees them merged in.
        self.overrides = StoredOverrides(self.engine)
        self._overrides_seen = self.overrides.revision()
        self.snapshot = with_stored_overrides(self.snapshot, self.overrides.live())
        inner, self.transport_name = (transport, type(transport).__name__) if transport else \
            build_transport(settings)
        self.transport = CountingTransport(inner, self.metrics, on_permanent=self._permanent_failure)
        self._acks_seen_until = started
        self.alerts = AdminAlerts(self.engine, self.transport, lambda: self.snapshot)
        self.vocabulary = VocabularyReports(self.alerts, unmapped=self.metrics.unmapped_values,
                                            unreadable=self.metrics.tickets_unreadable)
        self.service = IncidentService(self.engine, self.directory, on_change=self.kick)
        self.checkpoint = checkpoint_from_env()
        from oncall.web.console.auth import page_links

        self.runner = Runner(self.engine, self.transport, self.directory, lambda: self.snapshot.notifications,
                             checkpoint=self.checkpoint, page_link=page_links(self.engine, settings, started))
        self.inbox = Inbox(self.engine)
        self.sink = GroupCommitSink(self.inbox)
        self.http = httpx.Client(timeout=15.0)
        self.intake = Intake(self.inbox, self.service, lambda: self.snapshot, on_outcome=self._count,
                             checkpoint=self.checkpoint,
                             resolve=ticket_resolver(settings.sources, lambda: self.snapshot.source_mappings,
                                                     self.http))
        self.source_health = SourceHealth(
            {name: s.silence_after for name, s in settings.sources.items()}, started_at=started)
        self.pollers = self._pollers()
        self.writeback = WriteBackFeed(
            self.engine,
            {name: wb for name, s in settings.sources.items() if (wb := writeback_for(name, s, self.http)) is not None},
            public=lambda name: settings.sources[name].public_replies)
        self.draining = False
        self.stopping = False
        self.metrics.before_render(self._refresh_gauges)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._work = asyncio.Event()
        self._stop = asyncio.Event()
        self._scheduler: AsyncIOScheduler | None = None
        self._server: _Server | None = None
        self._http_warning: str | None = None  # set when the descriptor limit lowers max_connections

    # ---- wiring helpers ------------------------------------------------------------

    def directory(self) -> SnapshotDirectory:
        return SnapshotDirectory(self.snapshot, self.alerts.sms_blocked)

    def _pollers(self) -> dict[str, BasePoller]:
        found: dict[str, BasePoller] = {}
        for name, s in self.settings.sources.items():
            make = helpdesk_for(name, s).poller
            if s.poll_interval is None or make is None:
                continue
            found[name] = make(source=name, settings=s, client=self.http, sink=self.sink,
                               cursors=EngineCursors(self.engine), health=self.source_health,
                               mapping=self._mapping_for(name), on_unreadable=self.vocabulary.unreadable)
        return found

    def _mapping_for(self, name: str) -> Callable[[], Any]:
        return lambda: self.snapshot.source_mappings.get(name)

    def _count(self, outcome: Outcome) -> None:
        self.metrics.tickets_received.labels(outcome.source, outcome.outcome).inc()
        if outcome.unmapped:
            try:
                self.vocabulary.unmapped(outcome.source, outcome.ticket_id, outcome.unmapped, self.clock.now())
            except Exception:  # the ticket was decided already; telling the admins is best effort
                log.exception("vocabulary.report_failed", source=outcome.source, ticket_id=outcome.ticket_id)
        d = outcome.decision
        if d is not None and not d.page and not d.entitled and not d.business_hours:
            desk = self.snapshot.desks.get(d.desk)
            self.writeback.queue_public_reply(outcome.source, outcome.ticket_id, d,
                                              desk.name or desk.id if desk else d.desk, self.clock.now())

    def _permanent_failure(self, message: Outbound, exc: PermanentDeliveryError) -> None:
        """A send refused because the person texted STOP: remembered, so the next page calls them
        at once instead of failing on SMS first, and the admins told."""
        if texted_stop(exc, message.channel):
            self.alerts.sms_opted_out(message.person_id, self.clock.now(), told=STOP_REFUSED)

    def _webhook_answered(self, source: str, status: int) -> None:
        self.metrics.webhook_requests.labels(source, str(status)).inc()
        if status >= 400:
            self.metrics.webhook_rejected.labels(f"/webhooks/tickets/{source}",
                                                 REFUSALS.get(status, "error")).inc()

    def _delivery_reported(self, channel: str, status: str, error_code: int | None) -> None:
        """A final status from the provider's callback (each message's once)."""
        outcome = {"completed": "answered", "read": "delivered", "no-answer": "no_answer"}.get(status, status)
        self.metrics.delivery(channel, outcome, error_code)
        if status in FAILED_STATUSES:
            self.metrics.pages_failed.labels(channel).inc()

    def _refresh_gauges(self) -> None:
        """State gauges, read at each scrape: sources heard from, open and unacknowledged incidents."""
        now = self.clock.now()
        for status in self.source_health.snapshot():
            for via, at in (("poll", status.last_success), ("webhook", status.last_traffic)):
                if at is not None:
                    self.metrics.source_last_success.labels(status.source, via).set(at.timestamp())
        silent = {source for source, _since in self.source_health.silent_sources(now)}
        for name, source in self.settings.sources.items():
            if source.silence_after is not None:
                self.metrics.source_silent.labels(name.lower()).set(1 if name.lower() in silent else 0)
        with self.engine.connect() as conn:
            open_count = conn.execute(select(func.count()).select_from(incidents)
                                      .where(incidents.c.state.in_(OPEN_STATES))).scalar_one()
            unacked, oldest = conn.execute(select(func.count(), func.min(incidents.c.created_at))
                                           .where(incidents.c.state == "triggered")).one()
        self.metrics.open_incidents.set(open_count)
        self.metrics.unacknowledged_incidents.set(unacked)
        oldest_at = as_utc(oldest)
        self.metrics.oldest_unacknowledged_age.set(max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0)

    def _accepted(self) -> None:
        self.checkpoint("accepted")
        self.kick()

    def kick(self) -> None:
        """Wake the worker now; safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._work.set)

    def build_app(self) -> Any:
        routes: list[Any] = []
        routes += health_routes(self._ready_checks(), self.metrics, alive=lambda: not self.stopping)
        routes += ticket_routes(self.sink, self.settings.sources, lambda: self.snapshot.source_mappings,
                                clock=self.clock.now, on_accepted=self._accepted, draining=lambda: self.draining,
                                health=self.source_health, on_answer=self._webhook_answered)
        token = self.settings.api_token.get_secret_value() if self.settings.api_token else None
        routes += api_routes(self.service, lambda: self.snapshot, api_token=token, clock=self.clock.now)
        tw = self.settings.twilio
        if tw.configured and tw.auth_token is not None:
            from oncall.notify.inbound import twilio_routes

            inbound = ServiceInbound(self.service, self.engine, self.directory, self.alerts,
                                     checkpoint=self.checkpoint, on_outcome=self._delivery_reported)
            routes += twilio_routes(inbound, auth_token=tw.auth_token.get_secret_value(),
                                    public_url=self.settings.public_url or "", clock=self.clock.now,
                                    on_rejected=lambda path, reason: self.metrics.webhook_rejected.labels(
                                        path, reason).inc())
        if self.settings.console.enabled:
            from oncall.web.console.core import ConsoleDeps
            from oncall.web.console.routes import console_routes

            routes += console_routes(ConsoleDeps(
                service=self.service, snapshot=lambda: self.snapshot, engine=self.engine, clock=self.clock.now,
                settings=self.settings, transport=self.transport, overrides=self.overrides,
                on_overrides_changed=self.refresh_overrides, sms_blocked=self.alerts.sms_blocked,
                readiness=self._ready_checks(), source_health=self.source_health,
                last_reload_error=lambda: self.last_reload_error, transport_name=self.transport_name))
        return build_app(routes)

    def _ready_checks(self) -> dict[str, Callable[[], tuple[bool, str]]]:
        def database() -> tuple[bool, str]:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True, "reachable"

        def configuration() -> tuple[bool, str]:
            if self.last_reload_error:
                return True, f"running on the last good configuration; latest edit refused: {self.last_reload_error}"
            return True, f"loaded {self.snapshot.loaded_at.isoformat()}"

        def sources() -> tuple[bool, str]:
            silent = self.source_health.silent_sources(self.clock.now())
            if silent:
                return False, "; ".join(f"{s} silent since {t.isoformat()}" for s, t in silent)
            return True, f"{len(self.settings.sources)} configured"

        def transport() -> tuple[bool, str]:
            healthy = getattr(self.transport, "healthy", True)
            return bool(healthy), self.transport_name + ("" if healthy else ": failing")

        def draining() -> tuple[bool, str]:
            return (False, "shutting down") if self.draining else (True, "accepting")

        return {"database": database, "configuration": configuration, "sources": sources,
                "transport": transport, "intake": draining}

    # ---- the worker ------------------------------------------------------------------

    def work_once(self) -> None:
        """Process stored tickets in batches, running the escalation runner after each batch
        (in a worker thread), so a burst of tickets does not hold back the first pages."""
        while True:
            batch = self.intake.process_batch(self.clock.now(), INTAKE_BATCH)
            report = self.runner.run_due(self.clock.now())
            if report.stepped:
                self.metrics.escalations.inc(report.stepped)
            for seconds in report.lateness:
                self.metrics.step_lateness.observe(seconds)
            for channel, held in report.held_by_channel.items():
                self.metrics.pages_held.labels(channel).inc(held)
            if len(batch) < INTAKE_BATCH:
                return

    async def _worker(self) -> None:
        # Woken only by events: new tickets, incident changes, and APScheduler's "tick" and
        # "wakeup" jobs (the alarm clock), so there is one periodic timer, not two.
        while not self._stop.is_set():
            await self._work.wait()
            self._work.clear()
            if self._stop.is_set():
                break
            try:
                await asyncio.to_thread(self.work_once)
                self._schedule_wakeup(await asyncio.to_thread(self.runner.next_wakeup))
            except Exception:  # keep the worker alive: log loudly, retry on the next tick
                log.exception("worker.failed")

    def _schedule_wakeup(self, at: datetime | None) -> None:
        if self._scheduler is None or at is None:
            return
        self._scheduler.add_job(self._kick_job, "date", run_date=max(at, self.clock.now()), id="wakeup",
                                replace_existing=True, misfire_grace_time=None)

    async def _kick_job(self) -> None:
        self._work.set()

    # ---- periodic jobs ----------------------------------------------------------------

    async def _poll(self, name: str) -> None:
        poller = self.pollers[name]
        result = await asyncio.to_thread(poller.poll_once, self.clock.now())
        if not result.ok:
            self.metrics.poll_errors.labels(name).inc()
        if result.tickets_accepted:
            self._work.set()
        if self._scheduler is not None and not self.stopping:
            self._scheduler.add_job(self._poll, "date", args=[name], id=f"poll:{name}", replace_existing=True,
                                    run_date=self.clock.now() + result.next_delay, misfire_grace_time=None)

    async def _check_reload(self) -> None:
        if digest(self.settings.config) != self.config_digest:
            await asyncio.to_thread(self.reload, "file change")
        elif await asyncio.to_thread(self.overrides.revision) != self._overrides_seen:
            await asyncio.to_thread(self.refresh_overrides)  # another instance changed them

    def refresh_overrides(self) -> None:
        """Merge the stored (web) overrides again after one was added or removed."""
        with self._reload_lock:
            self._overrides_seen = self.overrides.revision()
            merged = with_stored_overrides(self.snapshot, self.overrides.live())
            changed, self.snapshot = merged is not self.snapshot, merged
        if changed:
            self.kick()

    def reload(self, why: str) -> bool:
        """Build a new snapshot; swap it in atomically, or keep the running one."""
        with self._reload_lock:  # SIGHUP and the file watcher may both ask at once
            return self._reload(why)

    def _reload(self, why: str) -> bool:
        now = self.clock.now()
        new_digest = digest(self.settings.config)
        try:
            snapshot = load(self.settings.config, now=now, horizon=timedelta(days=self.settings.coverage_horizon_days))
        except ConfigError as exc:
            self.config_digest = new_digest  # don't retry the same bad edit every few seconds
            self.last_reload_error = str(exc)
            self.metrics.reload_failures.inc()
            log.error("config.reload_refused", why=why, errors=[str(i) for i in exc.issues])
            self.alerts.alert(f"reload:{new_digest[:16]}", "configuration edit refused, still running the previous "
                              f"one: {exc.issues[0]}" + (f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1
                                                         else ""), now, severity=AlertSeverity.WARNING)
            return False
        self.snapshot = with_stored_overrides(snapshot, self.overrides.live())
        self.config_digest = snapshot.digest
        self.last_reload_error = None
        self.metrics.reloads.inc()
        log.info("config.reloaded", why=why, people=len(snapshot.people), schedules=len(snapshot.schedules))
        self.kick()
        return True

    def monitor(self) -> None:
        """Self-monitoring: open incidents, silent sources, coverage gaps within 24 h, dead-man's switch."""
        now = self.clock.now()
        with self.engine.connect() as conn:
            open_count = conn.execute(select(func.count()).select_from(incidents)
                                      .where(incidents.c.state.in_(OPEN_STATES))).scalar_one()
            acked = conn.execute(select(incidents.c.created_at, incidents.c.acknowledged_at)
                                 .where(incidents.c.acknowledged_at > self._acks_seen_until)).all()
        self.metrics.open_incidents.set(open_count)
        for created_at, acked_at in acked:
            self.metrics.time_to_ack.observe((acked_at - created_at).total_seconds())
            self._acks_seen_until = max(self._acks_seen_until, acked_at)
        for source, since in self.source_health.silent_sources(now):
            self.alerts.alert(f"silent:{source}:{since.isoformat()}",
                              f"ticket source {source} has been silent since {since.isoformat()}", now,
                              severity=AlertSeverity.WARNING)
        for gap in coverage_gap_alerts(self.snapshot, now):
            self.alerts.alert(gap.key, gap.text, now, severity=gap.severity)
        if not getattr(self.transport, "healthy", True):
            self.alerts.alert(f"transport:{now:%Y-%m-%dT%H}", f"{self.transport_name} is failing persistently", now,
                              severity=AlertSeverity.CRITICAL)
        if self.settings.deadman_url and not self.draining:
            try:
                self.http.get(self.settings.deadman_url, timeout=10.0)
            except httpx.HTTPError as exc:
                log.warning("deadman.ping_failed", error=str(exc))

    def handoff_notices(self) -> int:
        """Tell each person shortly before their shift starts (once per shift), by the first
        channel that never rings they can be reached on: a text, else (no phone, or they texted
        STOP) an e-mail."""
        if not self.settings.handoff_notices:
            return 0
        now = self.clock.now()
        window = timedelta(minutes=self.settings.handoff_notice_minutes)
        snap = self.snapshot
        sent = 0
        for sid, schedule in snap.schedules.items():
            for h in upcoming_handoffs(snap.resolved(sid), (), now, now + window):
                key = f"handoff:{sid}:{h.person}:{h.start.astimezone(UTC).isoformat()}"
                person = snap.people.get(h.person)
                if person is None or get_cursor(self.engine, key) is not None:
                    continue
                blocked = self.alerts.sms_blocked(person.id)
                reach = next(((c, a) for c in quiet_channels()
                              if (a := reachable(person, c, sms_blocked=blocked)) is not None), None)
                if reach is None:
                    continue
                channel, address = reach
                set_cursor(self.engine, key, now.isoformat(), now)
                text_ = f"oncall {schedule.name or sid}: " + handoff_text(h, schedule.timezone)
                try:
                    self.transport.send(Outbound(key=key.replace(":", "-")[:100], channel=channel, to=address,
                                                 person_id=person.id, incident_ids=(), text=text_))
                    sent += 1
                except DeliveryError as exc:
                    log.warning("handoff.notice_failed", person=person.id, error=str(exc))
        return sent

    async def _writeback_job(self) -> None:
        await asyncio.to_thread(self.writeback.run_once, self.clock.now())

    async def _monitor_job(self) -> None:
        await asyncio.to_thread(self.monitor)

    async def _handoff_job(self) -> None:
        await asyncio.to_thread(self.handoff_notices)

    async def _watchdog(self, interval: float) -> None:
        # Sent from the event loop itself: a stuck loop stops the keep-alives and systemd restarts us.
        while not self._stop.is_set():
            self.notifier.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    # ---- lifecycle ----------------------------------------------------------------------

    def _warnings(self) -> list[str]:
        s, snap = self.settings, self.snapshot
        warnings = list(startup_warnings(dict(s.sources)))
        if not s.twilio.configured:
            warnings.insert(0, "NO TWILIO CREDENTIALS: pages are printed on this console, not sent to phones "
                               "(set ONCALL_TWILIO__ACCOUNT_SID, __AUTH_TOKEN, __FROM_NUMBER)")
        elif not s.public_url:
            warnings.append("ONCALL_PUBLIC_URL is not set: Twilio cannot deliver replies or status callbacks")
        if not s.api_token:
            warnings.append("ONCALL_API_TOKEN is not set: the HTTP API and calendar feeds are disabled")
        warnings += [str(w) for w in snap.warnings]
        warnings += [f"{p} texted STOP: SMS to them is blocked" for p in self.alerts.blocked_people()]
        if self._http_warning:
            warnings.append(self._http_warning)
        return warnings

    def startup_facts(self) -> dict[str, Any]:
        """The banner's facts as one structured log event (JSON logs carry no free text)."""
        s, snap = self.settings, self.snapshot
        return {
            "version": __version__, "listen": f"http://{s.listen}", "public_url": s.public_url,
            "database": display_url(s.database_url), "config_dir": str(s.config), "transport": self.transport_name,
            "sources": sorted(s.sources), "pollers": sorted(self.pollers), "desks": len(snap.desks),
            "people": len(snap.people), "schedules": list(snap.schedules),
            "escalation_policies": len(snap.escalation_policies), "warnings": self._warnings(),
        }

    def banner(self) -> str:
        s, snap = self.settings, self.snapshot
        lines = [
            f"oncall {__version__} ready",
            f"  configuration : {s.config} — {len(snap.desks)} desk(s), {len(snap.people)} people, "
            f"{len(snap.schedules)} schedule(s), {len(snap.escalation_policies)} escalation policy(ies)",
            f"  schedules     : {', '.join(snap.schedules) or 'none'}",
            f"  database      : {display_url(s.database_url)}",
            f"  transport     : {self.transport_name}",
            f"  listening     : http://{s.listen}",
        ]
        lines += [f"  WARNING       : {w}" for w in self._warnings()]
        if not s.twilio.configured:
            first = next(iter(snap.schedules), None)
            who = (snap.on_call(first, self.clock.now()) or ("PERSON",))[0] if first else "PERSON"
            lines += [
                "  demo          : in another terminal, file a demo ticket:",
                "                    make demo-ticket   (a new ticket each time, signed with var/demo.env's secret;",
                "                    by hand: set -a; . var/demo.env; set +a;",
                "                             .venv/bin/oncall send-ticket examples/demo-ticket.json)",
                "                  the page is printed here; then acknowledge it, from the CLI or as a text reply:",
                f"                    .venv/bin/oncall incidents --open && .venv/bin/oncall ack 1 --as {who}",
                f"                    .venv/bin/oncall sms-reply {who} ack",
            ]
            if s.console.enabled:
                lines += [f"                  or on the web: http://{s.listen}/ (sign in with a one-time link:",
                          f"                    .venv/bin/oncall login-link {who}  then press Acknowledge)"]
        return "\n".join(lines)

    def request_stop(self) -> None:
        self.draining = True
        self._stop.set()

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        started = time.monotonic()
        if self.handle_signals:
            self._loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            self._loop.add_signal_handler(signal.SIGINT, self.request_stop)
            self._loop.add_signal_handler(signal.SIGHUP, lambda: self._loop.run_in_executor(  # type: ignore[union-attr]
                None, self.reload, "SIGHUP"))
        max_connections, self._http_warning = connection_budget(self.settings.http.max_connections)
        if self._http_warning:
            log.warning("http.max_connections_lowered", reason=self._http_warning)
        # The protocol bounds slow clients (request deadline, keep-alive) and open connections.
        shed = ConnectionStats(on_refused=self.metrics.http_connections_refused.inc,
                               on_timed_out=self.metrics.http_requests_timed_out.inc)
        config = uvicorn.Config(self.build_app(), host=self.settings.listen_host, port=self.settings.listen_port,
                                http=guarded_protocol(self.settings.http, max_connections, shed),
                                log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
        self._server = _Server(config)
        connections = self._server.server_state.connections
        self.metrics.before_render(lambda: self.metrics.http_connections.set(len(connections)))
        server_task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if server_task.done():
                await server_task
                log.critical("http.failed_to_start", listen=self.settings.listen)
                return 1
            await asyncio.sleep(0.01)
        scheduler = self._scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        scheduler.add_job(self._kick_job, "interval", seconds=self.settings.engine_tick_seconds, id="tick")
        scheduler.add_job(self._check_reload, "interval", seconds=self.settings.reload_check_seconds, id="reload")
        scheduler.add_job(self._monitor_job, "interval", seconds=60, id="monitor", next_run_time=self.clock.now())
        scheduler.add_job(self._handoff_job, "interval", seconds=60, id="handoffs", next_run_time=self.clock.now())
        if self.writeback.writebacks:
            scheduler.add_job(self._writeback_job, "interval", seconds=10, id="writeback")
        for name in self.pollers:
            scheduler.add_job(self._poll, "date", args=[name], id=f"poll:{name}", run_date=self.clock.now())
        scheduler.start()
        worker = asyncio.create_task(self._worker())
        self._work.set()  # recover and process whatever is due at start-up
        interval = watchdog_interval()
        watchdog = asyncio.create_task(self._watchdog(interval)) if interval else None
        if logs.renders_json():
            log.info("oncall started", **self.startup_facts())
        else:
            print(self.banner(), file=self.out, flush=True)
        log.info("daemon.ready", seconds=round(time.monotonic() - started, 3), transport=self.transport_name)
        self.notifier.ready(f"listening on {self.settings.listen}")

        await self._stop.wait()
        # Drain: webhooks already answer 503 (self.draining); let the current work finish.
        self.stopping = True
        self.notifier.stopping()
        log.info("daemon.stopping")
        scheduler.shutdown(wait=False)
        self._work.set()
        try:
            await asyncio.wait_for(worker, timeout=SHUTDOWN_BUDGET)
        except TimeoutError:
            log.error("daemon.worker_did_not_finish", budget=SHUTDOWN_BUDGET)
        self._server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server_task, timeout=2.0)
        if watchdog:
            watchdog.cancel()
        self.http.close()
        self.engine.dispose()
        log.info("daemon.stopped")
        return 0

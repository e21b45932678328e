"""The composition root: the daemon's parts, handed in or built from the settings.

``Daemon(settings, clock=…, engine=…, transport=…, snapshot=…, http=…, may_run=…, web=…,
worker=…, instance_id=…)`` takes each part it is given and builds the others: the clock (the
system's), the store's engine over ``ONCALL_DATABASE_URL`` — whose schema is brought up to
date *before*, by :func:`open_store`, the explicit step ``oncall run`` takes after the instance
lock —, the configuration snapshot and its holder, the transports (counted for metrics), the
helpdesk sources from the registry (pollers, write-back, the intake's look-ups), the incident
service, the escalation runner, and from all of them the HTTP app and the list of duties; this
instance's id, its schema gate and its lease keeper (the duties' ``may_run`` guard unless one
is given). ``web`` and ``worker`` say which roles this process plays (both, in one process, by
default; ``oncall run`` gives the worker a process of its own, :mod:`.worker_process`, and
:mod:`.roles` connects the two). Nothing runs here: :mod:`.lifecycle` serves the daemon, and a
test runs a duty's ``run_once`` or calls the app directly.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette

from oncall.alerts import STOP_REFUSED, AdminAlerts
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot
from oncall.daemon import app, banner
from oncall.daemon.duties import ENGINE, Duty, duty_list
from oncall.daemon.duties.engine import IntakeOutcomes
from oncall.daemon.gate import SchemaGate
from oncall.daemon.leases import LeaseKeeper
from oncall.daemon.lifecycle import Lifecycle
from oncall.daemon.roles import Roles
from oncall.daemon.scheduler import DutyRunner, Guard
from oncall.daemon.snapshots import SnapshotHolder, load_configuration
from oncall.directory import SnapshotDirectory
from oncall.errors import PermanentDeliveryError
from oncall.escalation.alerting import AlertSeverity
from oncall.escalation.runner import Runner
from oncall.faults import checkpoint_from_env
from oncall.handover.store import WaitingTickets
from oncall.incidents.service import IncidentService
from oncall.intake import Intake
from oncall.interfaces import Clock, Outbound, Transport
from oncall.metrics import Metrics
from oncall.notify.channels import texted_stop
from oncall.notify.composite import CountingTransport, build_transport
from oncall.schedules.stored_overrides import StoredOverrides
from oncall.sources.health import SourceHealth
from oncall.sources.pollers import BasePoller
from oncall.sources.registry import helpdesk_for, ticket_resolver
from oncall.sources.store_adapters import GroupCommitSink
from oncall.sources.writeback import writeback_for
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox
from oncall.store.leases import FencedCursors, LeaseStore
from oncall.store.source_activity import SourceActivity
from oncall.vocabulary import VocabularyReports
from oncall.writeback_feed import WriteBackFeed

HTTP_CLIENT_TIMEOUT = 15.0  # seconds: helpdesk APIs, write-back callbacks, the dead-man URL


def new_instance_id() -> str:
    """``host:pid:random`` — this instance among others, in its logs, leases and ``/readyz``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SystemClock:
    """The real :class:`~oncall.interfaces.Clock`: the system's time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def open_store(url: str, idle_limit: timedelta | None = None) -> Engine:
    """An engine over ``url`` with its schema migrated to this version: the explicit step
    before a :class:`Daemon` is built over a database (``idle_limit``: see
    :func:`~oncall.store.db.make_engine`). Raises ``SQLAlchemyError`` and
    :class:`~oncall.errors.StoreError` (a schema written by a newer oncall)."""
    engine = make_engine(url, idle_limit=idle_limit)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


class Daemon:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None,
                 transport: Transport | None = None, snapshot: Snapshot | None = None,
                 http: httpx.Client | None = None, may_run: Guard | None = None, handle_signals: bool = True,
                 out: TextIO | None = None, web: bool = True, worker: bool = True,
                 instance_id: str | None = None) -> None:
        """Raises :class:`~oncall.errors.ConfigError` for a bad configuration (when ``snapshot``
        is not given) and ``SQLAlchemyError`` when the database is unusable."""
        self.settings = settings
        self.instance_id = instance_id or new_instance_id()
        self.clock: Clock = clock or SystemClock()
        self.handle_signals = handle_signals
        self.out = out or sys.stdout
        self.metrics = Metrics()
        self.draining = False  # webhooks answer 503 (SIGTERM)
        self.stopping = False  # /healthz fails: the drain is under way
        self.http_warning: str | None = None  # set when the descriptor limit lowers max_connections
        started = self.clock.now()
        loaded = snapshot or load_configuration(settings, started)
        self.engine = engine or make_engine(settings.database_url, idle_limit=settings.failover)
        self.gate = SchemaGate(self.engine)
        self.keeper = LeaseKeeper(LeaseStore(self.engine, self.instance_id, clock=self.clock.now), (),
                                  failover=settings.failover, gate=self.gate,
                                  metrics=self.metrics, on_acquired=self._lease_acquired)
        self.roles = Roles(self, web=web, worker=worker)
        # Overrides made on the web live in the database; every reader sees them merged in.
        self.overrides = StoredOverrides(self.engine)
        self.configuration = SnapshotHolder(settings, loaded, self.overrides, self.metrics, clock=self.clock,
                                            changed=self.kick, refused=self._reload_refused)
        inner, self.transport_name = (transport, type(transport).__name__) if transport else \
            build_transport(settings)
        self.transport = CountingTransport(inner, self.metrics, on_permanent=self._permanent_failure)
        self.alerts = AdminAlerts(self.engine, self.transport, self.configuration)
        self.vocabulary = VocabularyReports(self.alerts, unmapped=self.metrics.unmapped_values,
                                            unreadable=self.metrics.tickets_unreadable)
        self.service = IncidentService(self.engine, self.directory, on_change=self.kick)
        self.checkpoint = checkpoint_from_env(before_dying=self._die_whole)
        from oncall.web.console.auth import page_links

        # Claims name the process making them: the instance, and which of its processes.
        self.escalation = Runner(self.engine, self.transport, self.directory,
                                 lambda: self.configuration().notifications, checkpoint=self.checkpoint,
                                 page_link=page_links(self.engine, settings, started),
                                 worker_id=f"{self.instance_id}/{os.getpid()}")
        self.inbox = Inbox(self.engine)
        self.sink = GroupCommitSink(self.inbox)
        self.http = http or httpx.Client(timeout=HTTP_CLIENT_TIMEOUT)
        self.source_health = SourceHealth(
            {name: s.silence_after for name, s in settings.sources.items()}, started_at=started,
            activity=SourceActivity(self.engine))
        self.pollers = self._pollers()
        self.writeback = WriteBackFeed(
            self.engine,
            {name: wb for name, s in settings.sources.items() if (wb := writeback_for(name, s, self.http)) is not None},
            public=lambda name: settings.sources[name].public_replies, fence=self.keeper.fence("writeback"),
            on_failure=lambda source, outcome: self.metrics.public_replies_failed.labels(source, outcome).inc())
        outcomes = IntakeOutcomes(self.metrics, self.vocabulary, self.writeback, self.configuration, self.clock,
                                  waiting=WaitingTickets(self.engine))
        self.intake = Intake(
            self.inbox, self.service, self.configuration, checkpoint=self.checkpoint, on_outcome=outcomes,
            resolve=ticket_resolver(settings.sources, self._mappings, self.http), settle=outcomes.settle)
        self.metrics.before_render(lambda: app.refresh_gauges(self))
        duties = self.roles.duties(duty_list(self, started))
        self.keeper.keep(d.name for d in duties if d.singleton)
        for duty in duties:
            self.keeper.arm(duty)
        self.duties = DutyRunner(duties, clock=self.clock, may_run=may_run or self.keeper.may_run)
        self.lifecycle = Lifecycle(self)

    # ---- what the parts read ------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self.configuration.current

    @property
    def last_reload_error(self) -> str | None:
        return self.configuration.last_reload_error

    def directory(self) -> SnapshotDirectory:
        return SnapshotDirectory(self.snapshot, self.alerts.sms_blocked)

    def duty(self, name: str) -> Duty:
        return self.duties.duty(name)

    def healthy(self) -> bool:
        """Alive for the dead-man's switch: not shutting down, and the database answers."""
        if self.draining:
            return False
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def _mappings(self) -> Any:
        return self.snapshot.source_mappings

    def _pollers(self) -> dict[str, BasePoller]:
        found: dict[str, BasePoller] = {}
        for name, s in self.settings.sources.items():
            make = helpdesk_for(name, s).poller
            if s.poll_interval is None or make is None:
                continue
            found[name] = make(source=name, settings=s, client=self.http, sink=self.sink,
                               cursors=FencedCursors(self.engine, self.keeper.fence(f"poll:{name}")),
                               health=self.source_health,
                               mapping=self._mapping_for(name), on_unreadable=self.vocabulary.unreadable)
        return found

    def _mapping_for(self, name: str) -> Callable[[], Any]:
        return lambda: self.snapshot.source_mappings.get(name)

    # ---- what the parts call -------------------------------------------------------------

    def kick(self) -> None:
        """Wake the engine duty now — here, or in the worker process —; safe from any thread."""
        if self.roles.worker:
            self.duties.wake(ENGINE)
        else:
            self.roles.wake_worker()

    def _die_whole(self) -> None:
        """A fault injected in ``oncall run``'s worker child kills its web process too."""
        if not self.roles.serves_http:
            os.kill(os.getppid(), signal.SIGKILL)

    def _lease_acquired(self, name: str) -> None:
        """A lease taken from an instance that stopped renewing it: run its duty now."""
        self.duties.wake(name)

    def accepted(self) -> None:
        """A webhook stored a ticket event."""
        self.checkpoint("accepted")
        self.kick()

    def reload(self, why: str) -> bool:
        """Re-read the configuration (SIGHUP); see :meth:`SnapshotHolder.reload`."""
        return self.configuration.reload(why)

    def refresh_overrides(self) -> None:
        self.configuration.refresh_overrides()

    def _reload_refused(self, key: str, text_: str, now: datetime) -> None:
        self.alerts.alert(key, text_, now, severity=AlertSeverity.WARNING)

    def _permanent_failure(self, message: Outbound, exc: PermanentDeliveryError) -> None:
        """A send refused because the person texted STOP: remembered, so the next page calls them
        at once instead of failing on SMS first, and the admins told."""
        if texted_stop(exc, message.channel):
            self.alerts.sms_opted_out(message.person_id, self.clock.now(), told=STOP_REFUSED)

    # ---- HTTP, banner, running -----------------------------------------------------------

    def build_app(self) -> Starlette:
        return app.daemon_app(self)

    def warnings(self) -> list[str]:
        return banner.start_warnings(self.settings, self.snapshot, blocked=self.alerts.blocked_people(),
                                     http_warning=self.http_warning)

    def startup_facts(self) -> dict[str, Any]:
        return banner.startup_facts(self.settings, self.snapshot, transport=self.transport_name,
                                    pollers=self.pollers, warnings=self.warnings()) | {
            "instance": self.instance_id, "role": self.roles.name}

    def banner(self) -> str:
        return banner.banner_text(self.settings, self.snapshot, transport=self.transport_name,
                                  warnings=self.warnings(), now=self.clock.now(),
                                  instance=f"{self.instance_id} (role {self.roles.name})")

    def request_stop(self) -> None:
        self.lifecycle.request_stop()

    async def run(self) -> int:
        """Serve until SIGTERM (or :meth:`request_stop`); the exit status."""
        return await self.lifecycle.run()

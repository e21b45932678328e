"""Which roles a daemon process plays, and how the web role and the worker role meet.

- **web**: the HTTP server — ticket webhooks (verify, parse, store, 202), Twilio's callbacks,
  the API, the console, ``/healthz``, ``/readyz``, ``/metrics`` — and the ``reload`` duty (its
  own snapshot, and who texted STOP).
- **worker**: every duty — the engine (intake → incidents → escalation → sends), pollers,
  write-back, hand-off notices, monitors — under the lease keeper.

A :class:`~oncall.daemon.wiring.Daemon` built with both (the default, and what tests build)
does everything in one process. ``oncall run`` (``--role all``) runs the web role and gives the
worker a child process of its own (:mod:`.worker_process`): the web process wakes it when a
ticket is stored, forwards webhook traffic to its silence monitor, and merges its reports —
metrics, leases, schema gate, transport, polls, progress — into ``/metrics`` and ``/readyz``;
a worker that stops making progress (:mod:`.liveness`) is killed and replaced, counted in
``oncall_worker_restarts_total`` and, when it keeps happening, told to the admins as critical.
``--role web`` and ``--role worker`` run one role each (two units, or two hosts): on
PostgreSQL the web role wakes workers with ``NOTIFY`` (:mod:`.wake`); on SQLite the worker's
engine tick is the only wake-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from oncall import logs
from oncall.daemon.duties.reload import ReloadDuty
from oncall.daemon.liveness import NO_REPORT, START_GRACE, Progress
from oncall.daemon.threads import background
from oncall.daemon.worker_process import STALLED
from oncall.escalation.alerting import AlertSeverity
from oncall.incidents.repo import SENDING
from oncall.sources.health import SourceStatus
from oncall.store.tables import notifications

if TYPE_CHECKING:
    from oncall.daemon.duties import Duty
    from oncall.daemon.wake import NotifyListener, NotifyWaker
    from oncall.daemon.wiring import Daemon
    from oncall.daemon.worker_process import ParentLink, WorkerProcess

log = logs.get("oncall.daemon")

WEB_DUTIES = ("reload",)
WORKER_STALE_AFTER = 5.0  # seconds without a report or progress before /readyz calls the worker unresponsive
WORKER_START_GRACE = START_GRACE  # seconds the first worker counts as ready before its first report
WORKER_LOST_ALERT = 3  # workers lost in a row (each up less than a minute) before the admins are told
# Families the worker leaves out of its report: the web process counts reloads itself, and
# reads the state gauges from the database at each scrape.
WEB_OWNED = ("oncall_reloads", "oncall_reload_failures", "oncall_build_info")


class Roles:
    """The roles of one daemon process, and its links to the other role's process."""

    def __init__(self, d: Daemon, *, web: bool = True, worker: bool = True) -> None:
        if not (web or worker):
            raise ValueError("a daemon plays the web role, the worker role, or both")
        self.d = d
        self.web = web
        self.worker = worker
        self.links = _Links()

    @property
    def name(self) -> str:
        """``all`` (both roles: here, or the worker in a child of this process), ``web`` or
        ``worker``."""
        if self.web and (self.worker or self.links.worker is not None):
            return "all"
        return "web" if self.web else "worker"

    @property
    def serves_http(self) -> bool:
        """Every process serves HTTP but ``oncall run``'s worker child (its web process does)."""
        return self.links.parent is None

    def reload_worker(self) -> None:
        if self.links.worker is not None:
            self.links.worker.reload()

    def duties(self, every: Sequence[Duty]) -> list[Duty]:
        """This process's duties out of the daemon's list; ``reload`` also re-reads who texted
        STOP, which another process or instance may have learnt."""
        mine = list(every) if self.worker else [d for d in every if d.name in WEB_DUTIES]
        for duty in mine:
            if isinstance(duty, ReloadDuty):
                duty.also = (*duty.also, self.d.alerts.refresh_blocked)
        return mine

    # ---- the web process's side ---------------------------------------------------------------

    def supervise(self, worker: WorkerProcess) -> None:
        """Give this web process its worker child (``oncall run``): started and stopped with
        the daemon, woken on stored tickets, its reports merged."""
        self.links.worker = worker
        worker.on_report = self._absorb
        worker.on_lost = self._worker_lost
        self.d.source_health.on_traffic = worker.heard
        self.d.metrics.merge_from(self._worker_metrics)
        failover = self.d.settings.failover_seconds
        if worker.stall_after is not None and worker.stall_after >= failover:
            log.warning("worker.stall_limit_beyond_failover", stall_seconds=worker.stall_after,
                        failover_seconds=failover, effect="a stuck worker keeps its leases this long")

    def _worker_lost(self, reason: str, pid: int, in_a_row: int) -> None:
        """The worker child exited or was killed as stalled: counted; told to the admins as
        critical (paging is broken) once it keeps happening — at most once an hour."""
        d = self.d
        d.metrics.worker_restarts.labels(reason).inc()
        if in_a_row < WORKER_LOST_ALERT:
            return
        now = d.clock.now()
        what = "stalled (killed)" if reason == STALLED else "exited"
        text = (f"the worker process of instance {d.instance_id} keeps failing: {in_a_row} lost in a row, "
                f"the last (pid {pid}) {what}. Paging is broken on this instance while it has no working "
                f"worker; it is being restarted with back-off.")
        background(self._alert_worker_lost, f"worker-lost:{d.instance_id}:{now:%Y-%m-%dT%H}", text, now,
                   name="worker-lost-alert")

    def _alert_worker_lost(self, key: str, text: str, now: datetime) -> None:
        try:
            self.d.alerts.alert(key, text, now, severity=AlertSeverity.CRITICAL)
        except Exception:  # the database or the transport out of reach: the log line stays
            log.exception("worker.lost_alert_failed", text=text)

    def wake_with(self, waker: NotifyWaker) -> None:
        """Wake workers elsewhere through the database (``--role web`` on PostgreSQL)."""
        self.links.waker = waker

    def wake_worker(self) -> None:
        if self.links.worker is not None:
            self.links.worker.wake()
        if self.links.waker is not None:
            self.links.waker.wake()

    def _absorb(self, body: dict[str, Any]) -> None:
        for status in body.get("sources", ()):
            self.d.source_health.absorb(_status(status))

    def _worker_metrics(self) -> str | None:
        worker = self.links.worker
        report = worker.fresh_report() if worker is not None else None
        return str(report.body.get("metrics", "")) or None if report is not None else None

    # ---- the worker process's side ------------------------------------------------------------

    @property
    def standalone_worker(self) -> bool:
        """``--role worker``: the duties with no web process of this instance watching them —
        systemd's watchdog does, fed only while they progress (:meth:`stalled`)."""
        return self.worker and not self.web and self.links.parent is None

    def stalled(self) -> tuple[float, str] | None:
        """A standalone worker's own verdict: the seconds without progress and what was quiet
        (:mod:`.liveness`) once past ``ONCALL_WORKER_STALL_SECONDS``; ``None`` while it
        progresses, and in every other process (a web process judges its worker child)."""
        progress = self.links.progress
        if progress is None or not self.standalone_worker:
            return None
        seconds, what = progress.quiet()
        return (seconds, what) if seconds > self.d.settings.worker_stall_seconds else None

    def report_to(self, link: ParentLink) -> None:
        """Report to the web process through ``link``, with the worker's proofs of progress
        (:meth:`watch_progress`) in each report."""
        self.links.parent = link
        self.watch_progress()

    def watch_progress(self) -> Progress:
        """The worker's proofs of progress (:mod:`.liveness`) — its engine's statements, its
        duties' runs — watched from now on: what its parent, or systemd, judges it by."""
        if self.links.progress is None:
            progress = Progress()
            progress.observe(self.d.engine)
            self.d.duties.watch = progress.running
            self.links.progress = progress
        return self.links.progress

    def transport_watch(self) -> tuple[bool, int]:
        """What the link to the web process watches to report at once: the transport's health
        and how many outages it has suspected (one that is over already still changes this)."""
        t = self.d.transport
        return bool(getattr(t, "healthy", True)), int(getattr(t, "outages", 0))

    def _transport_told(self) -> bool:
        """The transport's health for a report: failing while it fails, and also in the first
        report after an outage that began and ended between two reports — the web process's
        ``/readyz`` shows every outage for a report at least, however short."""
        healthy, outages = self.transport_watch()
        told, self.links.outages_told = self.links.outages_told, outages
        return healthy and outages == told

    def listen_with(self, listener: NotifyListener) -> None:
        self.links.listener = listener

    def report(self) -> dict[str, Any]:
        """What the worker tells its web process (see :mod:`.worker_process`)."""
        d = self.d
        return {
            "instance": d.instance_id,
            "metrics": d.metrics.render_own(WEB_OWNED),
            "leases": [lease.as_json() for lease in d.keeper.view()],
            "schema": d.gate.state().as_json(),
            "transport": {"name": d.transport_name, "healthy": self._transport_told()},
            "sources": [_status_json(s) for s in d.source_health.snapshot()],
        } | ({"progress": self.links.progress.as_json()} if self.links.progress is not None else {})

    # ---- what /readyz shows ---------------------------------------------------------------

    def readiness(self) -> dict[str, tuple[bool, str]]:
        """Readiness checks this process adds: the schema gate, and the worker child."""
        gate = self.d.gate.state()
        checks = {"schema": (gate.open, gate.reason)}
        worker = self.links.worker
        if worker is not None:
            report = worker.latest()
            pid = worker.pid
            verdict = worker.verdict()
            if pid is None:
                checks["worker"] = (False, f"worker process not running (last exit {worker.last_exit}); restarting")
            elif report is None:  # the first one: work waits in the database meanwhile
                starting = worker.last_lost is None and worker.running_for() < WORKER_START_GRACE
                checks["worker"] = (starting, f"worker process {pid} starting" if starting else
                                    f"worker process {pid} starting, replacing one that {worker.last_lost}"
                                    if worker.last_lost else f"worker process {pid} has not reported since it started")
            elif verdict.seconds > WORKER_STALE_AFTER:
                quiet = f"{verdict.seconds:.0f} s"
                checks["worker"] = (False, f"worker process {pid} silent for {quiet}" if verdict.what == NO_REPORT
                                    else f"worker process {pid}: its {verdict.what} made no progress for {quiet}")
            else:
                schema = report.body.get("schema") or {}
                ok = bool(schema.get("open", True))
                checks["worker"] = (ok, f"worker process {pid}" + ("" if ok else f": {schema.get('reason')}"))
        elif self.standalone_worker and self.links.progress is not None:
            seconds, what = self.links.progress.quiet()
            checks["worker"] = (True, "this worker process") if seconds <= WORKER_STALE_AFTER else (
                False, f"this worker process: its {what} made no progress for {seconds:.0f} s")
        return checks

    def detail(self) -> dict[str, Any]:
        """``/readyz``'s ``instance``: this instance's id and role, the leases it holds, its
        schema gate, and its worker process."""
        d = self.d
        leases = [lease.as_json() for lease in d.keeper.view()]
        out: dict[str, Any] = {"id": d.instance_id, "role": self.name, "schema": d.gate.state().as_json()}
        worker = self.links.worker
        if worker is not None:
            report = worker.latest()
            out["worker"] = worker.state()
            if report is not None:
                leases = list(report.body.get("leases", ()))
        out["leases"] = leases
        out["claims"] = {"messages": messages_claimed(d.engine, d.instance_id)}
        return out

    def transport_healthy(self) -> bool:
        worker = self.links.worker
        report = worker.latest() if worker is not None else None
        if report is None:
            return True
        return bool((report.body.get("transport") or {}).get("healthy", True))

    # ---- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Start what runs beside the duties: the lease keeper's thread, the worker child, the
        link to the web process, the database wake-ups."""
        links = self.links
        if self.worker:
            self.d.keeper.start()
        if links.worker is not None:
            links.worker.start()
        if self.standalone_worker:
            self.watch_progress()
        if links.progress is not None:
            links.progress.start_beating()
        if links.parent is not None:
            links.parent.start()
        if links.listener is not None:
            links.listener.start()

    def stop(self, budget: float) -> None:
        """After the duties stopped: drain the worker child, let the leases go."""
        links = self.links
        if links.worker is not None:
            links.worker.stop(budget)
        if links.listener is not None:
            links.listener.stop()
        if links.waker is not None:
            links.waker.stop()
        if self.worker:
            self.d.keeper.stop()
            self.d.keeper.release_all("shutting down")
        if links.parent is not None:
            links.parent.send_report()
            links.parent.stop()


class _Links:
    def __init__(self) -> None:
        self.worker: WorkerProcess | None = None
        self.parent: ParentLink | None = None
        self.progress: Progress | None = None
        self.outages_told = 0  # the transport's outages the last report accounted for
        self.waker: NotifyWaker | None = None
        self.listener: NotifyListener | None = None


def messages_claimed(engine: Engine, instance_id: str) -> int:
    """Messages the processes of this instance hold a sending claim on (their runners'
    ``worker_id`` is the instance id, a slash, and the process id)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.status == SENDING,
            notifications.c.claimed_by.startswith(f"{instance_id}/", autoescape=True))).scalar_one())


def _status_json(s: SourceStatus) -> dict[str, Any]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t is not None else None

    return {"source": s.source, "last_success": iso(s.last_success), "last_traffic": iso(s.last_traffic),
            "last_failure": iso(s.last_failure), "last_error": s.last_error,
            "consecutive_failures": s.consecutive_failures}


def _status(body: dict[str, Any]) -> SourceStatus:
    def when(key: str) -> datetime | None:
        value = body.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    return SourceStatus(source=str(body["source"]), last_success=when("last_success"),
                        last_traffic=when("last_traffic"), last_failure=when("last_failure"),
                        last_error=body.get("last_error"),
                        consecutive_failures=int(body.get("consecutive_failures", 0)))

"""``oncall run --role all|web|worker``: which processes a host runs, built before they serve.

- ``all`` (the default): this process is the web role — HTTP, and the ``reload`` duty — and
  supervises a worker child (:mod:`.worker_process`) that runs every other duty. One unit,
  one main process for systemd (its notify socket and watchdog stay with the web process; a
  dead worker, or one alive but making no progress for ``ONCALL_WORKER_STALL_SECONDS``
  (:mod:`.liveness`), is restarted by its parent without taking intake down), the SQLite
  locks shared by inheritance, and wake-ups through the link rather than the database.
- ``web`` / ``worker``: one role each, for two units or two hosts; on PostgreSQL the web role
  wakes the workers with ``NOTIFY`` (:mod:`.wake`), and a worker serves ``/healthz``,
  ``/readyz`` and ``/metrics`` on its own ``ONCALL_LISTEN``.

Order, as before the split: the SQLite locks (before anything touches the database), the
configuration (a bad one refuses before the database is touched), the schema migrations —
except in ``oncall run``'s worker child, whose parent ran them: should a newer oncall migrate
meanwhile, the child's schema gate keeps it idle rather than failing to start —, the daemon.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from oncall import logs
from oncall.config.settings import Settings
from oncall.config.snapshot import Snapshot
from oncall.daemon.snapshots import load_configuration
from oncall.daemon.wake import NotifyListener, NotifyWaker, can_notify
from oncall.daemon.wiring import Daemon, new_instance_id, open_store
from oncall.daemon.worker_process import PRIVATE_ENV, ParentLink, WorkerProcess, link_pair, worker_argv
from oncall.store.db import make_engine
from oncall.store.instance_lock import InstanceLock
from oncall.worker_child import die_with_parent


@dataclass
class Started:
    daemon: Daemon
    locks: list[InstanceLock] = field(default_factory=list)
    """Released when the daemon ends."""
    inherited: list[InstanceLock] = field(default_factory=list)
    """The worker child's copies of its parent's locks: held open while it lives, never
    released (that would release the parent's)."""

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        for lock in self.inherited:
            lock.close_copy()


def _fork_worker(s: Settings, snapshot: Snapshot, instance: str,
                 locks: list[InstanceLock]) -> tuple[int, socket.socket] | Started | None:
    """Fork the first worker child: in the parent its pid and this end of its link; in the
    child, the worker's daemon (the locks' descriptors stay open in it, never released).
    ``None`` — the supervisor will spawn it — if some thread runs already: forking then is unsafe."""
    if threading.active_count() > 1:
        return None
    ours, theirs = link_pair()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        theirs.close()
        return pid, ours
    try:  # the child: from here on, never back into the parent's work
        ours.close()
        die_with_parent(parent)
        structlog.contextvars.bind_contextvars(process="worker")
        os.setsid()  # a terminal's Ctrl-C is the web process's to handle
        for name in PRIVATE_ENV:
            os.environ.pop(name, None)
        daemon = Daemon(s, engine=make_engine(s.database_url, idle_limit=s.failover), snapshot=snapshot,
                        web=False, worker=True,
                        instance_id=instance)
        _link(daemon, theirs.detach())
        return Started(daemon=daemon, inherited=locks)
    except BaseException:
        logs.get("oncall.daemon").exception("worker.failed_to_start")
        os._exit(70)


def _link(daemon: Daemon, fd: int) -> None:
    # The link closing means the web process died without stopping its worker: a crash of
    # the instance, which its worker shares at once (as PR_SET_PDEATHSIG would have it).
    # Each report carries the worker's proofs of progress, which its parent's watchdog judges.
    roles = daemon.roles
    roles.report_to(ParentLink(fd, on_wake=daemon.kick, on_heard=daemon.source_health.record_traffic,
                               report=roles.report, on_parent_gone=_die, watched=roles.transport_watch))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def start_daemon(s: Settings, role: str, *, now: datetime, config: str | None = None, link_fd: int | None = None,
                 instance_id: str | None = None) -> Started:
    """Build the daemon of ``role`` for this process (``link_fd``: ``oncall run``'s worker child,
    given its end of the link). With ``all``, the first worker child is forked here, warm —
    this process has imported everything and started no thread yet —, and builds its own
    daemon: in the child this returns the worker's. Raises ``ConfigError``,
    ``SQLAlchemyError`` and ``StoreError``."""
    instance = instance_id or new_instance_id()
    child = link_fd is not None
    # Every log line says which instance wrote it, and the worker child's which process.
    structlog.contextvars.bind_contextvars(instance=instance, **({"process": "worker"} if child else {}))
    web, worker = role in ("all", "web"), role in ("all", "worker")
    locks: list[InstanceLock] = []
    try:
        if not child:  # the child holds its parent's locks, inherited
            if web:
                locks.append(InstanceLock.acquire(s.database_url))
            if worker:
                locks.append(InstanceLock.acquire(s.database_url, worker=True))
        snapshot = load_configuration(s, now)
        engine = (make_engine(s.database_url, idle_limit=s.failover) if child
                  else open_store(s.database_url, s.failover))
        first: tuple[int, socket.socket] | None = None
        if role == "all":
            engine.dispose()  # no connection of this process's may cross into the child
            forked = _fork_worker(s, snapshot, instance, locks)
            if isinstance(forked, Started):
                return forked  # in the child
            first = forked
        # `oncall run` (all): the web role here, the worker in a child process.
        daemon = Daemon(s, engine=engine, snapshot=snapshot, web=web, worker=worker and role != "all",
                        instance_id=instance)
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    roles = daemon.roles
    if role == "all":
        keep = [fd for lock in locks if (fd := lock.fileno()) is not None]
        roles.supervise(WorkerProcess(worker_argv(config, os.getpid(), instance), keep_fds=keep,
                                      budget=s.shutdown_budget_seconds, first=first,
                                      stall_after=s.worker_stall_seconds))
    elif child:
        assert link_fd is not None
        _link(daemon, link_fd)
    elif role == "web" and can_notify(daemon.engine):
        roles.wake_with(NotifyWaker(daemon.engine))
    elif role == "worker" and can_notify(daemon.engine):
        roles.listen_with(NotifyListener(daemon.engine, daemon.kick))
    return Started(daemon=daemon, locks=locks)

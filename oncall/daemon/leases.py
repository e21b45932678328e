"""The lease keeper: this instance's named leases, and the duty runner's ``may_run`` guard.

Each singleton duty (each poller, write-back, hand-off notices, the silence monitor, the
dead-man ping…) runs only while this instance holds the lease named after it
(:mod:`oncall.store.leases`). ``ONCALL_FAILOVER_SECONDS`` (F, 15 s) bounds how long a duty
stays undone when the instance running it is killed, frozen or cut off from the database:

- a lease lasts ``3F/4`` and its holder renews it every ``F/4`` (a third of its life), from a
  thread of its own, so a duty that runs once a minute keeps its lease between runs;
- every other instance tries to take each lease it does not hold every ``F/4``, so an expired
  lease is taken at most ``F/4`` after it expires: at most F after the holder's last renewal.
  The taker runs the duty at once.

The holder counts its lease valid for ``3F/4`` from the moment it *sent* the statement that
granted it, on its own monotonic clock — never longer than the database does — and stops
starting runs once that has passed. A holder that wakes from a freeze finds its lease lapsed
on that clock, and the writes it had under way fail on their fencing token
(:class:`~oncall.store.leases.Fence`).

The guard also keeps every duty, singleton or not, from running while the schema gate is
closed (:mod:`.gate`), and the keeper lets its leases go when the gate closes or the daemon
drains, so another instance takes them at its next try rather than after they expire.

On SQLite (one instance: the instance lock) the same code runs over an exclusive lease store:
leases are always granted, on the host's clock, and tokens still fence the writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall import logs
from oncall.daemon.duties.base import Duty
from oncall.daemon.gate import SchemaGate
from oncall.daemon.threads import background
from oncall.metrics import Metrics
from oncall.store.leases import Fence, Grant, LeaseStore

log = logs.get("oncall.leases")


def lease_life(failover: timedelta) -> timedelta:
    """How long a lease lasts for a failover bound of ``failover``: three quarters of it."""
    return failover * 3 / 4


@dataclass(frozen=True, kw_only=True)
class LeaseView:
    """A lease this instance holds, as ``/readyz`` shows it."""

    name: str
    token: int
    expires_in: float
    """Seconds left on this instance's own (conservative) reckoning."""
    expires_at: datetime
    """The end of the lease in the database's time."""

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "token": self.token, "expires_in": round(self.expires_in, 3),
                "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True)
class _Held:
    grant: Grant
    valid_until: float  # monotonic
    renew_at: float  # monotonic


class LeaseKeeper:
    def __init__(self, store: LeaseStore, names: Iterable[str], *, failover: timedelta, gate: SchemaGate,
                 metrics: Metrics, on_acquired: Callable[[str], None] = lambda _name: None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.names: list[str] = []
        self.life = lease_life(failover)
        self.period = self.life / 3
        self.gate = gate
        self.metrics = metrics
        self.on_acquired = on_acquired
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._fences: dict[str, Fence] = {}
        self._busy: dict[str, threading.Lock] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.keep(names)

    @property
    def owner(self) -> str:
        return self.store.owner

    def keep(self, names: Iterable[str]) -> None:
        """The leases to keep: the singleton duties' names."""
        self.names = sorted(set(names))
        for name in self.names:
            self.metrics.leases_held.labels(name).set(0)

    def arm(self, duty: Duty) -> None:
        """Hand a singleton duty that writes under its lease (it has a ``fence``) its fence."""
        if duty.singleton and hasattr(duty, "fence"):
            duty.fence = self.fence(duty.name)

    # ---- what the duties see ----------------------------------------------------------------

    def fence(self, name: str) -> Fence:
        """The fence of the lease ``name``: what the duty holding it writes under."""
        with self._lock:
            fence = self._fences.get(name)
            if fence is None:
                fence = self._fences[name] = Fence(self.store, name, idle_limit=self.period, on_lost=self._fenced_out,
                                                   take=self._take_if_open)
            return fence

    def may_run(self, duty: Duty) -> bool:
        """The duty runner's guard: no duty while the schema gate is closed; a singleton duty
        only under its lease (taken or renewed here when due)."""
        if not self.gate.is_open():
            return False
        return not duty.singleton or self.ensure(duty.name)

    # ---- taking and keeping ------------------------------------------------------------------

    def ensure(self, name: str) -> bool:
        """Hold ``name`` now: True when it is ours and valid, renewing it first when due."""
        held = self._valid(name)
        if held is not None and self.monotonic() < held.renew_at:
            return True
        busy = self._busy_lock(name)
        if not busy.acquire(blocking=False):  # the keeper's thread is at it: go by what we know
            return held is not None
        try:
            return self._take(name)
        finally:
            busy.release()

    def tick(self) -> None:
        """One round: read the schema gate; if open, take every lease that is free and renew
        those due; if closed, let every lease go."""
        if not self.gate.refresh().open:
            self.release_all("the schema gate is closed")
            return
        for name in self.names:
            had = self._valid(name) is not None
            if self.ensure(name) and not had:
                self.on_acquired(name)

    def _take_if_open(self, name: str) -> bool:
        return self.gate.is_open() and self.ensure(name)

    def _take(self, name: str) -> bool:
        sent = self.monotonic()
        try:
            grant = self.store.acquire(name, self.life)
        except Exception as exc:  # the database is unreachable: keep what is still valid
            log.warning("lease.renew_failed", lease=name, error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            return self._valid(name) is not None
        if grant is None:
            self._lose(name, "another instance holds it")
            return False
        with self._lock:
            before = self._held.get(name)
            self._held[name] = _Held(grant=grant, valid_until=sent + self.life.total_seconds(),
                                     renew_at=sent + 0.9 * self.period.total_seconds())
            fence = self._fences.get(name)
        if fence is None:
            fence = self.fence(name)
        fence.token = grant.token
        if before is None or before.grant.token != grant.token:
            self.metrics.leases_held.labels(name).set(1)
            self.metrics.lease_acquisitions.labels(name).inc()
            log.info("lease.acquired", lease=name, fence=grant.token, owner=self.owner,
                     expires_at=grant.expires_at.isoformat())
        return True

    def _valid(self, name: str) -> _Held | None:
        """The lease if held and not lapsed on our clock; a lapsed one is lost here."""
        with self._lock:
            held = self._held.get(name)
        if held is None:
            return None
        if self.monotonic() >= held.valid_until:
            self._lose(name, "it lapsed before it was renewed (frozen, or the database out of reach)")
            return None
        return held

    def _lose(self, name: str, why: str) -> None:
        with self._lock:
            held = self._held.pop(name, None)
            fence = self._fences.get(name)
        if fence is not None:
            fence.token = None
        if held is None:
            return
        self.metrics.leases_held.labels(name).set(0)
        self.metrics.lease_losses.labels(name).inc()
        log.warning("lease.lost", lease=name, fence=held.grant.token, owner=self.owner, reason=why)

    def _fenced_out(self, name: str, token: int) -> None:
        """A write found the lease's token gone from the database."""
        with self._lock:
            held = self._held.get(name)
        if held is not None and held.grant.token == token:
            self._lose(name, f"its token {token} is no longer ours in the database")

    def _busy_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(name, threading.Lock())

    def release_all(self, why: str) -> None:
        """Let every lease go (a drain, the schema gate closing): others take them at once."""
        with self._lock:
            held = list(self._held.items())
        for name, h in held:
            try:
                self.store.release(name, h.grant.token)
            except Exception as exc:  # it will lapse on its own
                log.warning("lease.release_failed", lease=name, error=f"{type(exc).__name__}: {exc}")
            self._lose_quietly(name)
            log.info("lease.released", lease=name, fence=h.grant.token, reason=why)

    def _lose_quietly(self, name: str) -> None:
        with self._lock:
            self._held.pop(name, None)
            fence = self._fences.get(name)
        if fence is not None:
            fence.token = None
        self.metrics.leases_held.labels(name).set(0)

    # ---- what /readyz shows ---------------------------------------------------------------

    def view(self) -> list[LeaseView]:
        now = self.monotonic()
        with self._lock:
            held = sorted(self._held.items())
        return [LeaseView(name=name, token=h.grant.token, expires_in=max(0.0, h.valid_until - now),
                          expires_at=h.grant.expires_at) for name, h in held if now < h.valid_until]

    # ---- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Tick now and every third of a lease's life, from a thread of its own (the duties'
        threads may all be busy; renewals must not wait for them)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = background(self._loop, name="lease-keeper")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep renewing: a lost tick is a lapsed lease
                log.exception("lease.tick_failed")
            self._stop.wait(self.period.total_seconds())

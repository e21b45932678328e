"""Is each ticket source still talking to us? (no clock read: every call takes ``at``/``now``)

A silent watcher is the worst failure: a helpdesk that stopped delivering looks exactly like a
quiet night. Pollers report successes and failures, the webhook route reports traffic, and
:meth:`SourceHealth.silent_sources` lists sources that have been quiet longer than their
``silence_after`` so the daemon can page the admins.

With several instances (or ``oncall run``'s two processes) a webhook reaches one process, a poll
runs in another and the silence monitor in a third, so each process also writes what it heard
to the database (:class:`~oncall.store.source_activity.SourceActivity`) and reads every
process's there: :meth:`~SourceHealth.snapshot` and :meth:`~SourceHealth.silent_sources` are the
later of this process's instants and the stored ones. Writes are throttled to one per source
and kind every :data:`WRITE_EVERY` per process, so the stored instant may lag by that much and
intake pays one small write per source every few seconds, not one per webhook. A failed write is
logged and tried again at the next report; poll failures stay this process's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from oncall import logs
from oncall.store.source_activity import SourceActivity, Via

log = logs.get("oncall.sources")
WRITE_EVERY = timedelta(seconds=5)


@dataclass(frozen=True, kw_only=True)
class SourceStatus:
    source: str
    last_success: datetime | None = None
    last_traffic: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0

    @property
    def last_heard(self) -> datetime | None:
        """The later of the last successful poll and the last authenticated webhook."""
        known = [t for t in (self.last_success, self.last_traffic) if t is not None]
        return max(known) if known else None


class SourceHealth:
    """Per-source liveness; thread-safe (webhooks and pollers report from different threads)."""

    def __init__(self, silence_after: Mapping[str, timedelta | None], *, started_at: datetime,
                 activity: SourceActivity | None = None, write_every: timedelta = WRITE_EVERY) -> None:
        """``activity``: where every process's instants are shared (none: this process's only)."""
        if started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        self._silence_after = {k.lower(): v for k, v in silence_after.items()}
        self._started_at = started_at
        self._lock = threading.Lock()
        self._status: dict[str, SourceStatus] = {
            name: SourceStatus(source=name) for name in self._silence_after
        }
        self.activity = activity
        self._write_every = write_every
        self._written: dict[tuple[str, Via], datetime] = {}
        self.on_traffic: Callable[[str, datetime], None] | None = None
        """Told of each webhook's traffic too (the web process tells its worker's monitor)."""

    def _update(self, source: str, **changes: object) -> None:
        key = source.lower()
        with self._lock:
            current = self._status.get(key, SourceStatus(source=key))
            self._status[key] = replace(current, **changes)  # type: ignore[arg-type]

    def _write_due(self, source: str, via: Via, at: datetime) -> bool:
        """Whether this process writes ``at`` to the database now (at most every ``write_every``
        per source and kind); claimed here, so concurrent reports write once."""
        if self.activity is None:
            return False
        key = (source.lower(), via)
        with self._lock:
            last = self._written.get(key)
            if last is not None and last <= at < last + self._write_every:
                return False
            self._written[key] = at
            return True

    def store(self, source: str, via: Via, at: datetime) -> None:
        """Write what was heard to the database (after :meth:`record_traffic` said so); a failure
        is logged, and the next report writes again. Never raises."""
        if self.activity is None:
            return
        try:
            self.activity.record(source.lower(), via, at)
        except SQLAlchemyError as exc:
            log.warning("source.activity_not_stored", source=source, via=via,
                        error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            with self._lock:
                if self._written.get((source.lower(), via)) == at:
                    del self._written[(source.lower(), via)]

    def record_success(self, source: str, at: datetime) -> None:
        """A successful poll (from a poller's thread: written to the database here when due)."""
        self._update(source, last_success=at, consecutive_failures=0, last_error=None)
        if self._write_due(source, "poll", at):
            self.store(source, "poll", at)

    def record_failure(self, source: str, at: datetime, error: str) -> None:
        key = source.lower()
        with self._lock:
            current = self._status.get(key, SourceStatus(source=key))
            self._status[key] = replace(current, last_failure=at, last_error=error[:500],
                                        consecutive_failures=current.consecutive_failures + 1)

    def record_traffic(self, source: str, at: datetime) -> bool:
        """An authenticated webhook, in memory; True when the caller should now write it to the
        database with ``store(source, "webhook", at)`` (off the event loop: the webhook route
        runs it in a worker thread)."""
        self._update(source, last_traffic=at)
        if self.on_traffic is not None:
            self.on_traffic(source, at)
        return self._write_due(source, "webhook", at)

    def absorb(self, other: SourceStatus) -> None:
        """What another process heard of a source (the worker's polls): each instant kept if
        it is later than ours, the failure count with the latest failure or success."""
        key = other.source.lower()
        with self._lock:
            mine = self._status.get(key, SourceStatus(source=key))
            theirs, ours = (_later(s.last_failure, s.last_success) for s in (other, mine))
            newer = theirs is not None and (ours is None or theirs >= ours)
            self._status[key] = replace(
                mine, last_success=_later(mine.last_success, other.last_success),
                last_traffic=_later(mine.last_traffic, other.last_traffic),
                last_failure=_later(mine.last_failure, other.last_failure),
                last_error=other.last_error if newer else mine.last_error,
                consecutive_failures=other.consecutive_failures if newer else mine.consecutive_failures)

    def status(self, source: str) -> SourceStatus:
        """This process's own view of ``source`` (its polls' failures included)."""
        with self._lock:
            return self._status.get(source.lower(), SourceStatus(source=source.lower()))

    def snapshot(self) -> list[SourceStatus]:
        """Each source's status: this process's, with the instants every process stored when
        they are later (this process's alone when the database cannot be read)."""
        with self._lock:
            mine = sorted(self._status.values(), key=lambda s: s.source)
        stored = self._stored()
        return [_with_stored(status, stored.get(status.source)) for status in mine]

    def _stored(self) -> dict[str, tuple[datetime | None, datetime | None]]:
        if self.activity is None:
            return {}
        try:
            return {source: (h.last_poll, h.last_webhook) for source, h in self.activity.read().items()}
        except SQLAlchemyError as exc:
            log.warning("source.activity_not_read", error=f"{type(exc).__name__}")
            return {}

    def silent_sources(self, now: datetime) -> list[tuple[str, datetime]]:
        """``(source, since)`` for every source quiet for at least its ``silence_after``.

        ``since`` is the last time we heard from it, or the start of monitoring if never.
        """
        out: list[tuple[str, datetime]] = []
        for status in self.snapshot():
            limit = self._silence_after.get(status.source)
            if limit is None:
                continue
            since = status.last_heard or self._started_at
            if now - since >= limit:
                out.append((status.source, since))
        return out


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a is not None and b is not None else a or b


def _with_stored(status: SourceStatus, stored: tuple[datetime | None, datetime | None] | None) -> SourceStatus:
    if stored is None:
        return status
    last_poll, last_webhook = stored
    return replace(status, last_success=_later(status.last_success, last_poll),
                   last_traffic=_later(status.last_traffic, last_webhook))

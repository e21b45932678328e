"""Is each ticket source still talking to us? (no clock read: every call takes ``at``/``now``)

A silent watcher is the worst failure: a helpdesk that stopped delivering looks exactly like a
quiet night. Pollers report successes and failures, the webhook route reports traffic, and
:meth:`SourceHealth.silent_sources` lists sources that have been quiet longer than their
``silence_after`` so the daemon can page the admins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


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

    def __init__(self, silence_after: Mapping[str, timedelta | None], *, started_at: datetime
                 ) -> None:
        if started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        self._silence_after = {k.lower(): v for k, v in silence_after.items()}
        self._started_at = started_at
        self._lock = threading.Lock()
        self._status: dict[str, SourceStatus] = {
            name: SourceStatus(source=name) for name in self._silence_after
        }
        self.on_traffic: Callable[[str, datetime], None] | None = None
        """Told of each webhook's traffic too (the web process tells its worker's monitor)."""

    def _update(self, source: str, **changes: object) -> None:
        key = source.lower()
        with self._lock:
            current = self._status.get(key, SourceStatus(source=key))
            self._status[key] = replace(current, **changes)  # type: ignore[arg-type]

    def record_success(self, source: str, at: datetime) -> None:
        self._update(source, last_success=at, consecutive_failures=0, last_error=None)

    def record_failure(self, source: str, at: datetime, error: str) -> None:
        key = source.lower()
        with self._lock:
            current = self._status.get(key, SourceStatus(source=key))
            self._status[key] = replace(current, last_failure=at, last_error=error[:500],
                                        consecutive_failures=current.consecutive_failures + 1)

    def record_traffic(self, source: str, at: datetime) -> None:
        self._update(source, last_traffic=at)
        if self.on_traffic is not None:
            self.on_traffic(source, at)

    def absorb(self, other: SourceStatus) -> None:
        """What another process heard of a source (the worker's polls): each instant kept if
        it is later than ours, the failure count with the latest failure or success."""
        key = other.source.lower()

        def later(a: datetime | None, b: datetime | None) -> datetime | None:
            return max(a, b) if a is not None and b is not None else a or b

        with self._lock:
            mine = self._status.get(key, SourceStatus(source=key))
            theirs, ours = (later(s.last_failure, s.last_success) for s in (other, mine))
            newer = theirs is not None and (ours is None or theirs >= ours)
            self._status[key] = replace(
                mine, last_success=later(mine.last_success, other.last_success),
                last_traffic=later(mine.last_traffic, other.last_traffic),
                last_failure=later(mine.last_failure, other.last_failure),
                last_error=other.last_error if newer else mine.last_error,
                consecutive_failures=other.consecutive_failures if newer else mine.consecutive_failures)

    def status(self, source: str) -> SourceStatus:
        with self._lock:
            return self._status.get(source.lower(), SourceStatus(source=source.lower()))

    def snapshot(self) -> list[SourceStatus]:
        with self._lock:
            return sorted(self._status.values(), key=lambda s: s.source)

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

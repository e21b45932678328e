"""Pollers for helpdesks that cannot reach the daemon: what every helpdesk's poller shares.

Each kind's poller (Zendesk incremental export in :mod:`oncall.sources.zendesk`, Freshdesk's
ticket listing in :mod:`oncall.sources.freshdesk`) subclasses :class:`BasePoller` and is named
by its kind's record (:mod:`oncall.sources.registry`). Each poller is driven from outside (an
APScheduler job or :func:`run_poller`): ``poll_once(now)`` fetches what changed, hands every
ticket to the :class:`TicketSink`, persists its cursor after each page (so a crash re-reads at
most one page; the sink drops the repeats), reports to :class:`SourceHealth`, and says when to
poll next — the interval, a short pause while pages remain, ``Retry-After`` on 429, or an
exponential backoff after errors.

No ticket is skipped silently. Values oncall does not know (a custom status, a new priority)
never stop a ticket (see :mod:`oncall.tickets`); a ticket that truly cannot be read (no id, an
unreadable timestamp, not an object) is logged as an error and handed to ``on_unreadable``,
which the daemon turns into a metric and an admin alert. The stream then moves on: one odd
ticket must not stall every other ticket behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from oncall.errors import LeaseLost, SourceError
from oncall.interfaces import CursorStore, TicketSink
from oncall.numbers import ascii_int
from oncall.sources.health import SourceHealth
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.tickets import Ticket

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=1)
# Zendesk allows 10 export requests a minute: keep paging, but no faster than that
PAGE_PAUSE = timedelta(seconds=6)

MappingSource = SourceMapping | None | Callable[[], SourceMapping | None]


@dataclass(frozen=True, kw_only=True)
class UnreadableTicket:
    """A polled ticket that could not be read at all; ``field`` and ``reason`` say why."""

    source: str
    ticket_id: str | None
    field: str
    reason: str
    at: datetime


OnUnreadable = Callable[[UnreadableTicket], None]


@dataclass(frozen=True, kw_only=True)
class PollResult:
    tickets_accepted: int
    next_delay: timedelta
    ok: bool = True
    error: str | None = None


class RateLimited(SourceError):
    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited; retry after {int(retry_after.total_seconds())}s")


def retry_after(value: str | None, now: datetime, default: timedelta) -> timedelta:
    """``Retry-After`` as seconds or an HTTP date; unreadable or absent → ``default``."""
    if not value:
        return default
    value = value.strip()
    seconds = ascii_int(value, max_digits=9)
    if seconds is not None:
        return timedelta(seconds=seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:
        return default
    delay: timedelta = when - now
    return delay if delay > timedelta(0) else timedelta(0)


def backoff(interval: timedelta, failures: int, ceiling: timedelta) -> timedelta:
    """interval × 2^(failures-1), capped."""
    factor = 1 << min(max(failures - 1, 0), 20)
    return min(interval * factor, ceiling)


class BasePoller:
    """Shared error handling, backoff and bookkeeping; subclasses implement :meth:`_poll`."""

    def __init__(self, *, source: str, settings: SourceSettings, client: httpx.Client,
                 sink: TicketSink, cursors: CursorStore, health: SourceHealth | None = None,
                 mapping: MappingSource = None, max_pages: int = 10,
                 on_unreadable: OnUnreadable | None = None) -> None:
        if settings.base_url is None:
            raise SourceError(f"source {source!r}: polling needs base_url")
        self.source = source.lower()
        self.settings = settings
        self.base_url = settings.base_url
        self.client = client
        self.sink = sink
        self.cursors = cursors
        self.health = health
        self._mapping = mapping
        self.max_pages = max_pages
        self.on_unreadable = on_unreadable
        self.interval = settings.poll_interval or DEFAULT_INTERVAL
        self.failures = 0
        self._accepted = 0

    @property
    def cursor_name(self) -> str:
        return f"poll:{self.source}"

    def mapping(self) -> SourceMapping | None:
        return self._mapping() if callable(self._mapping) else self._mapping

    def poll_once(self, now: datetime) -> PollResult:
        """One poll. Never raises: failures are logged, counted and turned into a delay."""
        self._accepted = 0
        try:
            more = self._poll(now)
        except RateLimited as exc:
            return self._failed(now, str(exc), max(exc.retry_after, timedelta(seconds=1)))
        except LeaseLost as exc:  # another instance polls this source now: not a failure of the source
            log.warning("poll.lease_lost", source=self.source, reason=str(exc))
            return PollResult(tickets_accepted=self._accepted, next_delay=self.interval)
        except (httpx.HTTPError, SourceError, ValueError) as exc:
            return self._failed(now, f"{type(exc).__name__}: {exc}", None)
        except Exception as exc:  # the sink or cursor store failed: back off, keep the cursor
            log.exception("poll.unexpected_error", source=self.source)
            return self._failed(now, f"{type(exc).__name__}: {exc}", None)
        self.failures = 0
        if self.health is not None:
            self.health.record_success(self.source, now)
        return PollResult(tickets_accepted=self._accepted,
                          next_delay=PAGE_PAUSE if more else self.interval)

    def _failed(self, now: datetime, error: str, delay: timedelta | None) -> PollResult:
        self.failures += 1
        if self.health is not None:
            self.health.record_failure(self.source, now, error)
        log.warning("poll.failed", source=self.source, error=error, failures=self.failures)
        if delay is None:
            delay = backoff(self.interval, self.failures, self.settings.max_backoff)
        return PollResult(tickets_accepted=self._accepted, next_delay=delay, ok=False,
                          error=error)

    def _get(self, url: str, params: dict[str, Any], auth: httpx.Auth, now: datetime) -> Any:
        response = self.client.get(url, params=params, auth=auth,
                                   headers={"Accept": "application/json"})
        if response.status_code == 429:
            raise RateLimited(retry_after(response.headers.get("Retry-After"), now,
                                          self.interval))
        if response.status_code in (401, 403):
            raise SourceError(f"{self.source}: credentials refused (HTTP {response.status_code})")
        if response.status_code >= 400:
            raise SourceError(f"{self.source}: HTTP {response.status_code} from {url}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.source}: response is not JSON") from None

    def _unreadable(self, raw: object, field: str, reason: str, now: datetime) -> None:
        """Report a ticket that cannot be read; never raises (polling goes on)."""
        ref = raw.get("id") if isinstance(raw, dict) else None
        ticket_id = str(ref)[:200] if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None
        log.error("poll.ticket_unreadable", source=self.source, ticket_id=ticket_id, field=field,
                  reason=reason)
        if self.on_unreadable is None:
            return
        try:
            self.on_unreadable(UnreadableTicket(source=self.source, ticket_id=ticket_id,
                                                field=field, reason=reason, at=now))
        except Exception:  # reporting must not stall the stream; the log line above stands
            log.exception("poll.unreadable_report_failed", source=self.source)

    def _deliver(self, ticket: Ticket, now: datetime) -> None:
        key = f"poll:{ticket.id}:{ticket.last_change.isoformat()}"
        if self.sink.accept(self.source, key, ticket, now):
            self._accepted += 1

    def _poll(self, now: datetime) -> bool:
        """Fetch and deliver; return True when more pages are waiting."""
        raise NotImplementedError


def run_poller(poller: BasePoller, *, clock: Callable[[], datetime],
               wait: Callable[[float], bool]) -> None:
    """Poll until ``wait(seconds)`` returns True (e.g. ``threading.Event().wait``)."""
    while True:
        result = poller.poll_once(clock())
        if wait(result.next_delay.total_seconds()):
            return

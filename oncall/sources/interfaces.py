"""What the sources package needs from the rest of oncall: a durable ticket sink and cursors.

The store package implements both on the inbox table; tests use in-memory fakes
(:mod:`oncall.testing.fake_helpdesk_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oncall.tickets import Ticket


class TicketSink(Protocol):
    """Accepts parsed tickets durably (the inbox)."""

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        """Store the ticket event; return ``False`` when ``(source, event_key)`` was seen before.

        Must have committed before it returns: the webhook answers 2xx right after.
        Raises any exception when it cannot store (the webhook then answers 503 so the
        helpdesk retries, and the poller does not advance its cursor).
        """
        ...


class CursorStore(Protocol):
    """Named poller cursors that survive restarts."""

    def get_cursor(self, name: str) -> str | None:
        """The stored value, or ``None`` when the cursor was never set."""
        ...

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        """Persist ``value`` (committed before return). Raises on storage failure."""
        ...


@dataclass(frozen=True, kw_only=True)
class ParsedEvent:
    """One parsed webhook or polled ticket: the ticket and the key that makes retries idempotent."""

    ticket: Ticket
    event_key: str

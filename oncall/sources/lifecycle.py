"""What a ticket event means compared with what oncall last processed for that ticket (pure).

========================  ====================================================================
event                     when
========================  ====================================================================
``created``               first sight of an open ticket → evaluate
``closed``                now solved/closed (or first seen already closed) → cancel paging
``reopened``              solved/closed/pending → new/open/waiting-for-support → evaluate as new
``priority_raised``       severity (or, at equal severity, priority) went up → evaluate again
``priority_lowered``      went down → re-evaluate; paging stops when below the rule
``updated``               newer, but nothing that matters changed
``duplicate``             same ``updated_at`` and same state (a webhook and a poll of one change)
``stale``                 older than what was already processed (out of order) → ignore
========================  ====================================================================

Severity dominates priority because it is the customer-impact field support staff downgrade
when a "SEV-1" turns out to be a question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from oncall.tickets import Priority, Severity, Status, Ticket, parse_ticket


class Event(StrEnum):
    CREATED = "created"
    PRIORITY_RAISED = "priority_raised"
    PRIORITY_LOWERED = "priority_lowered"
    REOPENED = "reopened"
    CLOSED = "closed"
    UPDATED = "updated"
    STALE = "stale"
    DUPLICATE = "duplicate"

    @property
    def needs_evaluation(self) -> bool:
        """Whether the paging rules must look at the ticket again."""
        return self in (Event.CREATED, Event.PRIORITY_RAISED, Event.PRIORITY_LOWERED,
                        Event.REOPENED)


@dataclass(frozen=True, kw_only=True)
class TicketState:
    """The parts of a ticket's last processed version that lifecycle decisions compare."""

    priority: Priority
    severity: Severity | None
    status: Status
    updated_at: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketState:
        return cls(priority=ticket.priority, severity=ticket.severity, status=ticket.status,
                   updated_at=ticket.last_change)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TicketState | None:
        """From a stored ticket's JSON (``Inbox.last_ticket_state``); ``None`` stays ``None``.

        Raises :class:`TicketError` if the stored JSON is not a valid ticket.
        """
        return None if data is None else cls.of(parse_ticket(data))


_WAITING = frozenset({Status.SOLVED, Status.CLOSED, Status.PENDING})
_ACTIVE = frozenset({Status.NEW, Status.OPEN, Status.WAITING_FOR_SUPPORT})


def _urgency(severity: Severity | None, priority: Priority) -> tuple[int, int]:
    return (severity.rank if severity is not None else 0, priority.rank)


def classify(previous: TicketState | None, ticket: Ticket) -> Event:
    """Classify ``ticket`` against the last processed state of the same ticket."""
    current = TicketState.of(ticket)
    if previous is None:
        return Event.CLOSED if current.status.is_closed else Event.CREATED
    if current.updated_at < previous.updated_at:
        return Event.STALE
    if current == previous:
        return Event.DUPLICATE
    if previous.status in _WAITING and current.status in _ACTIVE:
        return Event.REOPENED
    if current.status.is_closed:
        return Event.UPDATED if previous.status.is_closed else Event.CLOSED
    before = _urgency(previous.severity, previous.priority)
    after = _urgency(current.severity, current.priority)
    if after > before:
        return Event.PRIORITY_RAISED
    if after < before:
        return Event.PRIORITY_LOWERED
    return Event.UPDATED

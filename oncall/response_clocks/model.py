"""Response clocks, pure: when a ticket's first or next response is due, and whether it came.

Each open ticket has one running clock at a time:

* the **first-response** clock starts when the ticket is created;
* support **responds** when the source says so (``SourceMapping.responded_when``): a public
  agent reply at or after the clock's start (``agent_reply``), or the ticket leaving ``new``
  (the first response) or being set pending (any response) (``left_new``);
* the customer **writes again** (``customer_replied_at`` later than the last response, or a
  pending ticket made active again): the **next-response** clock starts from that message —
  "reply time is counted beginning from the last received email" — and a further message
  before support answered restarts it from the latest one;
* a changed priority re-reads the target (from the same start);
* a solved or closed ticket has no clock.

Each clock has a due instant (the matching response target's ``first_response`` or
``next_response``, on its business or calendar clock) and a warning instant when
``warn_share`` of that target is used. :func:`advance` is the whole state machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from oncall.desks import business_time
from oncall.desks.model import Desk
from oncall.rules import ResponseClock, ResponseTarget, business_duration
from oncall.sources.settings import ResponseSignal
from oncall.tickets import Priority, Status, Ticket

_ACTIVE = frozenset({Status.NEW, Status.OPEN, Status.WAITING_FOR_SUPPORT})


class ClockKind(StrEnum):
    FIRST = "first"
    NEXT = "next"


@dataclass(frozen=True, kw_only=True)
class Due:
    """When a clock's response is due and when to warn; None: no target applies."""

    target: str
    due_at: datetime
    warn_at: datetime
    warn_after_hours: str | None = None


# (ticket, first?, start) → when its response is due; supplied by the caller (it knows the
# configuration and the ticket's desk).
DueFor = Callable[[Ticket, bool, datetime], Due | None]


@dataclass(frozen=True, kw_only=True)
class Clock:
    """A ticket's running (or answered) response clock."""

    source: str
    ticket_id: str
    desk: str
    priority: Priority
    customer: str | None
    kind: ClockKind
    started_at: datetime
    due: Due | None
    status: Status
    responded_at: datetime | None = None
    warned_at: datetime | None = None
    missed_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.responded_at is None and self.due is not None


def due_for(desk: Desk, target: ResponseTarget, start: datetime, *, first: bool) -> Due | None:
    """The due and warning instants of ``target`` from ``start``; None when it sets no time."""
    duration = target.first_response if first else target.next_response
    if duration is None:
        return None
    warn = duration * target.warn_share
    if target.clock is ResponseClock.CALENDAR:
        # Real elapsed time: `+` on a local zone's wall clock is wrong across a DST change.
        utc = start.astimezone(UTC)
        due_at, warn_at = (utc + duration).astimezone(desk.timezone), (utc + warn).astimezone(desk.timezone)
    else:
        due_at = business_time.add_business_time(desk, start, business_duration(desk, duration))
        warn_at = business_time.add_business_time(desk, start, business_duration(desk, duration) * target.warn_share)
    return Due(target=target.name, due_at=due_at, warn_at=warn_at, warn_after_hours=target.warn_after_hours)


def _responded(clock: Clock, ticket: Ticket, signals: tuple[ResponseSignal, ...]) -> datetime | None:
    """When support responded to the running clock, if this version of the ticket says so."""
    replied = ticket.agent_replied_at
    if ResponseSignal.AGENT_REPLY in signals and replied is not None and replied >= clock.started_at:
        return replied
    if ResponseSignal.LEFT_NEW in signals and ticket.status != clock.status:
        if ticket.status is Status.PENDING or (clock.kind is ClockKind.FIRST and clock.status is Status.NEW
                                                and ticket.status is not Status.NEW):
            return max(ticket.last_change, clock.started_at)
    return None


def _customer_wrote(clock: Clock, ticket: Ticket) -> datetime | None:
    """When the customer wrote again after the clock's last response (or start), if they did."""
    since = clock.responded_at or clock.started_at
    wrote = ticket.customer_replied_at
    if wrote is not None and wrote > since and (clock.responded_at is not None or clock.kind is ClockKind.NEXT):
        return wrote
    if clock.status is Status.PENDING and ticket.status in _ACTIVE and ticket.last_change > since:
        return ticket.last_change  # made active again by the customer's answer
    return None


def advance(clock: Clock | None, ticket: Ticket, desk: str, signals: tuple[ResponseSignal, ...],
            due: DueFor) -> Clock | None:
    """The clock after this version of ``ticket`` (None: the ticket has no clock)."""
    if ticket.status.is_closed:
        return None
    if clock is None:
        clock = Clock(source=ticket.source, ticket_id=ticket.id, desk=desk, priority=ticket.priority,
                      customer=ticket.customer, kind=ClockKind.FIRST, started_at=ticket.created_at,
                      due=due(ticket, True, ticket.created_at), status=Status.NEW)
    elif ticket.priority is not clock.priority and clock.responded_at is None:
        # a changed priority may change the target: due again from the same start
        clock = replace(clock, due=due(ticket, clock.kind is ClockKind.FIRST, clock.started_at))
    wrote = _customer_wrote(clock, ticket)
    if wrote is not None:
        clock = Clock(source=clock.source, ticket_id=clock.ticket_id, desk=desk, priority=ticket.priority,
                      customer=ticket.customer, kind=ClockKind.NEXT, started_at=wrote,
                      due=due(ticket, False, wrote), status=clock.status)
    if clock.responded_at is None:
        responded = _responded(clock, ticket, signals)
        if responded is not None:
            clock = replace(clock, responded_at=responded)
    return replace(clock, status=ticket.status, priority=ticket.priority, customer=ticket.customer)


@dataclass(frozen=True, kw_only=True)
class Alarm:
    """What a running clock calls for at an instant."""

    warn: bool
    miss: bool


def alarm(clock: Clock, now: datetime) -> Alarm:
    """Whether ``clock`` needs its warning sent or its miss recorded at ``now``."""
    if not clock.running or clock.due is None:
        return Alarm(warn=False, miss=False)
    return Alarm(warn=clock.warned_at is None and now >= clock.due.warn_at,
                 miss=clock.missed_at is None and now >= clock.due.due_at)


def at_risk(clock: Clock, now: datetime) -> bool:
    """Running and past its warning instant (or its due instant)."""
    return clock.running and clock.due is not None and now >= clock.due.warn_at


def remaining(clock: Clock, now: datetime) -> timedelta | None:
    return None if clock.due is None else clock.due.due_at - now

"""Lifecycle classification table, including out-of-order and repeated events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.sources.lifecycle import Event, TicketState, classify
from oncall.tickets import Priority, Severity, Status, Ticket

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)

P, S, St = Priority, Severity, Status


def state(priority: Priority = P.URGENT, severity: Severity | None = S.SEV1,
          status: Status = St.OPEN, at: datetime = T0) -> TicketState:
    return TicketState(priority=priority, severity=severity, status=status, updated_at=at)


def ticket(priority: Priority = P.URGENT, severity: Severity | None = S.SEV1,
           status: Status = St.OPEN, at: datetime = LATER) -> Ticket:
    return Ticket(id="1", created_at=T0 - timedelta(hours=1), updated_at=at,
                  priority=priority, severity=severity, status=status)


CASES = [
    ("first sight", None, ticket(), Event.CREATED),
    ("first sight already solved", None, ticket(status=St.SOLVED), Event.CLOSED),
    ("severity raised", state(severity=S.SEV3), ticket(severity=S.SEV1), Event.PRIORITY_RAISED),
    ("severity appears", state(severity=None), ticket(severity=S.SEV2), Event.PRIORITY_RAISED),
    ("priority raised, same severity", state(priority=P.HIGH), ticket(priority=P.URGENT),
     Event.PRIORITY_RAISED),
    ("misused SEV-1 downgraded", state(), ticket(severity=S.SEV3), Event.PRIORITY_LOWERED),
    ("severity dominates priority", state(priority=P.LOW, severity=S.SEV2),
     ticket(priority=P.URGENT, severity=S.SEV3), Event.PRIORITY_LOWERED),
    ("solved", state(), ticket(status=St.SOLVED), Event.CLOSED),
    ("closed", state(status=St.PENDING), ticket(status=St.CLOSED), Event.CLOSED),
    ("solved then closed", state(status=St.SOLVED), ticket(status=St.CLOSED), Event.UPDATED),
    ("customer reply reopens closed ticket", state(status=St.CLOSED),
     ticket(status=St.WAITING_FOR_SUPPORT), Event.REOPENED),
    ("reopened from solved to open", state(status=St.SOLVED), ticket(status=St.OPEN),
     Event.REOPENED),
    ("pending answered by customer", state(status=St.PENDING), ticket(status=St.NEW),
     Event.REOPENED),
    ("reopen beats a lower priority", state(status=St.CLOSED),
     ticket(status=St.OPEN, severity=S.SEV4), Event.REOPENED),
    ("open to pending", state(), ticket(status=St.PENDING), Event.UPDATED),
    ("nothing that matters", state(), ticket(), Event.UPDATED),
    ("same change twice (webhook + poll)", state(at=LATER), ticket(at=LATER), Event.DUPLICATE),
    ("same instant, different state", state(at=LATER, severity=S.SEV2), ticket(at=LATER),
     Event.PRIORITY_RAISED),
    ("out of order: older than processed", state(status=St.SOLVED),
     ticket(status=St.OPEN, at=EARLIER), Event.STALE),
    ("out of order raise is still stale", state(severity=S.SEV4),
     ticket(severity=S.SEV1, at=EARLIER), Event.STALE),
]


@pytest.mark.parametrize(("previous", "current", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(previous: TicketState | None, current: Ticket, expected: Event) -> None:
    assert expected == classify(previous, current)


def test_state_of_ticket_without_updated_at_uses_created_at() -> None:
    t = Ticket(id="1", created_at=T0)
    assert T0 == TicketState.of(t).updated_at


def test_timezones_compare_as_instants() -> None:
    berlin = LATER.astimezone(ZoneInfo("Europe/Berlin"))
    assert Event.DUPLICATE == classify(state(at=LATER), ticket(at=berlin))


@pytest.mark.parametrize(("event", "evaluate"), [
    (Event.CREATED, True), (Event.REOPENED, True), (Event.PRIORITY_RAISED, True),
    (Event.PRIORITY_LOWERED, True), (Event.CLOSED, False), (Event.STALE, False),
    (Event.DUPLICATE, False), (Event.UPDATED, False)])
def test_needs_evaluation(event: Event, evaluate: bool) -> None:
    assert evaluate == event.needs_evaluation

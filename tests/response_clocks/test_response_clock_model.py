"""Response clocks as a state machine of ticket versions (pure): first and next response,
what counts as support's response per source, the next clock counted from the customer's last
message, and due and warning instants across DST changes and holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from oncall.desks.model import Desk
from oncall.response_clocks.model import Clock, ClockKind, Due, advance, alarm, due_for
from oncall.rules import ResponseTarget
from oncall.sources.settings import ResponseSignal
from oncall.tickets import Ticket, parse_ticket

NY = ZoneInfo("America/New_York")
DESK = Desk.model_validate({"id": "east", "timezone": "America/New_York", "hours": {"mon-fri": "08:00-16:00"},
                            "holidays": {"country": "US", "only": ["Labor Day"], "observed": False}})
BOTH = (ResponseSignal.AGENT_REPLY, ResponseSignal.LEFT_NEW)
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=NY)  # a Tuesday, the desk open


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def version(status: str = "new", changed: float = 0, **fields: Any) -> Ticket:
    data = {"id": "T-1", "source": "zendesk", "priority": "urgent", "status": status, "customer": "acme",
            "created_at": T0.isoformat(), "updated_at": at(changed).isoformat()}
    data.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()})
    return parse_ticket(data)


def due(_ticket: Ticket, first: bool, start: datetime) -> Due:
    """Seed 000's Urgent row on a calendar clock: first response 2 h, next 4 h."""
    span = timedelta(hours=2 if first else 4)
    return Due(target="urgent", due_at=start + span, warn_at=start + span * 0.75)


def run(versions: list[Ticket], signals: tuple[ResponseSignal, ...] = BOTH) -> Clock | None:
    clock: Clock | None = None
    for v in versions:
        clock = advance(clock, v, "east", signals, due)
    return clock


@dataclass(frozen=True)
class Case:
    versions: list[Ticket]
    kind: ClockKind | None
    started: datetime | None
    responded: datetime | None
    signals: tuple[ResponseSignal, ...] = BOTH


CASES = {
    "a new ticket starts the first-response clock at its creation":
        Case([version()], ClockKind.FIRST, T0, None),
    "a public agent reply answers it":
        Case([version(), version(changed=1, agent_replied_at=at(1))], ClockKind.FIRST, T0, at(1)),
    "the ticket leaving new answers the first response":
        Case([version(), version("open", changed=0.5)], ClockKind.FIRST, T0, at(0.5)),
    "leaving new does not count where the source's mapping says only agent replies do":
        Case([version(), version("open", changed=0.5)], ClockKind.FIRST, T0, None, (ResponseSignal.AGENT_REPLY,)),
    "the customer writing again starts the next-response clock from that message":
        Case([version(), version("open", 1, agent_replied_at=at(1)),
              version("open", 3, agent_replied_at=at(1), customer_replied_at=at(3))], ClockKind.NEXT, at(3), None),
    "a second customer message before support answered counts from the last one":
        Case([version(), version("open", 1, agent_replied_at=at(1)),
              version("open", 3, agent_replied_at=at(1), customer_replied_at=at(3)),
              version("open", 5, agent_replied_at=at(1), customer_replied_at=at(5))], ClockKind.NEXT, at(5), None),
    "the customer writing before the first response keeps the first clock":
        Case([version(), version("new", 1, customer_replied_at=at(1))], ClockKind.FIRST, T0, None),
    "a pending ticket the customer answers starts the next clock":
        Case([version(), version("pending", 1), version("open", 6)], ClockKind.NEXT, at(6), None),
    "setting it pending answers the next response":
        Case([version(), version("pending", 1), version("open", 6), version("pending", 7)],
             ClockKind.NEXT, at(6), at(7)),
    "a solved ticket has no clock": Case([version(), version("solved", 1)], None, None, None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_response_clock_follows_the_ticket(case: Case) -> None:
    clock = run(case.versions, case.signals)
    got = None if clock is None else (clock.kind, clock.started_at, clock.responded_at)
    want = None if case.kind is None else (case.kind, case.started, case.responded)
    assert want == got


def test_the_next_clock_is_due_by_the_next_response_target() -> None:
    clock = run([version(), version("open", 1, agent_replied_at=at(1)),
                 version("open", 3, agent_replied_at=at(1), customer_replied_at=at(3))])
    assert clock is not None and clock.due is not None
    assert (at(7), at(6)) == (clock.due.due_at, clock.due.warn_at)


def test_a_warning_and_a_miss_fall_due_at_their_instants() -> None:
    clock = run([version()])
    assert clock is not None
    assert [(False, False), (True, False), (True, True)] == [
        (a.warn, a.miss) for a in (alarm(clock, at(1.49)), alarm(clock, at(1.5)), alarm(clock, at(2)))]


TARGETS = {
    "calendar 4h over the fall-back night: real hours": (
        {"name": "t", "first_response": "4h", "clock": "calendar"}, datetime(2026, 10, 31, 23, 0, tzinfo=NY),
        "2026-11-01T02:00:00-05:00", "2026-11-01T01:00:00-05:00"),
    "business 8h from Friday 15:00 over the spring-forward weekend": (
        {"name": "t", "first_response": "8h"}, datetime(2026, 3, 6, 15, 0, tzinfo=NY),
        "2026-03-09T15:00:00-04:00", "2026-03-09T13:00:00-04:00"),
    "business 2h from Friday 15:00 before Labor Day: Tuesday": (
        {"name": "t", "first_response": "2h"}, datetime(2026, 9, 4, 15, 0, tzinfo=NY),
        "2026-09-08T09:00:00-04:00", "2026-09-08T08:30:00-04:00"),
    "warn_share 0.5": (
        {"name": "t", "first_response": "2h", "warn_share": 0.5}, datetime(2026, 11, 24, 9, 0, tzinfo=NY),
        "2026-11-24T11:00:00-05:00", "2026-11-24T10:00:00-05:00"),
}


@pytest.mark.parametrize(("target", "start", "due_at", "warn_at"), TARGETS.values(), ids=TARGETS.keys())
def test_due_and_warning_instants(target: dict[str, Any], start: datetime, due_at: str, warn_at: str) -> None:
    found = due_for(DESK, ResponseTarget.model_validate(target), start, first=True)
    assert found is not None
    # compared in UTC: an instant in a repeated hour never equals one in another zone (PEP 495)
    assert (datetime.fromisoformat(due_at).astimezone(UTC), datetime.fromisoformat(warn_at).astimezone(UTC)) == (
        found.due_at.astimezone(UTC), found.warn_at.astimezone(UTC))

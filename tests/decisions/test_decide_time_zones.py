"""A decision depends on the instant only: ``now`` in UTC, in the desk's zone or in any other
zone gives the same answer, and calendar-clock response targets count real elapsed time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.config.loader import load
from oncall.config.snapshot import Snapshot
from oncall.desks import next_open
from oncall.rules import ResponseTarget, TicketEvent, decide, desk_for, facts_for, response_due
from oncall.tickets import Ticket, parse_ticket

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


@cache
def snapshot(name: str) -> Snapshot:
    return load(EXAMPLES / name, now=datetime(2026, 11, 25, 12, tzinfo=UTC))


def ticket(**fields: Any) -> Ticket:
    base = {"id": "T-1", "source": "generic", "subject": "Production down", "status": "new",
            "created_at": "2026-11-25T00:00:00Z", "environment": "production"}
    return parse_ticket({**base, **fields})


def with_targets(name: str, *targets: dict[str, Any]) -> Snapshot:
    """An example's configuration with these response targets instead of its own."""
    return replace(snapshot(name), response_targets=tuple(ResponseTarget.model_validate(t) for t in targets),
                   _cache={})


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- calendar clock: real elapsed time across DST changes ------------------------------------

@dataclass(frozen=True)
class CalendarCase:
    now: datetime
    first_response: str
    respond_by: datetime


CALENDAR_CASES = [
    pytest.param(CalendarCase(ny(2026, 11, 1, 1, 30), "1h", utc(2026, 11, 1, 6, 30)),
                 id="fall-back: 1h from 01:30 EDT is 01:30 EST"),
    pytest.param(CalendarCase(ny(2026, 11, 1, 1, 10), "1h", utc(2026, 11, 1, 6, 10)),
                 id="fall-back: 1h from 01:10 EDT is 01:10 EST"),
    pytest.param(CalendarCase(ny(2026, 11, 1, 1, 30, fold=1), "1h", utc(2026, 11, 1, 7, 30)),
                 id="fall-back: 1h from 01:30 EST is 02:30 EST"),
    pytest.param(CalendarCase(ny(2026, 10, 31, 12), "1d", utc(2026, 11, 1, 16)),
                 id="fall-back: 1d from Saturday noon EDT is Sunday 11:00 EST"),
    pytest.param(CalendarCase(ny(2027, 3, 14, 1, 30), "2h", utc(2027, 3, 14, 8, 30)),
                 id="spring-forward: 2h from 01:30 EST is 04:30 EDT"),
    pytest.param(CalendarCase(ny(2027, 3, 13, 12), "1d", utc(2027, 3, 14, 17)),
                 id="spring-forward: 1d from Saturday noon EST is Sunday 13:00 EDT"),
    pytest.param(CalendarCase(ny(2026, 11, 8, 1, 30), "1h", utc(2026, 11, 8, 7, 30)),
                 id="ordinary night"),
    pytest.param(CalendarCase(utc(2026, 11, 1, 5, 30), "1h", utc(2026, 11, 1, 6, 30)),
                 id="fall-back, now given in UTC"),
    pytest.param(CalendarCase(datetime(2026, 11, 1, 10, 30, tzinfo=LONDON), "1h", utc(2026, 11, 1, 11, 30)),
                 id="fall-back in New York, now given in London"),
]


@pytest.mark.parametrize("case", CALENDAR_CASES)
def test_calendar_clock_counts_real_elapsed_time(case: CalendarCase) -> None:
    snap = with_targets("eastern-emergency",
                        {"name": "calendar", "first_response": case.first_response, "clock": "calendar"})
    d = decide(ticket(customer="acme", priority="urgent"), TicketEvent.CREATED, snap, case.now)
    assert d.respond_by is not None
    assert case.respond_by == d.respond_by.astimezone(UTC)
    assert NY == d.respond_by.tzinfo  # shown in the desk's zone, like business-clock targets


def test_calendar_clock_respond_by_text_shows_the_real_offset() -> None:
    snap = with_targets("eastern-emergency", {"name": "calendar", "first_response": "1h", "clock": "calendar"})
    d = decide(ticket(customer="acme", priority="urgent"), TicketEvent.CREATED, snap, ny(2026, 11, 1, 1, 30))
    assert "2026-11-01T01:30:00-05:00" == d.to_json()["respond_by"]


# --- property: the zone of `now` never matters ------------------------------------------------

TICKETS: dict[str, list[dict[str, Any]]] = {
    "eastern-emergency": [dict(customer="acme", priority="urgent"), dict(customer="acme", priority="high"),
                          dict(customer="acme", priority="normal"), dict(customer="resold", priority="urgent")],
    "weekday-pacific": [dict(customer="acme", priority=p) for p in ("urgent", "high", "normal", "low")],
    "utc-partner": [dict(customer="partner-paas", severity="sev1", requester="noc@partner-paas.example"),
                    dict(customer="partner-paas", severity="sev3", requester="noc@partner-paas.example"),
                    dict(customer="partner-onprem", severity="sev2", requester="it@partner-onprem.example")],
    "extended-support": [dict(customer=c, severity="sev1", category="Critical production system outage",
                              requester=r)
                         for c, r in (("acme", "ops@acme.example"), ("globex", "it@globex.example"),
                                      ("initech", "ops@initech.example"))],
}
# The examples' targets plus calendar and business targets of every size, so each example
# is checked under both clocks.
EXTRA_TARGETS = [{"name": f"{clock}-{size}", "when": {"priority": priority}, "first_response": size,
                  "next_response": size, "clock": clock}
                 for clock in ("calendar", "business")
                 for priority, size in (("normal", "90m"), ("low", "1d"))]
OTHER_ZONES = [ZoneInfo(z) for z in ("UTC", "America/New_York", "Europe/London", "Asia/Kolkata",
                                     "Australia/Lord_Howe", "America/Los_Angeles", "Pacific/Chatham")]


def _dst_changes(tz: ZoneInfo) -> list[datetime]:
    """Instants in 2026–2027 where ``tz`` changes its UTC offset (hour resolution is enough)."""
    out = []
    t = utc(2026, 1, 1)
    while t.year < 2028:
        if t.astimezone(tz).utcoffset() != (t + timedelta(hours=1)).astimezone(tz).utcoffset():
            out.append(t + timedelta(hours=1))
        t += timedelta(hours=1)
    return out


ZONE_CHANGES = sorted({c for z in (NY, LONDON, ZoneInfo("America/Los_Angeles"), ZoneInfo("Australia/Sydney"))
                       for c in _dst_changes(z)})
instants = st.one_of(
    st.tuples(st.sampled_from(ZONE_CHANGES), st.integers(-150, 150)).map(
        lambda p: p[0] + timedelta(minutes=p[1])),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
)


def _instants(d: Any) -> tuple[datetime | None, ...]:
    return tuple(None if t is None else t.astimezone(UTC) for t in (d.respond_by, d.next_business_open))


@pytest.mark.parametrize("example", sorted(TICKETS))
@settings(max_examples=120, deadline=None)
@given(data=st.data(), t=instants, other=st.sampled_from(OTHER_ZONES))
def test_decision_is_the_same_whatever_the_zone_of_now(example: str, data: st.DataObject, t: datetime,
                                                       other: ZoneInfo) -> None:
    snap = replace(snapshot(example), response_targets=snapshot(example).response_targets + tuple(
        ResponseTarget.model_validate(x) for x in EXTRA_TARGETS), _cache={})
    tk = ticket(**data.draw(st.sampled_from(TICKETS[example])))
    desk = desk_for(tk, snap)
    given_as = [t, t.astimezone(desk.timezone), t.astimezone(other)]
    decisions = [decide(tk, TicketEvent.CREATED, snap, now) for now in given_as]
    reference = decisions[0]
    for now, d in zip(given_as, decisions, strict=True):
        assert _instants(reference) == _instants(d), now.isoformat()
        # shown the same way too: results are in the desk's zone whatever the input
        assert {**reference.to_json(), "at": None} == {**d.to_json(), "at": None}
        assert next_open(desk, t).astimezone(UTC) == next_open(desk, now).astimezone(UTC)
        for first in (True, False):
            due, _ = response_due(facts_for(tk, TicketEvent.CREATED, snap, now), snap, desk, now, first=first)
            due_utc, _ = response_due(facts_for(tk, TicketEvent.CREATED, snap, t), snap, desk, t, first=first)
            assert (None if due_utc is None else due_utc.astimezone(UTC)) == (
                None if due is None else due.astimezone(UTC)), now.isoformat()

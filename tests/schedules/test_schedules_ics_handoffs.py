"""Calendar feeds and hand-off notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from oncall.schedules import (
    Handoff,
    Override,
    ResolvedSchedule,
    Schedule,
    handoff_text,
    shifts,
    shifts_ics,
    upcoming_handoffs,
)

LA = ZoneInfo("America/Los_Angeles")
WEEKEND = Schedule.model_validate({
    "id": "weekend", "timezone": "America/Los_Angeles",
    "layers": [{"participants": ["alice", "bob"], "shift": "1w", "handoff_time": "17:00",
                "start_date": "2026-11-20",
                "restrictions": [{"days": ["fri"], "from": "17:00", "to": "24:00"},
                                 {"days": ["sat", "sun"], "from": "00:00", "to": "24:00"},
                                 {"days": ["mon"], "from": "00:00", "to": "07:00"}]}]})


def la(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LA)


def test_upcoming_handoffs_merge_adjacent_windows_into_one_shift() -> None:
    found = upcoming_handoffs(WEEKEND, (), la("2026-11-25T12:00"), la("2026-12-02T12:00"))
    assert found == [Handoff(start=la("2026-11-27T17:00"), end=la("2026-11-30T07:00"),
                             person="bob", schedule="weekend")]


def test_shift_already_running_is_not_a_handoff() -> None:
    found = upcoming_handoffs(WEEKEND, (), la("2026-11-28T12:00"), la("2026-12-02T12:00"))
    assert found == []


@pytest.mark.parametrize("start", [
    pytest.param(la("2026-03-08T03:00:30"), id="spring-forward, just after the jump"),
    pytest.param(datetime(2026, 11, 1, 1, 0, 30, tzinfo=LA, fold=1), id="fall-back, second 01:00"),
    pytest.param(la("2026-11-01T01:00:30"), id="fall-back, first 01:00"),
    pytest.param(la("2026-11-08T03:00:30"), id="ordinary Sunday"),
])
def test_running_shift_is_not_a_handoff_whatever_the_zone_of_start(start: datetime) -> None:
    """The weekend shift began on Friday; asking on Sunday, in local time, finds no hand-off."""
    end = start.astimezone(UTC) + timedelta(hours=9)
    assert [] == upcoming_handoffs(WEEKEND, (), start, end)
    assert [] == upcoming_handoffs(WEEKEND, (), start.astimezone(UTC), end)


def test_handoff_exactly_at_window_start_is_included() -> None:
    found = upcoming_handoffs(WEEKEND, (), la("2026-11-27T17:00"), la("2026-11-27T18:00"))
    assert [h.person for h in found] == ["bob"]


def test_handoffs_reflect_overrides() -> None:
    swap = Override(id="o", schedule="weekend", person="carol", replaces="bob",
                    start=la("2026-11-29T00:00"), end=la("2026-12-01T00:00"))
    found = upcoming_handoffs(ResolvedSchedule(WEEKEND, (swap,)), (), la("2026-11-25T12:00"),
                              la("2026-12-02T12:00"))
    assert [(h.person, h.start, h.end) for h in found] == [
        ("bob", la("2026-11-27T17:00"), la("2026-11-29T00:00")),
        ("carol", la("2026-11-29T00:00"), la("2026-11-30T07:00")),
    ]


@pytest.mark.parametrize(("start", "end", "tz", "text"), [
    ("2026-11-27T17:00", "2026-11-30T07:00", LA,
     "You are on call from Fri 17:00 to Mon 07:00 (America/Los_Angeles)"),
    ("2026-11-27T17:00", "2026-11-30T07:00", ZoneInfo("Europe/London"),
     "You are on call from Sat 01:00 to Mon 15:00 (Europe/London)"),
    ("2026-11-23T09:00", "2026-11-30T09:00", LA,
     "You are on call from Mon 2026-11-23 09:00 to Mon 2026-11-30 09:00 (America/Los_Angeles)"),
])
def test_handoff_text(start: str, end: str, tz: ZoneInfo, text: str) -> None:
    assert handoff_text(Handoff(start=la(start), end=la(end), person="bob"), tz) == text


def _events(data: bytes) -> list[tuple[str, datetime, datetime, str]]:
    cal = Calendar.from_ical(data)
    return [(str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"), str(e["UID"]))
            for e in cal.walk("VEVENT")]


GENERATED = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def test_ics_parses_back_with_the_right_events() -> None:
    found = ResolvedSchedule(WEEKEND).whole_shifts(la("2026-11-20T00:00"), la("2026-12-07T00:00"))
    data = shifts_ics(found, calendar_name="On call: weekend", tz=LA, now=GENERATED)
    events = _events(data)
    assert [(s, a, b) for s, a, b, _ in events] == [
        ("On call: weekend", la("2026-11-20T17:00"), la("2026-11-23T07:00")),
        ("On call: weekend", la("2026-11-27T17:00"), la("2026-11-30T07:00")),
        ("On call: weekend", la("2026-12-04T17:00"), la("2026-12-07T07:00")),
    ]
    assert all(str(a.tzinfo) == str(b.tzinfo) == "UTC" for _, a, b, _ in events)
    assert len({uid for *_, uid in events}) == 3
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-TIMEZONE"]) == "America/Los_Angeles"
    assert str(cal["VERSION"]) == "2.0" and cal["PRODID"]


def test_ics_uids_are_stable_and_per_person_feed_filters() -> None:
    found = shifts(WEEKEND, la("2026-11-20T00:00"), la("2026-12-07T00:00"))
    bob = [s for s in found if s.person == "bob"]
    first = shifts_ics(bob, calendar_name="On call: bob", tz=LA, now=GENERATED)
    again = shifts_ics(bob, calendar_name="On call: bob", tz=LA, now=GENERATED)
    assert first == again
    assert [a for _, a, _, _ in _events(first)] == [la("2026-11-27T17:00")]


def test_ics_per_schedule_feed_names_the_person() -> None:
    found = shifts(WEEKEND, la("2026-11-20T00:00"), la("2026-11-24T00:00"))
    data = shifts_ics(found, calendar_name="weekend", tz=ZoneInfo("UTC"), now=GENERATED,
                      with_person=True)
    events = _events(data)
    assert [s for s, *_ in events] == ["On call: weekend (alice)"]
    assert events[0][1] == datetime(2026, 11, 21, 1, 0, tzinfo=UTC)


def test_ics_of_no_shifts_is_an_empty_calendar() -> None:
    data = shifts_ics([], calendar_name="empty", tz=LA, now=GENERATED)
    assert _events(data) == []
    assert b"BEGIN:VCALENDAR" in data


def test_handoff_lookahead_bounds_very_long_shifts() -> None:
    s = Schedule.model_validate({"id": "solo", "timezone": "UTC", "layers": [
        {"participants": ["x", "y"], "shift": "52w", "handoff_time": "00:00",
         "start_date": "2026-01-01"}]})
    found = upcoming_handoffs(s, (), datetime(2026, 12, 31, tzinfo=UTC),
                              datetime(2027, 1, 1, tzinfo=UTC))
    assert [h.person for h in found] == ["y"]
    assert found[0].end - found[0].start <= timedelta(days=36)

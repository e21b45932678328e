"""Calendar feeds a subscribed calendar can follow: stable UIDs, DTSTAMP, exact instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from oncall.errors import ScheduleError
from oncall.schedules import Override, ResolvedSchedule, Schedule, Shift, shifts_ics

LDN = ZoneInfo("Europe/London")
NY = ZoneInfo("America/New_York")
FEED_PAST, FEED_FUTURE = timedelta(days=7), timedelta(days=90)

PRIMARY = Schedule.model_validate({
    "id": "primary", "timezone": "Europe/London",
    "layers": [{"participants": ["alice", "bob", "carol"], "shift": "1w", "handoff_time": "09:00",
                "start_date": "2026-01-05"},
               {"participants": ["dave"], "shift": "1d", "handoff_time": "18:00", "start_date": "2026-01-05",
                "restrictions": [{"days": ["weekdays"], "from": "18:00", "to": "23:00"}]}]})


def events(data: bytes) -> dict[str, tuple[datetime, datetime, datetime]]:
    """UID -> (DTSTART, DTEND, DTSTAMP) as read back by the icalendar parser, in UTC."""
    return {str(e["UID"]): tuple(e.decoded(k).astimezone(UTC)  # type: ignore[misc]
                                 for k in ("DTSTART", "DTEND", "DTSTAMP"))
            for e in Calendar.from_ical(data).walk("VEVENT")}


def feed(resolved: ResolvedSchedule, now: datetime) -> bytes:
    """What the daemon serves at ``now``: a week back, ninety days ahead."""
    return shifts_ics(resolved.whole_shifts(now - FEED_PAST, now + FEED_FUTURE), calendar_name="primary",
                      tz=LDN, now=now, with_person=True)


@pytest.mark.parametrize("later", [timedelta(minutes=5), timedelta(hours=13), timedelta(days=2),
                                   timedelta(days=9), timedelta(days=40)])
def test_the_same_shift_keeps_its_uid_and_times_in_every_fetch(later: timedelta) -> None:
    resolved = ResolvedSchedule(PRIMARY)
    now = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)
    first, second = events(feed(resolved, now)), events(feed(resolved, now + later))
    common = first.keys() & second.keys()
    # every shift running at the later fetch, or starting in the next week, was in the first too
    assert len(common) >= 7
    assert {u: first[u][:2] for u in common} == {u: second[u][:2] for u in common}
    # shifts overlapping both windows are the ones in common
    lo, hi = now + later - FEED_PAST, now + FEED_FUTURE
    overlap = {u for u, (a, b, _) in first.items() if b > lo and a < hi}
    assert overlap == common


def test_running_shift_shows_its_true_start_not_the_window_edge() -> None:
    now = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)  # the feed's window starts Wed 14 Oct 13:00 BST
    found = events(feed(ResolvedSchedule(PRIMARY), now))
    starts = sorted(a for a, _, _ in found.values())
    # carol's stretch running then began when dave's Tuesday evening ended at 23:00 BST
    assert datetime(2026, 10, 13, 22, 0, tzinfo=UTC) == starts[0]


def test_dtstamp_is_the_generation_time() -> None:
    now = datetime(2026, 10, 21, 12, 0, 7, tzinfo=UTC)
    stamps = {s for _, _, s in events(feed(ResolvedSchedule(PRIMARY), now.astimezone(NY))).values()}
    assert {now} == stamps


def test_naive_generation_time_is_refused() -> None:
    with pytest.raises(ScheduleError, match="no time zone"):
        shifts_ics([], calendar_name="x", tz=LDN, now=datetime(2026, 10, 21, 12))


def test_london_edge_in_the_repeated_hour_round_trips_to_the_exact_instant() -> None:
    """An override from 01:30 GMT on 25 Oct 2026 (the second 01:30) starts at 01:30Z, not 00:30Z."""
    second_0130 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    cover = Override(id="o", schedule="primary", person="erin", start=second_0130,
                     end=datetime(2026, 10, 25, 12, 0, tzinfo=LDN))
    resolved = ResolvedSchedule(PRIMARY, (cover,))
    data = feed(resolved, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    erin = [e for e in Calendar.from_ical(data).walk("VEVENT") if "(erin)" in str(e["SUMMARY"])]
    assert [(second_0130, datetime(2026, 10, 25, 12, 0, tzinfo=UTC))] == [
        (e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC)) for e in erin]
    assert b"DTSTART:20261025T013000Z" in data
    # the shift it cut short ends at the same instant
    assert any(b == second_0130 for _, b, _ in events(data).values())


HALF_HOUR = timedelta(minutes=30)


def _edges(tz: ZoneInfo, first: datetime, hours: int) -> list[Shift]:
    """Half-hour shifts for ``hours`` hours from ``first`` (UTC), given in zone ``tz``."""
    return [Shift(start=(first + i * HALF_HOUR).astimezone(tz), end=(first + (i + 1) * HALF_HOUR).astimezone(tz),
                  person="p", schedule="s") for i in range(2 * hours)]


@pytest.mark.parametrize("shifts", [
    pytest.param(_edges(LDN, datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 4), id="London fall-back"),
    pytest.param(_edges(LDN, datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 4), id="London spring-forward"),
    pytest.param(_edges(NY, datetime(2026, 11, 1, 4, 0, tzinfo=UTC), 4), id="New York fall-back"),
    pytest.param(_edges(NY, datetime(2027, 3, 14, 5, 0, tzinfo=UTC), 4), id="New York spring-forward"),
    pytest.param(_edges(ZoneInfo("Australia/Lord_Howe"), datetime(2026, 4, 4, 13, 0, tzinfo=UTC), 3),
                 id="Lord Howe half-hour fall-back"),
])
def test_shift_edges_across_dst_changes_round_trip_exactly(shifts: list[Shift]) -> None:
    tz = shifts[0].start.tzinfo
    assert isinstance(tz, ZoneInfo)
    found = sorted(events(shifts_ics(shifts, calendar_name="s", tz=tz, now=shifts[0].start)).values())
    assert [(s.start.astimezone(UTC), s.end.astimezone(UTC)) for s in shifts] == [(a, b) for a, b, _ in found]

"""is_open / next_open / next_close / desk_status: DST, midnight, holidays, company days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from desk_fixtures import ALWAYS, EASTERN, LA, NY, PACIFIC, UTC_DESK, desk

from oncall.desks import (
    Desk,
    DeskState,
    desk_status,
    holiday_name,
    is_open,
    next_close,
    next_open,
    open_intervals,
)

LON = ZoneInfo("Europe/London")
SYD = ZoneInfo("Australia/Sydney")



US_ALL = desk({"mon-fri": "08:00-16:00"}, holidays={"country": "US"})
LONDON = desk({"mon-fri": "09:00-17:00"}, "Europe/London",
              holidays={"country": "GB", "subdiv": "ENG"})
SYDNEY = desk({"mon-fri": "09:00-17:00"}, "Australia/Sydney",
              holidays={"country": "AU", "subdiv": "NSW"})
NIGHT = desk({"mon-fri": "22:00-02:00"}, closed=[{"date": "2026-07-14", "name": "Closed day"}])
EVENING_MORNING = desk({"mon": "18:00-24:00", "tue": "00:00-06:00"})
WEEKENDS = desk({"weekends": "00:00-24:00"})


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=NY)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("d", "t", "expected"),
    [
        # exactly at opening (inclusive) and closing (exclusive), given in other zones too
        (PACIFIC, datetime(2026, 3, 2, 7, tzinfo=LA), True),
        (PACIFIC, utc(2026, 3, 2, 15), True),
        (PACIFIC, datetime(2026, 3, 2, 7, tzinfo=LA) - US, False),
        (PACIFIC, datetime(2026, 3, 2, 17, tzinfo=LA), False),
        (PACIFIC, datetime(2026, 3, 2, 17, tzinfo=LA) - US, True),
        (PACIFIC, datetime(2026, 3, 7, 12, tzinfo=LA), False),  # Saturday
        (UTC_DESK, datetime(2026, 3, 2, 6, tzinfo=ZoneInfo("Europe/Berlin")), True),  # 05:00Z
        (UTC_DESK, utc(2026, 3, 2, 13), False),
        # leap day 2028-02-29 is a Tuesday
        (UTC_DESK, utc(2028, 2, 29, 12, 59), True),
        (UTC_DESK, utc(2028, 2, 29, 13), False),
        # windows crossing midnight belong to their start day
        (NIGHT, ny(2026, 7, 10, 23), True),  # Friday night
        (NIGHT, ny(2026, 7, 11, 1, 59), True),  # early Saturday: Friday's window
        (NIGHT, ny(2026, 7, 11, 2), False),
        (NIGHT, ny(2026, 7, 13, 1), False),  # early Monday: Sunday has no window
        (NIGHT, ny(2026, 7, 14, 1), True),  # Monday's window runs into the closed Tuesday
        (NIGHT, ny(2026, 7, 14, 22), False),  # Tuesday's window is removed
        (NIGHT, ny(2026, 7, 15, 1), False),
        # windows ending at midnight and starting at it
        (EVENING_MORNING, ny(2026, 7, 6, 23, 59, 59, 999999), True),
        (EVENING_MORNING, ny(2026, 7, 7, 0), True),
        (EVENING_MORNING, ny(2026, 7, 7, 6), False),
        (WEEKENDS, ny(2026, 7, 11, 0), True),
        (WEEKENDS, ny(2026, 7, 12, 23, 59), True),
        (WEEKENDS, ny(2026, 7, 13, 0), False),
        # `only`: Columbus Day and Juneteenth are not closed, Thanksgiving is
        (EASTERN, ny(2026, 10, 12, 9), True),
        (EASTERN, ny(2026, 6, 19, 9), True),
        (US_ALL, ny(2026, 10, 12, 9), False),
        (EASTERN, ny(2026, 11, 26, 9), False),
        # holiday on Saturday 4 July 2026, observed Friday 3 July
        (EASTERN, ny(2026, 7, 3, 9), False),
        (desk({"mon-fri": "08:00-16:00"}, holidays={"country": "US", "observed": False}),
         ny(2026, 7, 3, 9), True),
        # company days
        (EASTERN, ny(2026, 12, 24, 9), False),
        (EASTERN, ny(2026, 12, 28, 9), False),
        (EASTERN, ny(2026, 12, 31, 12, 59), True),
        (EASTERN, ny(2026, 12, 31, 13), False),
        (EASTERN, ny(2026, 12, 31, 8, 30), False),
        # GB Christmas 2027 on Saturday → observed Monday 27, Boxing Day observed Tuesday 28
        (LONDON, datetime(2027, 12, 24, 10, tzinfo=LON), True),
        (LONDON, datetime(2027, 12, 27, 10, tzinfo=LON), False),
        (LONDON, datetime(2027, 12, 28, 10, tzinfo=LON), False),
        (LONDON, datetime(2027, 12, 29, 9, tzinfo=LON), True),
        # AU-NSW ANZAC Day 2026 on Saturday → observed Monday 27 April
        (SYDNEY, datetime(2026, 4, 27, 10, tzinfo=SYD), False),
        (SYDNEY, datetime(2026, 4, 28, 10, tzinfo=SYD), True),
        (ALWAYS, ny(2027, 3, 14, 2, 30), True),
    ],
)
def test_is_open(d: Desk, t: datetime, expected: bool) -> None:
    assert expected == is_open(d, t)


@pytest.mark.parametrize(
    ("d", "t", "expected"),
    [
        # Friday evening → Monday morning (across the 2026-03-08 spring-forward weekend)
        (PACIFIC, datetime(2026, 3, 6, 18, tzinfo=LA), datetime(2026, 3, 9, 7, tzinfo=LA)),
        (PACIFIC, datetime(2026, 3, 6, 17, tzinfo=LA), utc(2026, 3, 9, 14)),
        (PACIFIC, datetime(2026, 3, 2, 7, tzinfo=LA), datetime(2026, 3, 2, 7, tzinfo=LA)),
        (PACIFIC, datetime(2026, 3, 2, 9, 13, 7, 5, tzinfo=LA),
         datetime(2026, 3, 2, 9, 13, 7, 5, tzinfo=LA)),  # open: t itself
        (UTC_DESK, utc(2028, 2, 28, 13), utc(2028, 2, 29, 5)),
        (EASTERN, ny(2026, 7, 2, 16), ny(2026, 7, 6, 8)),  # observed holiday + weekend
        (EASTERN, ny(2026, 12, 23, 16), ny(2026, 12, 29, 8)),  # closed, Christmas, emergency
        (EASTERN, ny(2026, 12, 31, 13), ny(2027, 1, 4, 8)),  # half day, New Year
        (LONDON, datetime(2027, 12, 24, 17, tzinfo=LON), datetime(2027, 12, 29, 9, tzinfo=LON)),
        (SYDNEY, datetime(2026, 12, 24, 17, tzinfo=SYD), datetime(2026, 12, 29, 9, tzinfo=SYD)),
        (NIGHT, ny(2026, 7, 11, 2), ny(2026, 7, 13, 22)),
        (NIGHT, ny(2026, 7, 14, 2), ny(2026, 7, 15, 22)),
        (WEEKENDS, ny(2026, 7, 13, 0), ny(2026, 7, 18, 0)),
    ],
)
def test_next_open(d: Desk, t: datetime, expected: datetime) -> None:
    result = next_open(d, t)
    assert expected == result
    assert d.timezone == result.tzinfo


@pytest.mark.parametrize(
    ("d", "t", "expected"),
    [
        (PACIFIC, datetime(2026, 3, 2, 7, tzinfo=LA), datetime(2026, 3, 2, 17, tzinfo=LA)),
        (PACIFIC, datetime(2026, 3, 6, 18, tzinfo=LA), datetime(2026, 3, 9, 17, tzinfo=LA)),
        (NIGHT, ny(2026, 7, 10, 22), ny(2026, 7, 11, 2)),
        (EVENING_MORNING, ny(2026, 7, 6, 19), ny(2026, 7, 7, 6)),  # merged across midnight
        (WEEKENDS, ny(2026, 7, 11, 12), ny(2026, 7, 13, 0)),
        (EASTERN, ny(2026, 12, 31, 10), ny(2026, 12, 31, 13)),
    ],
)
def test_next_close(d: Desk, t: datetime, expected: datetime) -> None:
    assert expected == next_close(d, t)


def test_next_close_of_an_always_open_desk_is_none() -> None:
    assert next_close(ALWAYS, ny(2026, 7, 1)) is None


@pytest.mark.parametrize(
    ("d", "t", "state", "holiday"),
    [
        (EASTERN, ny(2026, 7, 3, 9), DeskState.HOLIDAY, "Independence Day (observed)"),
        (EASTERN, ny(2026, 7, 4, 9), DeskState.HOLIDAY, "Independence Day"),
        (EASTERN, ny(2026, 7, 6, 9), DeskState.OPEN, None),
        (EASTERN, ny(2026, 7, 6, 20), DeskState.CLOSED, None),
        (EASTERN, ny(2026, 10, 12, 20), DeskState.CLOSED, None),  # Columbus Day not listed
        (US_ALL, ny(2026, 10, 12, 9), DeskState.HOLIDAY, "Columbus Day"),
        (EASTERN, ny(2026, 11, 26, 23), DeskState.HOLIDAY, "Thanksgiving Day"),
        (EASTERN, ny(2026, 12, 24, 9), DeskState.HOLIDAY, "Company shutdown"),
        (EASTERN, ny(2026, 12, 28, 9), DeskState.EMERGENCY_ONLY, "Year-end freeze"),
        (EASTERN, ny(2026, 12, 31, 10), DeskState.OPEN, "New Year's Eve"),
        (EASTERN, ny(2026, 12, 31, 14), DeskState.CLOSED, "New Year's Eve"),
        # 2027-01-01 05:00Z is still 31 Dec in New York: the local date decides
        (EASTERN, utc(2027, 1, 1, 4, 59), DeskState.CLOSED, "New Year's Eve"),
        (EASTERN, utc(2027, 1, 1, 5), DeskState.HOLIDAY, "New Year's Day"),
        (NIGHT, ny(2026, 7, 14, 1), DeskState.OPEN, "Closed day"),
        (NIGHT, ny(2026, 7, 14, 23), DeskState.HOLIDAY, "Closed day"),
        (LONDON, datetime(2027, 12, 27, 10, tzinfo=LON), DeskState.HOLIDAY,
         "Christmas Day (observed)"),
        (SYDNEY, datetime(2026, 4, 27, 10, tzinfo=SYD), DeskState.HOLIDAY, "ANZAC Day (observed)"),
    ],
)
def test_desk_status(d: Desk, t: datetime, state: DeskState, holiday: str | None) -> None:
    status = desk_status(d, t)
    assert (state, holiday) == (status.state, status.holiday)
    assert t == status.local and d.timezone == status.local.tzinfo


@pytest.mark.parametrize(
    ("d", "day", "expected"),
    [
        (EASTERN, date(2026, 7, 3), "Independence Day (observed)"),
        (EASTERN, date(2026, 10, 12), None),
        (EASTERN, date(2031, 12, 25), "Christmas Day"),
        (LONDON, date(2027, 12, 28), "Boxing Day (observed)"),
        (PACIFIC, date(2026, 12, 25), None),
    ],
)
def test_holiday_name(d: Desk, day: date, expected: str | None) -> None:
    assert expected == holiday_name(d, day)


# Daily windows on the DST days in New York: fall back 2026-11-01 (01:00–02:00 happens twice),
# spring forward 2027-03-14 (02:00–03:00 does not happen). Expected open stretches in UTC.
@pytest.mark.parametrize(
    ("window", "day", "expected"),
    [
        ("09:00-17:00", date(2026, 11, 1), [(utc(2026, 11, 1, 14), utc(2026, 11, 1, 22))]),
        ("09:00-17:00", date(2027, 3, 14), [(utc(2027, 3, 14, 13), utc(2027, 3, 14, 21))]),
        # the repeated hour counts twice: 00:00 EDT to 03:00 EST is four real hours
        ("00:00-03:00", date(2026, 11, 1), [(utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))]),
        # a repeated wall time means its first occurrence (EDT)
        ("01:30-02:30", date(2026, 11, 1), [(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30))]),
        # a skipped wall time means the instant the clocks jumped (03:00 EDT = 07:00Z)
        ("02:30-05:00", date(2027, 3, 14), [(utc(2027, 3, 14, 7), utc(2027, 3, 14, 9))]),
        ("00:00-02:30", date(2027, 3, 14), [(utc(2027, 3, 14, 5), utc(2027, 3, 14, 7))]),
        ("02:10-02:50", date(2027, 3, 14), []),  # wholly inside the skipped hour
        ("00:00-24:00", date(2027, 3, 14), [(utc(2027, 3, 14, 5), utc(2027, 3, 15, 4))]),
        ("00:00-24:00", date(2026, 11, 1), [(utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))]),
    ],
)
def test_windows_on_dst_days(window: str, day: date, expected: list[tuple[datetime, datetime]]
                             ) -> None:
    d = desk({day.strftime("%a").lower(): window})
    start = datetime(day.year, day.month, day.day, tzinfo=NY)
    found = list(open_intervals(d, start, start + timedelta(days=2)))
    # Compared in UTC: Python never finds a repeated wall time equal to an instant in another
    # zone (PEP 495), even when both name the same instant.
    assert expected == [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in found if a.date() == day]


def test_night_window_across_fall_back_is_five_hours() -> None:
    d = desk({"sat": "22:00-02:00"})
    found = list(open_intervals(d, ny(2026, 10, 31), ny(2026, 11, 2)))
    assert [(utc(2026, 11, 1, 2), utc(2026, 11, 1, 7))] == found


def test_night_window_into_spring_forward_is_four_hours() -> None:
    """Closing at 02:00, a skipped wall time, means the jump at 03:00 EDT."""
    d = desk({"sat": "22:00-02:00"})
    found = list(open_intervals(d, ny(2027, 3, 13), ny(2027, 3, 15)))
    assert [(utc(2027, 3, 14, 3), utc(2027, 3, 14, 7))] == found


@pytest.mark.parametrize("fn", [is_open, next_open, next_close, desk_status])
def test_naive_datetime_is_refused(fn: Any) -> None:
    with pytest.raises(ValueError, match="naive"):
        fn(EASTERN, datetime(2026, 7, 6, 9))

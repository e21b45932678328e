"""Business-time arithmetic: add_business_time, business_time_between, standard_day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from desk_fixtures import ALWAYS, EASTERN, LA, NY, PACIFIC, SIX_US, UTC_DESK, desk
from hypothesis import given, settings
from hypothesis import strategies as st

from oncall.desks import (
    Desk,
    add_business_time,
    business_time_between,
    desk_status,
    holiday_name,
    is_open,
    next_close,
    next_open,
    open_intervals,
    standard_day,
)

NIGHT = desk({"mon-fri": "22:00-02:00"})
H = timedelta(hours=1)


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=NY)


def la(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=LA)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("d", "t", "duration", "expected"),
    [
        (EASTERN, ny(2026, 7, 6, 9), 2 * H, ny(2026, 7, 6, 11)),
        (EASTERN, ny(2026, 7, 6, 8), 8 * H, ny(2026, 7, 6, 16)),  # lands on the close
        (EASTERN, ny(2026, 7, 6, 8), 8 * H + timedelta(microseconds=1),
         ny(2026, 7, 7, 8, 0, 0, 1)),
        # Thursday noon + 8h: 4h Thursday, Friday 3 July observed holiday, weekend, 4h Monday
        (EASTERN, ny(2026, 7, 2, 12), 8 * H, ny(2026, 7, 6, 12)),
        # from a closed instant the clock starts at the next opening
        (EASTERN, ny(2026, 7, 4, 12), 2 * H, ny(2026, 7, 6, 10)),
        (EASTERN, ny(2026, 7, 4, 12), timedelta(0), ny(2026, 7, 6, 8)),
        (EASTERN, ny(2026, 7, 6, 9, 30), timedelta(0), ny(2026, 7, 6, 9, 30)),
        # company closed day, Christmas, emergency-only day, half day, New Year
        (EASTERN, ny(2026, 12, 23, 15), 2 * H, ny(2026, 12, 29, 9)),
        (EASTERN, ny(2026, 12, 30, 15), 6 * H, ny(2027, 1, 4, 9)),
        # Friday 15:00 PST + 4h: 2h Friday, then Monday after the spring-forward weekend
        (PACIFIC, la(2026, 3, 6, 15), 4 * H, la(2026, 3, 9, 9)),
        (PACIFIC, utc(2026, 3, 6, 23), 4 * H, utc(2026, 3, 9, 16)),
        # two business days of ten hours each
        (PACIFIC, la(2026, 3, 2, 10), 2 * standard_day(PACIFIC), la(2026, 3, 4, 10)),
        (UTC_DESK, utc(2028, 2, 28, 12), 8 * H, utc(2028, 2, 29, 12)),  # into leap day
        (UTC_DESK, utc(2028, 2, 29, 12), 2 * H, utc(2028, 3, 1, 6)),
        (NIGHT, ny(2026, 7, 10, 23), 4 * H, ny(2026, 7, 13, 23)),  # Fri night → Mon night
        # real elapsed time: the spring-forward day has 23 hours
        (ALWAYS, ny(2027, 3, 14), 24 * H, ny(2027, 3, 15, 1)),
        (ALWAYS, ny(2026, 11, 1), 24 * H, ny(2026, 11, 1, 23)),
        # a long clock: 100 business days of 8h end at the close of the 100th (Memorial Day
        # 25 May comes after it)
        (EASTERN, ny(2026, 1, 5, 8), 800 * H, ny(2026, 5, 22, 16)),
        (EASTERN, ny(2026, 1, 5, 8), 808 * H + H, ny(2026, 5, 27, 9)),
    ],
)
def test_add_business_time(d: Desk, t: datetime, duration: timedelta, expected: datetime) -> None:
    result = add_business_time(d, t, duration)
    assert expected == result
    assert d.timezone == result.tzinfo


@pytest.mark.parametrize(
    ("d", "a", "b", "expected"),
    [
        (EASTERN, ny(2026, 7, 2, 12), ny(2026, 7, 6, 12), 8 * H),
        (EASTERN, ny(2026, 7, 6, 12), ny(2026, 7, 2, 12), -8 * H),
        (EASTERN, ny(2026, 7, 4), ny(2026, 7, 5), timedelta(0)),
        (EASTERN, ny(2026, 12, 21), ny(2027, 1, 4), 5 * 8 * H + 4 * H),
        (ALWAYS, ny(2027, 3, 14), ny(2027, 3, 15), 23 * H),
        (ALWAYS, ny(2026, 11, 1), ny(2026, 11, 2), 25 * H),
        (NIGHT, ny(2026, 7, 10, 12), ny(2026, 7, 11, 12), 4 * H),
        (UTC_DESK, utc(2027, 12, 31, 12), utc(2028, 1, 3, 6), 2 * H),  # across New Year
    ],
)
def test_business_time_between(d: Desk, a: datetime, b: datetime, expected: timedelta) -> None:
    assert expected == business_time_between(d, a, b)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (PACIFIC, 10 * H),
        (UTC_DESK, 8 * H),
        (NIGHT, 4 * H),
        (desk({"mon-fri": "09:00-17:00", "sat": ["10:00-12:00", "13:00-15:00"]}),
         timedelta(hours=44 / 6)),
    ],
)
def test_standard_day(d: Desk, expected: timedelta) -> None:
    assert expected == standard_day(d)


def test_open_intervals_are_clipped_and_merged() -> None:
    d = desk({"mon": "18:00-24:00", "tue": ["00:00-06:00", "09:00-10:00"]})
    found = list(open_intervals(d, ny(2026, 7, 6, 20), ny(2026, 7, 7, 9, 30)))
    assert [(ny(2026, 7, 6, 20), ny(2026, 7, 7, 6)), (ny(2026, 7, 7, 9), ny(2026, 7, 7, 9, 30))
            ] == found
    assert [] == list(open_intervals(d, ny(2026, 7, 7), ny(2026, 7, 6)))


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(EASTERN, ny(2026, 7, 6, 9), -H)


@pytest.mark.parametrize(
    "call",
    [
        lambda: add_business_time(EASTERN, datetime(2026, 7, 6, 9), H),
        lambda: business_time_between(EASTERN, ny(2026, 7, 6), datetime(2026, 7, 7)),
        lambda: list(open_intervals(EASTERN, datetime(2026, 7, 6), ny(2026, 7, 7))),
    ],
)
def test_naive_datetime_is_refused(call: Any) -> None:
    with pytest.raises(ValueError, match="naive"):
        call()


def test_equal_desks_built_separately_agree() -> None:
    """The lookup table is per desk object; an equal desk gets its own, same answers."""
    twin = desk({"mon-fri": "08:00-16:00"}, holidays={"country": "US", "only": SIX_US},
                closed=[{"date": "2026-12-24", "name": "Company shutdown"}],
                half_days=[{"date": "2026-12-31", "hours": "09:00-13:00"}],
                emergency_only=[{"date": "2026-12-28"}])
    t = ny(2026, 12, 23, 15)
    assert add_business_time(EASTERN, t, 2 * H) == add_business_time(twin, t, 2 * H)


def test_far_years_are_built_on_demand() -> None:
    assert next_open(EASTERN, ny(2035, 12, 25, 9)) == ny(2035, 12, 26, 8)
    assert next_open(EASTERN, ny(2019, 7, 4, 9)) == ny(2019, 7, 5, 8)


# --- property check against a direct reading of the configuration -------------------------

MIXED = desk({"mon-thu": "07:30-17:00", "fri": ["08:00-12:00", "13:00-15:30"],
              "sat": "20:00-01:00"},
             holidays={"country": "US", "only": SIX_US},
             closed=[{"date": "2027-02-15"}], half_days=[{"date": "2027-02-16", "hours": "10:00-11:00"}])


def reference_is_open(d: Desk, t: datetime) -> bool:
    """Read the windows of the local date and the one before; wall-clock arithmetic is fine
    for windows that avoid the 01:00–03:00 DST change hours."""
    local = t.astimezone(d.timezone)
    for day in (local.date() - timedelta(days=1), local.date()):
        half = {h.date: h.hours for h in d.half_days}
        if day in half:
            windows = half[day]
        elif holiday_name(d, day) is not None:
            windows = ()
        else:
            windows = d.hours.by_weekday()[day.weekday()]
        midnight = datetime.combine(day, time(0), tzinfo=d.timezone)
        for w in windows:
            start = (midnight + timedelta(minutes=w.start)).astimezone(UTC)
            end = (midnight + timedelta(minutes=w.end)).astimezone(UTC)
            if start <= t < end:
                return True
    return False


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(t=instants)
def test_is_open_matches_reference(t: datetime) -> None:
    assert reference_is_open(MIXED, t) == is_open(MIXED, t)


@settings(max_examples=200, deadline=None)
@given(t=instants, minutes=st.integers(min_value=0, max_value=60 * 80))
def test_add_then_measure_round_trips(t: datetime, minutes: int) -> None:
    duration = timedelta(minutes=minutes)
    end = add_business_time(MIXED, t, duration)
    assert duration == business_time_between(MIXED, t, end)
    start = next_open(MIXED, t)
    assert is_open(MIXED, start) and start >= t
    if minutes:
        assert is_open(MIXED, end - timedelta(microseconds=1))


def test_reference_sees_holidays() -> None:
    """Guard for the property tests: the reference reads holidays and half days."""
    assert not reference_is_open(MIXED, ny(2027, 2, 15, 9))
    assert reference_is_open(MIXED, ny(2027, 2, 16, 10, 30))
    assert holiday_name(MIXED, date(2026, 7, 3)) == "Independence Day (observed)"


ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata")]


@settings(max_examples=200, deadline=None)
@given(t=instants, zone=st.sampled_from(ZONES), minutes=st.integers(min_value=0, max_value=60 * 80))
def test_the_zone_of_the_input_never_changes_an_answer(t: datetime, zone: ZoneInfo, minutes: int) -> None:
    """The same instant given in UTC, in the desk's zone or in another zone: the same instants back."""
    duration = timedelta(minutes=minutes)
    answers = []
    for given_as in (t, t.astimezone(MIXED.timezone), t.astimezone(zone)):
        close = next_close(MIXED, given_as)
        answers.append((next_open(MIXED, given_as).astimezone(UTC),
                        add_business_time(MIXED, given_as, duration).astimezone(UTC),
                        None if close is None else close.astimezone(UTC),
                        desk_status(MIXED, given_as).state, is_open(MIXED, given_as)))
    assert answers[0] == answers[1] == answers[2]

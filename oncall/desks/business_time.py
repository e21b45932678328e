"""Desk questions and business-time arithmetic: pure functions of a desk and an instant.

Inputs may be in any zone (naive datetimes raise ValueError); results are in the desk's zone.
Opening instants are inclusive, closing instants exclusive. Open time is counted in real
elapsed time, so a 09:00–17:00 window is 8 hours on DST-change days too. See
``oncall.desks.hours`` for how windows, holidays and DST gaps/repeats are interpreted.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from oncall.desks.hours import EMERGENCY, HOLIDAY, from_us, table, to_us

if TYPE_CHECKING:
    from oncall.desks.model import Desk

# next_open/next_close look at most this far ahead before giving up.
_HORIZON_YEARS = 10


class DeskState(StrEnum):
    """A desk's state at an instant; its values are the words rules match (``when: {desk_state:
    ...}``) and explanations show."""

    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"
    EMERGENCY_ONLY = "emergency-only"


@dataclass(frozen=True, slots=True)
class DeskStatus:
    """The desk at one instant: the one representation of a desk's state that rules,
    decisions and explanations read.

    ``holiday`` names the public holiday, company closed day, half day or emergency-only day
    of ``local``'s date (else None). ``state`` is OPEN whenever the desk is open (also on a
    half day, or in a window that began the evening before a holiday); otherwise
    EMERGENCY_ONLY or HOLIDAY on such a date, else CLOSED.
    """

    state: DeskState
    holiday: str | None
    local: datetime

    @property
    def is_open(self) -> bool:
        """Business hours: the desk is open (``business_hours`` in rules and explanations)."""
        return self.state is DeskState.OPEN


def is_open(desk: Desk, t: datetime) -> bool:
    us = to_us(t)
    span = table(desk).covering(us)
    i = bisect_right(span.starts, us) - 1
    return i >= 0 and us < span.ends[i]


def holiday_name(desk: Desk, day: date) -> str | None:
    """Name of the holiday / company day / half day / emergency-only day on ``day``."""
    span = table(desk).grow(day.year, day.year)
    found = span.days.get(day)
    return None if found is None else found[1]


def desk_status(desk: Desk, t: datetime) -> DeskStatus:
    us = to_us(t)
    local = t.astimezone(desk.timezone)
    span = table(desk).covering(us)
    special = span.days.get(local.date())
    name = None if special is None else special[1]
    i = span.index(us)
    if i >= 0 and us < span.ends[i]:
        state = DeskState.OPEN
    elif special is not None and special[0] == EMERGENCY:
        state = DeskState.EMERGENCY_ONLY
    elif special is not None and special[0] == HOLIDAY:
        state = DeskState.HOLIDAY
    else:
        state = DeskState.CLOSED
    return DeskStatus(state=state, holiday=name, local=local)


def _next_open_us(desk: Desk, us: int) -> int:
    tab = table(desk)
    span = tab.covering(us)
    for _ in range(_HORIZON_YEARS):
        i = span.index(us)
        if i >= 0 and us < span.ends[i]:
            return us
        if i + 1 < len(span.starts):
            return span.starts[i + 1]
        span = tab.grow(span.first, span.last + 1)
    raise ValueError(f"desk {desk.id!r} does not open within {_HORIZON_YEARS} years")


def next_open(desk: Desk, t: datetime) -> datetime:
    """The first open instant at or after ``t`` (``t`` itself when the desk is open)."""
    us = to_us(t)
    return from_us(_next_open_us(desk, us), desk.timezone)


def next_close(desk: Desk, t: datetime) -> datetime | None:
    """When the open stretch containing ``t`` (or the next one) ends.

    None when the desk stays open for the next ten years (a 24×7 desk without holidays).
    """
    us = _next_open_us(desk, to_us(t))
    tab = table(desk)
    span = tab.covering(us)
    limit = span.last + _HORIZON_YEARS
    while True:
        end = span.ends[span.index(us)]
        if end < span.hi:  # a stretch ending inside the span is complete
            return from_us(end, desk.timezone)
        if span.last >= limit:
            return None
        span = tab.grow(span.first, span.last + 1)


def add_business_time(desk: Desk, t: datetime, duration: timedelta) -> datetime:
    """The instant ``duration`` of open time after ``t``.

    From a closed instant the count starts at the next opening. A result that lands exactly
    on a closing instant is that closing instant (the deadline is the end of that stretch).
    """
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    us = _next_open_us(desk, to_us(t))
    if not duration:
        return from_us(us, desk.timezone)
    need = duration // timedelta(microseconds=1)
    tab = table(desk)
    span = tab.covering(us)
    while True:
        target = span.position(us) + need
        cum_end = span.cum_end
        if cum_end and target <= cum_end[-1]:
            j = bisect_left(cum_end, target)
            return from_us(span.starts[j] + target - span.cum[j], desk.timezone)
        # Not enough open time in the span: grow it by the years still needed.
        per_year = max(cum_end[-1] // (span.last - span.first + 1), 1) if cum_end else 1
        years = 1 + (target - (cum_end[-1] if cum_end else 0)) // per_year
        span = tab.grow(span.first, span.last + years)


def business_time_between(desk: Desk, a: datetime, b: datetime) -> timedelta:
    """Open time between ``a`` and ``b`` (negative when ``b`` is before ``a``)."""
    ua, ub = to_us(a), to_us(b)
    if ub < ua:
        return -business_time_between(desk, b, a)
    tab = table(desk)
    span = tab.covering(ua)
    if not span.lo <= ub < span.hi:
        span = tab.grow(span.first, max(span.last, tab.covering(ub).last))
    return timedelta(microseconds=span.position(ub) - span.position(ua))


def open_intervals(desk: Desk, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches overlapping ``[start, end)``, clipped to it, in the desk's zone."""
    us_start, us_end = to_us(start), to_us(end)
    if us_end <= us_start:
        return
    tab = table(desk)
    span = tab.covering(us_start)
    if not span.lo <= us_end < span.hi:
        span = tab.grow(span.first, max(span.last, tab.covering(us_end).last))
    tz = desk.timezone
    i = max(span.index(us_start), 0)
    while i < len(span.starts) and span.starts[i] < us_end:
        if span.ends[i] > us_start:
            yield from_us(max(span.starts[i], us_start), tz), from_us(min(span.ends[i], us_end), tz)
        i += 1


def standard_day(desk: Desk) -> timedelta:
    """Typical open time of an open day: weekly open time / number of days with hours."""
    days = [windows for windows in desk.hours.by_weekday() if windows]
    minutes = sum(w.minutes for windows in days for w in windows)
    return timedelta(minutes=minutes / len(days))

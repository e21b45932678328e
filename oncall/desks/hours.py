"""Per-desk lookup tables: the desk's opening intervals as sorted UTC microsecond arrays.

A desk's weekly hours, holidays and company days are expanded, lazily and a few years at a
time, into merged, sorted ``[start, end)`` intervals in integer microseconds since the Unix
epoch, plus a running total of open time. ``is_open`` is then one bisection, and business-time
arithmetic two. Integers keep the arithmetic exact to the microsecond.

Wall-clock rules (windows are local wall-clock times):
- A window belongs to the local date it starts on; a holiday, closed or emergency-only date D
  removes the windows starting on D (a "22:00-02:00" window of the evening before still runs
  until 02:00 on D). A half day replaces D's windows.
- A wall-clock time repeated when clocks go back means its first occurrence (PEP 495 fold=0).
- A wall-clock time skipped when clocks go forward means the instant the clocks jumped: a
  window "02:30-05:00" on such a day opens at 03:00 new time; one lying wholly inside the
  skipped hour does not open at all.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from oncall.desks.holiday_calendar import holidays_in_year

if TYPE_CHECKING:
    from oncall.desks.model import Desk, Window

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
MIN_YEAR, MAX_YEAR = 1900, 2200

# Kinds of special day, as shown by desk_status.
HOLIDAY, EMERGENCY, HALF_DAY = "holiday", "emergency-only", "half-day"


def to_us(t: datetime) -> int:
    """Microseconds since the epoch of an aware datetime; ValueError for a naive one."""
    try:
        # Subtracting an aware epoch fails for naive datetimes; cheaper than checking first.
        delta = t - EPOCH
    except TypeError:
        raise ValueError(f"naive datetime {t.isoformat()} (a time zone is required)") from None
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int, tz: ZoneInfo) -> datetime:
    return (EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _gap_instant(naive: datetime, tz: ZoneInfo) -> int:
    """The instant clocks jumped over ``naive`` (a wall time skipped by a DST change)."""
    lo = to_us(naive.replace(tzinfo=tz, fold=1))  # read with the offset after: too early
    hi = to_us(naive.replace(tzinfo=tz, fold=0))  # read with the offset before: too late
    after = from_us(hi, tz).utcoffset()
    while hi - lo > 1_000_000:  # zones change offset on whole seconds
        mid = (lo + hi) // 2 // 1_000_000 * 1_000_000
        if mid <= lo:
            break
        if from_us(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


def wall_instant(day: date, minute: int, tz: ZoneInfo) -> int:
    """The instant (µs) the wall clock in ``tz`` shows ``minute`` minutes after ``day``'s midnight."""
    day += timedelta(days=minute // 1440)
    minute %= 1440
    naive = datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    us = to_us(naive.replace(tzinfo=tz))
    if from_us(us, tz).replace(tzinfo=None) != naive:
        return _gap_instant(naive, tz)
    return us


@dataclass(frozen=True, slots=True)
class Span:
    """Intervals for local dates in years ``first..last``; valid for instants in [lo, hi)."""

    first: int
    last: int
    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    cum: list[int]  # open time before interval i
    cum_end: list[int]  # open time up to the end of interval i
    days: dict[date, tuple[str, str]]  # special dates → (kind, name)

    def index(self, us: int) -> int:
        """Index of the last interval starting at or before ``us`` (-1 if none)."""
        return bisect_right(self.starts, us) - 1

    def position(self, us: int) -> int:
        """Open time (µs) from the first interval up to ``us``."""
        i = bisect_right(self.starts, us) - 1
        if i < 0:
            return 0
        return self.cum[i] + min(us, self.ends[i]) - self.starts[i]


def special_days(desk: Desk, year: int) -> dict[date, tuple[str, str, tuple[Window, ...]]]:
    """Dates of ``year`` that differ from the weekly hours: date → (kind, name, windows)."""
    result: dict[date, tuple[str, str, tuple[Window, ...]]] = {}
    cal = desk.holidays
    if cal is not None:
        for day, name in holidays_in_year(cal.country, cal.subdiv, cal.observed, cal.categories,
                                          cal.only, year).items():
            result[day] = (HOLIDAY, name, ())
    # Company days override the public calendar on the same date.
    for closed in desk.closed:
        if closed.date.year == year:
            result[closed.date] = (HOLIDAY, closed.name, ())
    for half in desk.half_days:
        if half.date.year == year:
            result[half.date] = (HALF_DAY, half.name, half.hours)
    for emergency in desk.emergency_only:
        if emergency.date.year == year:
            result[emergency.date] = (EMERGENCY, emergency.name, ())
    return result


def build_span(desk: Desk, first: int, last: int) -> Span:
    tz = desk.timezone
    weekly = desk.hours.by_weekday()
    raw: list[tuple[int, int]] = []
    days: dict[date, tuple[str, str]] = {}
    for year in range(first, last + 1):
        special = special_days(desk, year)
        days.update({d: (kind, name) for d, (kind, name, _) in special.items()})
        day = date(year, 1, 1)
        while day.year == year:
            windows = special[day][2] if day in special else weekly[day.weekday()]
            for w in windows:
                start, end = wall_instant(day, w.start, tz), wall_instant(day, w.end, tz)
                if end > start:
                    raw.append((start, end))
            day += timedelta(days=1)
    raw.sort()
    starts: list[int] = []
    ends: list[int] = []
    for start, end in raw:
        if starts and start <= ends[-1]:  # touching or overlapping: one open stretch
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    cum, cum_end, total = [], [], 0
    for start, end in zip(starts, ends, strict=True):
        cum.append(total)
        total += end - start
        cum_end.append(total)
    # Windows of 31 Dec (first - 1) are not built; they end within two days of 1 Jan.
    lo = wall_instant(date(first, 1, 1), 0, tz) + 2 * US_PER_DAY
    hi = wall_instant(date(last + 1, 1, 1), 0, tz)
    return Span(first, last, lo, hi, starts, ends, cum, cum_end, days)


def _year_of(us: int) -> int:
    return (EPOCH + timedelta(microseconds=us)).year


class Table:
    """The lazily grown span of one desk; readers see a complete Span or the next one."""

    __slots__ = ("_lock", "desk_ref", "span")

    def __init__(self, desk: Desk) -> None:
        self.desk_ref = weakref.ref(desk)
        self._lock = threading.Lock()
        self.span: Span | None = None

    def covering(self, us: int) -> Span:
        span = self.span
        if span is not None and span.lo <= us < span.hi:
            return span
        year = _year_of(us)
        return self.grow(year - 1, year + 1)

    def grow(self, first: int, last: int) -> Span:
        """A span covering at least the local years ``first..last``."""
        if first < MIN_YEAR or last > MAX_YEAR:
            raise ValueError(f"instant outside the supported years {MIN_YEAR}–{MAX_YEAR}")
        with self._lock:
            span = self.span
            if span is not None:
                if span.first <= first and last <= span.last:
                    return span
                first, last = min(first, span.first), max(last, span.last)
            desk = self.desk_ref()
            assert desk is not None
            self.span = span = build_span(desk, first, last)
            return span


_TABLES: dict[int, Table] = {}


def table(desk: Desk) -> Table:
    """The desk's table; keyed by identity because hashing a model costs microseconds."""
    found = _TABLES.get(id(desk))
    if found is not None and found.desk_ref() is desk:
        return found
    key = id(desk)
    made = Table(desk)
    _TABLES[key] = made
    # Forget the table when the desk object goes (a configuration reload replaces desks).
    weakref.finalize(desk, _TABLES.pop, key, None)
    return made

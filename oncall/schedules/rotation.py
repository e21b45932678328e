"""One layer's arithmetic: whose turn it is at an instant, and which restriction windows apply.

Rules:

* Hand-offs are counted in the schedule's **local wall-clock** time from the anchor
  ``start_date`` at ``handoff_time``: hand-off *k* is at wall time ``anchor + k * shift``.
  A 09:00 hand-off therefore stays at 09:00 local on both sides of a DST change, and so do
  the 08:00/20:00 hand-offs of a 12h rotation; a shift spanning a change is one hour
  shorter or longer in real time.
* A hand-off whose wall time does not exist (inside a spring-forward gap) happens at the
  instant the clocks jump. A wall time that occurs twice (fall-back) means its first
  occurrence.
* The rotation also runs backwards before ``start_date`` (slot -1 belongs to the last
  participant), so history and "who was on call" questions have an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncall.errors import ScheduleError
from oncall.schedules.models import WEEKDAYS, Layer

_DAY = timedelta(days=1)
_DAY_CACHE = 4096  # days of restriction windows remembered per layer


def require_aware(t: datetime, what: str = "instant") -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ScheduleError(f"{what} {t.isoformat()} has no time zone; oncall needs aware times")


def wall_to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local ``wall`` time in ``tz`` (see the module rules)."""
    first = wall.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 picks the first of a repeated time
    other = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    target = hi.astimezone(tz).utcoffset()
    # Binary search for the jump: the first second that has the post-change offset.
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def local_wall(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None)


class Rotation:
    """Participants taking turns; slot ``k`` starts at hand-off ``k`` (k may be negative)."""

    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        self.tz = tz
        self.participants = layer.participants
        self.step = layer.shift
        self.anchor = datetime.combine(layer.start_date, layer.handoff_time)
        self._cache: dict[int, datetime] = {}

    def boundary(self, k: int) -> datetime:
        """Instant (UTC) of hand-off ``k``."""
        hit = self._cache.get(k)
        if hit is None:
            hit = wall_to_instant(self.anchor + k * self.step, self.tz)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[k] = hit
        return hit

    def slot(self, t: datetime) -> int:
        """The k with boundary(k) <= t < boundary(k + 1)."""
        k = (local_wall(t, self.tz) - self.anchor) // self.step
        # The wall-clock estimate is off by at most the DST shift: a step or two fixes it.
        while self.boundary(k) > t:
            k -= 1
        while self.boundary(k + 1) <= t:
            k += 1
        return k

    def person(self, k: int) -> str:
        return self.participants[k % len(self.participants)]

    def boundaries(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Hand-off instants in the open interval (start, end)."""
        k = self.slot(start) + 1
        while (b := self.boundary(k)) < end:
            if b > start:
                yield b
            k += 1


class Mask:
    """A layer's restriction windows; a layer without restrictions covers all time."""

    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        self.tz = tz
        self.always = not layer.restrictions
        # weekday -> [(from, to, days later that `to` falls)]
        self.by_weekday: dict[int, list[tuple[time, time, int]]] = {i: [] for i in range(7)}
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        for r in layer.restrictions:
            if r.from_ == r.to or r.from_ == time.max:
                continue  # can never match; reported by checks
            if r.to == time.max:
                to, later = time(0), 1
            else:
                to, later = r.to, (1 if r.to < r.from_ else 0)
            for day in dict.fromkeys(r.days):
                self.by_weekday[WEEKDAYS.index(day)].append((r.from_, to, later))

    def _windows_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        # A day's windows never change: remember them (bounded), since shifts() and the
        # coverage check ask about the same days again and again.
        found = self._days.get(day)
        if found is None:
            if len(self._days) > _DAY_CACHE:
                self._days.clear()
            found = self._days[day] = tuple(
                (wall_to_instant(datetime.combine(day, start), self.tz),
                 wall_to_instant(datetime.combine(day + later * _DAY, end), self.tz))
                for start, end, later in self.by_weekday[day.weekday()])
        return found

    def covers(self, t: datetime) -> bool:
        if self.always:
            return True
        today = local_wall(t, self.tz).date()
        for day in (today - _DAY, today):
            for s, e in self._windows_on(day):
                if s <= t < e:
                    return True
        return False

    def edges(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Window edges in the open interval (start, end), unordered."""
        if self.always:
            return
        day = local_wall(start, self.tz).date() - _DAY
        last = local_wall(end, self.tz).date()
        while day <= last:
            for s, e in self._windows_on(day):
                for edge in (s, e):
                    if start < edge < end:
                        yield edge
            day += _DAY


class CompiledLayer:
    def __init__(self, layer: Layer, tz: ZoneInfo) -> None:
        self.rotation = Rotation(layer, tz)
        self.mask = Mask(layer, tz)

    def person_at(self, t: datetime) -> str | None:
        if not self.mask.covers(t):
            return None
        return self.rotation.person(self.rotation.slot(t))

    def change_points(self, start: datetime, end: datetime) -> Iterator[datetime]:
        yield from self.rotation.boundaries(start, end)
        yield from self.mask.edges(start, end)

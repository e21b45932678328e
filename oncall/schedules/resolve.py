"""Who is on call: layers resolved top-down, then overrides applied.

The answer at instant t is computed in three steps:

1. the highest (last-listed) layer that has someone at t gives the base person;
2. whole-schedule overrides active at t (no ``replaces``) replace that answer entirely;
3. overrides with ``replaces: X`` swap X for their person where X is in the answer.

:class:`ResolvedSchedule` compiles a schedule and its overrides once per configuration
snapshot; queries are then a bisect over the override boundaries plus a little
arithmetic per layer. Nothing here reads a clock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from oncall.errors import ScheduleError
from oncall.schedules.models import Override, Schedule
from oncall.schedules.rotation import CompiledLayer, local_wall, require_aware, wall_to_instant

# whole_shifts(): an unbroken stretch longer than this is cut at local month starts (a
# person alone in a layer is on call for ever, and a calendar event needs two ends). It
# also bounds how far beyond the window a stretch's true ends are looked for; it must be
# longer than any month (31 days and a DST hour).
LONGEST_SHIFT = timedelta(days=35)
# Smaller margins tried first: most shifts end within a day or a week of the window.
_MARGINS = (timedelta(days=1), timedelta(days=8), LONGEST_SHIFT)


@dataclass(frozen=True, kw_only=True, order=True)
class Shift:
    """``person`` is on call for ``schedule`` during [start, end)."""

    start: datetime
    end: datetime
    person: str
    schedule: str = ""


def _dedupe(people: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(people))


class ResolvedSchedule:
    """A schedule plus the overrides that concern it, ready for fast queries."""

    def __init__(self, schedule: Schedule, overrides: Iterable[Override] = ()) -> None:
        self.schedule = schedule
        self._layers = [CompiledLayer(layer, schedule.timezone) for layer in schedule.layers]
        mine = sorted(
            (o for o in overrides if o.schedule == schedule.id and o.end > o.start),
            key=lambda o: (o.start, o.id),
        )
        self.overrides = tuple(mine)
        spans = [(o.start.timestamp(), o.end.timestamp(), o) for o in mine]
        points = sorted({p for s, e, _ in spans for p in (s, e)})
        self._points = points
        # _active[i]: overrides in force on [points[i], points[i + 1]); one sweep, in start order.
        self._active: list[tuple[Override, ...]] = []
        running: list[tuple[float, float, Override]] = []
        nxt = 0
        for p in points:
            while nxt < len(spans) and spans[nxt][0] <= p:
                running.append(spans[nxt])
                nxt += 1
            running = [span for span in running if span[1] > p]
            self._active.append(tuple(o for _, _, o in running))

    # --- single instant -------------------------------------------------------------
    def base_at(self, t: datetime) -> str | None:
        """The person the layers give at t, before overrides."""
        for layer in reversed(self._layers):
            person = layer.person_at(t)
            if person is not None:
                return person
        return None

    def active_overrides(self, t: datetime) -> tuple[Override, ...]:
        i = bisect_right(self._points, t.timestamp()) - 1
        return self._active[i] if i >= 0 else ()

    def on_call(self, t: datetime) -> tuple[str, ...]:
        """Person ids on call at t, ordered, without duplicates (empty: nobody)."""
        require_aware(t)
        base = self.base_at(t)
        people: tuple[str, ...] = (base,) if base is not None else ()
        active = self.active_overrides(t)
        if not active:
            return people
        whole = [o.person for o in active if o.replaces is None]
        if whole:
            people = _dedupe(whole)
        swaps = {o.replaces: o.person for o in active if o.replaces is not None}
        return _dedupe(swaps.get(p, p) for p in people)

    # --- intervals ------------------------------------------------------------------
    def change_points(self, start: datetime, end: datetime) -> list[datetime]:
        """Sorted instants in [start, end) where the answer may change (start included)."""
        points = {start.astimezone(UTC)}
        for layer in self._layers:
            points.update(layer.change_points(start, end))
        lo = bisect_right(self._points, start.timestamp())
        hi = bisect_right(self._points, end.timestamp())
        for p in self._points[lo:hi]:
            instant = datetime.fromtimestamp(p, UTC)
            if start < instant < end:
                points.add(instant)
        return sorted(points)

    def segments(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime,
                                                                        tuple[str, ...]]]:
        """[start, end) cut where the answer changes: (from, to, people) with equal neighbours merged."""
        require_aware(start, "start")
        require_aware(end, "end")
        if end <= start:
            raise ScheduleError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        out: list[tuple[datetime, datetime, tuple[str, ...]]] = []
        points = self.change_points(start, end)
        for a, b in zip(points, [*points[1:], end.astimezone(UTC)], strict=True):
            people = self.on_call(a)
            if out and out[-1][2] == people:
                out[-1] = (out[-1][0], b, people)
            else:
                out.append((a, b, people))
        return out

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Shifts covering [start, end) (clipped to it); one per person per unbroken stretch."""
        open_since: dict[str, datetime] = {}
        result: list[Shift] = []
        sid = self.schedule.id
        segs = self.segments(start, end)
        for a, _b, people in segs:
            for person in [p for p in open_since if p not in people]:
                result.append(Shift(start=open_since.pop(person), end=a, person=person,
                                    schedule=sid))
            for person in people:
                open_since.setdefault(person, a)
        stop = segs[-1][1]
        result.extend(Shift(start=s, end=stop, person=p, schedule=sid)
                      for p, s in open_since.items())
        return sorted(result)

    def whole_shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Shifts overlapping [start, end) with their true start and end, not clipped.

        The same shift comes out the same whichever window asked for it (a calendar feed
        relies on that). A stretch longer than ``LONGEST_SHIFT`` comes out one local
        calendar month at a time, cut at midnight on the 1st in the schedule's zone.
        """
        require_aware(start, "start")
        require_aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            raise ScheduleError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        for margin in _MARGINS:
            lo, hi = start - margin, end + margin
            found = [s for s in self.shifts(lo, hi) if s.end > start and s.start < end]
            # A stretch touching lo or hi may go on beyond it. With the last margin such a
            # stretch is longer than LONGEST_SHIFT, so it is cut at month starts, and the
            # pieces overlapping the window all lie inside (lo, hi).
            if all(lo < s.start and s.end < hi for s in found):
                break
        result: list[Shift] = []
        for s in found:
            if s.end - s.start <= LONGEST_SHIFT:
                result.append(s)
                continue
            cuts = [s.start, *self._month_starts(s.start, s.end), s.end]
            result.extend(Shift(start=a, end=b, person=s.person, schedule=s.schedule)
                          for a, b in pairwise(cuts) if b > start and a < end)
        return sorted(result)

    def _month_starts(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants of local midnight on the 1st of a month in the open interval (start, end)."""
        tz = self.schedule.timezone
        day = local_wall(start, tz).date().replace(day=1)
        out = []
        while (t := wall_to_instant(datetime.combine(day, time(0)), tz)) < end:
            if t > start:
                out.append(t)
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return out

    def gaps(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Windows in [start, end) where nobody is on call."""
        return [(a, b) for a, b, people in self.segments(start, end) if not people]


def members(schedule: Schedule) -> tuple[str, ...]:
    """Every participant of every layer, in first-appearance order."""
    return _dedupe(p for layer in schedule.layers for p in layer.participants)


def on_call(schedule: Schedule, t: datetime, overrides: Iterable[Override] = ()) -> tuple[str, ...]:
    """Person ids on call for ``schedule`` at ``t`` (compile with ResolvedSchedule for speed)."""
    return ResolvedSchedule(schedule, overrides).on_call(t)


def shifts(schedule: Schedule, start: datetime, end: datetime,
           overrides: Iterable[Override] = ()) -> list[Shift]:
    """Resolved shifts of ``schedule`` within [start, end)."""
    return ResolvedSchedule(schedule, overrides).shifts(start, end)

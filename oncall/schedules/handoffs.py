"""Upcoming hand-offs, so the daemon can tell people before their shift starts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from oncall.schedules.models import Override, Schedule
from oncall.schedules.resolve import ResolvedSchedule
from oncall.schedules.rotation import require_aware

# How far past the window we look to find where a starting shift ends. A shift longer
# than this is reported as ending at the look-ahead limit.
LOOKAHEAD = timedelta(days=35)
# Shifts already running at `start` are not hand-offs; looking back a moment tells a
# shift that begins exactly at `start` from one merely clipped there.
_LOOKBACK = timedelta(minutes=1)


@dataclass(frozen=True, kw_only=True, order=True)
class Handoff:
    """``person`` goes on call for ``schedule`` at ``start`` until ``end``."""

    start: datetime
    end: datetime
    person: str
    schedule: str = ""


def upcoming_handoffs(schedule: Schedule | ResolvedSchedule, overrides: Iterable[Override],
                      start: datetime, end: datetime) -> list[Handoff]:
    """Shifts that begin within [start, end), with their full (resolved) end."""
    resolved = (schedule if isinstance(schedule, ResolvedSchedule)
                else ResolvedSchedule(schedule, overrides))
    require_aware(start, "start")
    require_aware(end, "end")
    # In UTC: a minute before 03:00:30 on a spring-forward morning is not 02:59:30 local.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found = resolved.shifts(start - _LOOKBACK, end + LOOKAHEAD)
    return [Handoff(start=s.start, end=s.end, person=s.person, schedule=s.schedule)
            for s in found if start <= s.start < end]


def _when(t: datetime, with_date: bool) -> str:
    return t.strftime("%a %Y-%m-%d %H:%M" if with_date else "%a %H:%M")


def handoff_text(handoff: Handoff, tz: ZoneInfo) -> str:
    """'You are on call from Fri 17:00 to Mon 07:00 (America/Los_Angeles)'.

    Day names alone are ambiguous for shifts of six days or more (a weekly shift runs
    Mon to Mon), so those also print dates.
    """
    start, end = handoff.start.astimezone(tz), handoff.end.astimezone(tz)
    with_date = end - start >= timedelta(days=6)
    return (f"You are on call from {_when(start, with_date)} "
            f"to {_when(end, with_date)} ({tz.key})")

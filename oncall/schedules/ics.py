"""RFC 5545 calendar feeds of shifts, per person or per schedule."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from oncall.schedules.resolve import Shift

PRODID = "-//oncall//schedules//EN"


def shift_uid(shift: Shift) -> str:
    """Stable across regenerations: the same shift always gets the same UID."""
    key = f"{shift.schedule}|{shift.person}|{shift.start.astimezone(UTC).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@oncall"


def shifts_ics(shifts: Iterable[Shift], *, calendar_name: str, tz: ZoneInfo,
               with_person: bool = False, stamp: datetime | None = None) -> bytes:
    """An ICS document with one VEVENT per shift, times given with TZID ``tz``.

    ``with_person`` adds the person to each summary (for a per-schedule feed).
    ``stamp`` is the DTSTAMP (defaults to each shift's start so output is reproducible).
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name)
    cal.add("x-wr-timezone", tz.key)
    shifts = list(shifts)
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", (stamp or shift.start).astimezone(UTC))
        event.add("dtstart", shift.start.astimezone(tz))
        event.add("dtend", shift.end.astimezone(tz))
        label = shift.schedule or calendar_name
        summary = f"On call: {label}"
        if with_person:
            summary += f" ({shift.person})"
        event.add("summary", summary)
        event.add("description", f"{shift.person} is on call for {label}.")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    if shifts:
        # Keep the VTIMEZONE to the span of the feed (the default stops at 2038).
        first = min(s.start for s in shifts).astimezone(tz).date() - timedelta(days=366)
        last = max(s.end for s in shifts).astimezone(tz).date() + timedelta(days=366)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return bytes(cal.to_ical())

"""RFC 5545 calendar feeds of shifts, per person or per schedule.

A subscribed calendar fetches the feed again and again, each time for a window that has
moved on; it matches events by ``UID``. So:

* feed whole shifts (``ResolvedSchedule.whole_shifts``), never shifts clipped to the
  window: the UID hashes the schedule, the person and the shift's true start, and the
  event shows the shift's true start and end, whichever window produced it;
* ``DTSTAMP`` is when the feed was generated (the caller's ``now``);
* ``DTSTART``/``DTEND`` are written in UTC (``…Z``). A ``TZID`` local time inside the
  hour repeated when clocks go back means its first occurrence (RFC 5545 3.3.5), so a
  hand-off at 01:30 GMT on a fall-back night would show an hour early. Calendar apps
  display UTC times in the reader's zone; ``X-WR-TIMEZONE`` names the intended one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from oncall.schedules.resolve import Shift
from oncall.schedules.rotation import require_aware

PRODID = "-//oncall//schedules//EN"


def shift_uid(shift: Shift) -> str:
    """The same shift always gets the same UID (given its true, unclipped start)."""
    key = f"{shift.schedule}|{shift.person}|{shift.start.astimezone(UTC).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@oncall"


def shifts_ics(shifts: Iterable[Shift], *, calendar_name: str, tz: ZoneInfo, now: datetime,
               with_person: bool = False) -> bytes:
    """An ICS document with one VEVENT per shift; ``now`` (aware) is the DTSTAMP.

    ``tz`` is the calendar's display zone (``X-WR-TIMEZONE``); every instant is in UTC.
    ``with_person`` adds the person to each summary (for a per-schedule feed).
    """
    from icalendar import Calendar, Event  # on the first feed asked for: 9 MB a process need not carry

    require_aware(now, "now")
    stamp = now.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name)
    cal.add("x-wr-timezone", tz.key)
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        label = shift.schedule or calendar_name
        summary = f"On call: {label}"
        if with_person:
            summary += f" ({shift.person})"
        event.add("summary", summary)
        event.add("description", f"{shift.person} is on call for {label}.")
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return bytes(cal.to_ical())

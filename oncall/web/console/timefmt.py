"""Times as the console shows them: in the viewer's zone, short, with the zone's abbreviation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def local(t: datetime | None, tz: ZoneInfo) -> str:
    """'Tue 14 Jul 03:12 EDT'."""
    if t is None:
        return "–"
    lt = t.astimezone(tz)
    return f"{lt:%a %d %b %H:%M} {lt.tzname()}"


def clock(t: datetime | None, tz: ZoneInfo) -> str:
    """'03:12:05' (timeline rows, where the day is shown once above)."""
    return "–" if t is None else t.astimezone(tz).strftime("%H:%M:%S")


def day(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%a %d %b")


def iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat()


def ago(t: datetime | None, now: datetime) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago'; 'in 5 min' for the future."""
    if t is None:
        return "–"
    delta = now - t
    future = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 45:
        return "just now" if not future else "in a moment"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            n = int(seconds // size)
            return f"in {n} {unit}" if future else f"{n} {unit} ago"
    return "just now"


def span(a: datetime, b: datetime, tz: ZoneInfo) -> str:
    """'Mon 12 Jan 08:00 → Mon 19 Jan 08:00 EST'."""
    la, lb = a.astimezone(tz), b.astimezone(tz)
    if la.date() == lb.date():
        return f"{la:%a %d %b %H:%M}–{lb:%H:%M} {lb.tzname()}"
    return f"{la:%a %d %b %H:%M} → {lb:%a %d %b %H:%M} {lb.tzname()}"


def input_value(t: datetime | None, tz: ZoneInfo) -> str:
    """The value of an ``<input type=datetime-local>`` in ``tz``."""
    return "" if t is None else t.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


FILTERS: dict[str, Any] = {"local": local, "clock": clock, "day": day, "iso": iso, "ago": ago, "span": span,
                           "input_value": input_value}

"""Instants typed by people: ISO-8601 with an offset, or a local time with a zone name.

``2026-11-28T03:00-05:00`` · ``2026-11-28 03:00Z`` · ``2026-11-28 03:00 America/New_York``.
A local time that the zone skips (spring forward) is refused, and so is one it repeats
(fall back) — giving the offset says which of the two is meant. Pure: ``now`` is only used
for the word ``now``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXAMPLE = "2026-11-28T03:00-05:00, or 2026-11-28 03:00 America/New_York"


class InstantError(ValueError):
    """The text is not an instant; the message says why and shows the accepted forms."""


def parse_instant(value: str, now: datetime) -> datetime:
    """The aware instant ``value`` names. Raises :class:`InstantError`."""
    text = value.strip()
    if text.lower() == "now":
        return now
    stamp, _, zone_name = text.rpartition(" ")
    if stamp and ("/" in zone_name or zone_name.upper() in ("UTC", "GMT")):
        return _local(stamp.strip(), zone_name, value)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InstantError(f"{value!r} is not a time (e.g. {EXAMPLE})") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InstantError(f"{value!r} has no time zone: add an offset (Z, -05:00) or a zone name "
                           f"(e.g. {EXAMPLE})")
    return t


def _local(stamp: str, zone_name: str, value: str) -> datetime:
    try:
        zone = UTC if zone_name.upper() in ("UTC", "GMT") else ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InstantError(f"{value!r}: unknown time zone {zone_name!r} (use an IANA name such as "
                           "Europe/London)") from None
    try:
        naive = datetime.fromisoformat(stamp)
    except ValueError:
        raise InstantError(f"{value!r} is not a time (e.g. {EXAMPLE})") from None
    if naive.tzinfo is not None:
        raise InstantError(f"{value!r} gives both an offset and a zone name: give one")
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise InstantError(f"{value!r} does not exist: the clocks in {zone_name} skip that hour "
                           f"({_offset(first)} → {_offset(second)})")
    if first.utcoffset() != second.utcoffset():
        raise InstantError(f"{value!r} happens twice in {zone_name} (clocks go back): give the offset, "
                           f"{naive.isoformat(sep=' ', timespec='minutes')}{_offset(first)} or "
                           f"{naive.isoformat(sep=' ', timespec='minutes')}{_offset(second)}")
    return first


def _offset(t: datetime) -> str:
    return t.isoformat()[-6:] if t.utcoffset() else "+00:00"

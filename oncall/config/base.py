"""Shared building blocks for configuration models: strict frozen models, durations, times."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema


class Model(BaseModel):
    """Base for configuration models: frozen, keyword-only, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _zone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("time zone must be an IANA name such as 'America/New_York'")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/London')") from None


TimeZone = Annotated[ZoneInfo, BeforeValidator(_zone), PlainSerializer(lambda z: z.key, return_type=str),
                     WithJsonSchema({"type": "string", "description": "an IANA time zone, e.g. Europe/London"})]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> timedelta:
    """'90m', '2h', '1h30m', '2d', '1w', an integer number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("duration must not be negative")
        return _timedelta(value, value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use e.g. '30m', '2h', '2d')")
    text = value.strip().lower().replace(" ", "")
    pos = 0
    seconds = 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use e.g. '30m', '2h', '1h30m', '2d', '1w')")
    return _timedelta(seconds, value)


def _timedelta(seconds: float, value: object) -> timedelta:
    # NaN, infinity and more than ~2.7 million years would escape as OverflowError, which
    # pydantic does not turn into a validation error: the loader would crash.
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ValueError(f"duration out of range: {value!r}") from None


def format_duration(td: timedelta) -> str:
    """The inverse of :func:`parse_duration`, exact to the microsecond (policies are stored
    with incidents as JSON, so a lossy form would change their delays)."""
    whole, micros = divmod(td // timedelta(microseconds=1), 1_000_000)
    if whole == 0 and micros == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, whole = divmod(whole, size)
        if n:
            parts.append(f"{n}{unit}")
    if whole or micros:
        parts.append(f"{whole}.{micros:06d}".rstrip("0").rstrip(".") + "s")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration),
                     PlainSerializer(format_duration, return_type=str),
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^(\d+(\.\d+)?\s*[wdhms]\s*)+$"},
                                               {"type": "integer", "minimum": 0}],
                                     "description": "a duration such as 30m, 2h, 1h30m, 2d, 1w (or seconds)"})]


def parse_clock_time(value: object) -> time:
    """'HH:MM' (24-hour). '24:00' is accepted as the end of a day and returned as time.max."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 17:00 unquoted as sexagesimal 1020; undo that.
        hours, minutes = divmod(value, 60)
        value = f"{hours:02d}:{minutes:02d}"
    if not isinstance(value, str):
        raise ValueError(f"not a time of day: {value!r} (use 'HH:MM')")
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
    if not m:
        raise ValueError(f"not a time of day: {value!r} (use 'HH:MM')")
    h, mi = int(m.group(1)), int(m.group(2))
    if (h, mi) == (24, 0):
        return time.max
    if h > 23 or mi > 59:
        raise ValueError(f"not a time of day: {value!r}")
    return time(h, mi)


ClockTime = Annotated[time, BeforeValidator(parse_clock_time),
                      WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$",
                                      "description": "a time of day, HH:MM (24:00 = end of day)"})]


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"expected a date (YYYY-MM-DD), got a timestamp: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD)")


Day = Annotated[date, BeforeValidator(parse_date)]


def parse_aware(value: object) -> datetime:
    """An ISO-8601 timestamp with a time zone offset; naive timestamps are refused."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"not a timestamp: {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value.isoformat()} has no time zone offset (add e.g. Z or -05:00)")
    return value


AwareDatetime = Annotated[datetime, BeforeValidator(parse_aware)]


def one_or_many(value: Any) -> Any:
    """Accept a single value where a list is expected."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    return [value]

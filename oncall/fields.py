"""Field types every configuration model is built from: the strict frozen ``Model``,
durations, clock times, dates, aware timestamps, time zones, one-or-many lists.

The bottom layer: it imports nothing from oncall, and every package whose models appear in
the configuration (desks, schedules, rules, entitlements, escalation, sources, notify…) builds
on it; ``oncall.config`` assembles those models into sections and the snapshot, on top.

Each field type carries the JSON Schema of its *written* form (what a YAML file may say, as
YAML 1.1 and 1.2 parsers read it), so ``oncall schema`` describes what ``oncall check``
accepts. JSON Schema patterns have no case-insensitive flag: :func:`any_case` spells one out.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema


class Model(BaseModel):
    """Base for configuration models: frozen, keyword-only, unknown keys rejected.

    A field's docstring (the string literal under it) is its description in ``oncall schema``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              use_attribute_docstrings=True)


def any_case(*words: str) -> str:
    """A regular-expression group matching any of ``words`` in any letter case.

    JSON Schema patterns (ECMA-262, also read by Python's ``re``) have no flags, so each letter
    becomes a class: ``any_case("off")`` is ``(?:[oO][fF][fF])``. A space matches a run of
    spaces, underscores or hyphens, as the vocabularies' parsers read them.
    """
    def letter(c: str) -> str:
        if c.isalpha():
            return f"[{c.lower()}{c.upper()}]"
        if c == " ":
            return r"[\s_-]+"
        return "\\" + c if c in r"\^$.|?*+()[]{}/" else c

    def spell(word: str) -> str:
        return "".join(letter(c) for c in word)

    return "(?:" + "|".join(spell(w) for w in sorted(words, key=lambda w: (-len(w), w))) + ")"


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
                     WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$",
                                     "examples": ["America/New_York", "Europe/London", "UTC"],
                                     "description": "an IANA time zone, e.g. Europe/London"})]

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


DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(?:\d+(?:\.\d+)?\s*[wdhmsWDHMS] *)+\s*$"},
              {"type": "number", "minimum": 0}],
    "description": "a duration: a number and a unit (w, d, h, m, s), several in a row (1h30m), "
                   "or a number of seconds",
}
Duration = Annotated[timedelta, BeforeValidator(parse_duration),
                     PlainSerializer(format_duration, return_type=str),
                     WithJsonSchema(DURATION_SCHEMA, mode="validation")]


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


# HH:MM with hours 0-23 and minutes 00-59, or 24:00; shared with the desks' "HH:MM-HH:MM" windows.
CLOCK_TIME_PATTERN = r"(?:[01]?\d:[0-5]\d|2[0-3]:[0-5]\d|24:00)"
CLOCK_TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": rf"^\s*{CLOCK_TIME_PATTERN}\s*$"},
              {"type": "integer", "minimum": 0, "maximum": 1440,
               "description": "YAML 1.1 reads an unquoted 17:00 as the number 1020 (minutes)"}],
    "description": "a time of day, HH:MM (24:00 = the end of the day); quote it",
}
ClockTime = Annotated[time, BeforeValidator(parse_clock_time), WithJsonSchema(CLOCK_TIME_SCHEMA, mode="validation")]


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


# date.fromisoformat (Python 3.11): 2026-12-24, 20261224, 2026-W52-4.
_DATE_PATTERN = r"(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}-?W\d{2}-?[1-7])"
Day = Annotated[date, BeforeValidator(parse_date),
                WithJsonSchema({"type": "string", "pattern": rf"^\s*{_DATE_PATTERN}\s*$",
                                "description": "a date, YYYY-MM-DD"}, mode="validation")]


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


_TIME_PATTERN = r"\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?"
AwareDatetime = Annotated[datetime, BeforeValidator(parse_aware), WithJsonSchema({
    "type": "string",
    "pattern": rf"^\s*{_DATE_PATTERN}[T ]{_TIME_PATTERN}\s*(?:Z|[+-]{_TIME_PATTERN})\s*$",
    "description": "an ISO 8601 timestamp with a time zone offset, e.g. 2026-12-24T17:00:00-08:00 or …Z",
}, mode="validation")]


def one_or_many(value: Any) -> Any:
    """Accept a single value where a list is expected."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set, frozenset)):
        return value
    return [value]

"""Configuration model of a support desk: time zone, weekly hours, holidays, company days.

YAML section ``desks`` (a list)::

    desks:
      - id: us
        name: US desk
        timezone: America/New_York
        hours:                         # mon..sun, ranges (mon-fri), weekdays, weekends, daily
          mon-fri: "09:00-17:00"
          sat: ["10:00-12:00", "13:00-15:00"]
        holidays: {country: US, subdiv: NY, only: ["Christmas Day"], observed: true}
        closed: [{date: 2026-12-24, name: Company shutdown}]
        half_days: [{date: 2026-12-31, hours: "09:00-13:00", name: New Year's Eve}]
        emergency_only: [{date: 2026-12-28, name: Year-end freeze}]
        handover: {schedule: day-shift, digest: [email]}   # the morning hand-over's readers

A window ``"22:00-02:00"`` crosses midnight and belongs to the day it starts on;
``"00:00-24:00"`` is a whole day. Everything is a tuple so that a ``Desk`` is hashable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from oncall.desks.holiday_calendar import check_calendar, resolve_only
from oncall.fields import (
    CLOCK_TIME_PATTERN,
    CLOCK_TIME_SCHEMA,
    Day,
    Model,
    TimeZone,
    any_case,
    one_or_many,
    parse_clock_time,
)

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{k: k for k in DAY_KEYS},
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
    "friday": "fri", "saturday": "sat", "sunday": "sun",
}
_GROUPS = {
    "weekdays": DAY_KEYS[:5], "weekday": DAY_KEYS[:5],
    "weekends": DAY_KEYS[5:], "weekend": DAY_KEYS[5:],
    "daily": DAY_KEYS, "everyday": DAY_KEYS,
}
_WINDOW_RE = re.compile(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*")
_CLOSED_WORDS = {"closed", "none", "off"}
_WINDOW_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "pattern": rf"^\s*{CLOCK_TIME_PATTERN}\s*-\s*{CLOCK_TIME_PATTERN}\s*$"},
        {"type": "object", "required": ["start", "end"], "additionalProperties": False,
         "properties": {"start": CLOCK_TIME_SCHEMA, "end": CLOCK_TIME_SCHEMA}},
    ],
    "description": "an opening window 'HH:MM-HH:MM' (or {start, end}); an end before the start "
                   "crosses midnight, 24:00 ends the day",
}
_DAY_SCHEMA: JsonSchemaValue = {
    "anyOf": [_WINDOW_SCHEMA, {"type": "array", "items": _WINDOW_SCHEMA},
              {"type": "string", "enum": sorted(_CLOSED_WORDS)},
              {"type": "string", "pattern": rf"^\s*{any_case(*_CLOSED_WORDS)}\s*$"},
              {"type": "null"}],
    "description": "the day's opening window(s); closed, none, [] or nothing for a day without hours",
}
# mon, Monday, a range such as mon-fri or fri-mon, weekdays, weekends, daily.
DAY_KEY_PATTERN = (rf"^\s*(?:{any_case(*_GROUPS)}|{any_case(*_DAY_ALIASES)}"
                   rf"(?:\s*-\s*{any_case(*_DAY_ALIASES)})?)\s*$")
MINUTES_PER_DAY = 1440


def _minute_of_day(value: object) -> int:
    # parse_clock_time also undoes YAML 1.1's sexagesimal integers (17:00 -> 1020).
    t = parse_clock_time(value)
    if t.hour == 23 and t.minute == 59 and t.second == 59:  # '24:00' comes back as time.max
        return MINUTES_PER_DAY
    return t.hour * 60 + t.minute


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Window(Model):
    """One opening window of a day, as minutes after that day's local midnight.

    ``end`` exceeds 1440 when the window crosses midnight ("22:00-02:00" is 1320..1560).
    Written as ``"HH:MM-HH:MM"`` or ``{start: "HH:MM", end: "HH:MM"}``.
    """

    start: int
    end: int

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, Window):
            return value
        if isinstance(value, str):
            m = _WINDOW_RE.fullmatch(value)
            if not m:
                raise ValueError(f"not an opening window: {value!r} (use 'HH:MM-HH:MM')")
            start, end = _minute_of_day(m.group(1)), _minute_of_day(m.group(2))
        elif isinstance(value, Mapping) and set(value) == {"start", "end"}:
            start, end = _minute_of_day(value["start"]), _minute_of_day(value["end"])
        else:
            raise ValueError(f"not an opening window: {value!r} (use 'HH:MM-HH:MM')")
        if start == MINUTES_PER_DAY:
            raise ValueError(f"window {value!r} starts at 24:00 (start it at 00:00 instead)")
        if start == end:
            raise ValueError(f"window {value!r} starts and ends at the same time")
        if end < start:  # crosses midnight: ends on the next day
            end += MINUTES_PER_DAY
        return {"start": start, "end": end}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # Documents the written form, not the minute fields it is parsed into.
        return dict(_WINDOW_SCHEMA)

    @model_serializer
    def _text(self) -> str:
        return str(self)

    def __str__(self) -> str:
        end = self.end if self.end <= MINUTES_PER_DAY else self.end - MINUTES_PER_DAY
        return f"{_clock(self.start)}-{_clock(end)}"

    @property
    def minutes(self) -> int:
        return self.end - self.start


def _windows(value: Any) -> tuple[Window, ...]:
    """One window, a list of them, or 'closed'/empty for a day without hours."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _CLOSED_WORDS):
        return ()
    windows = sorted((Window.model_validate(v) for v in one_or_many(value)),
                     key=lambda w: w.start)
    for before, after in pairwise(windows):
        if after.start < before.end:
            raise ValueError(f"windows {before} and {after} overlap")
    return tuple(windows)


def expand_day_key(key: object) -> tuple[str, ...]:
    """The days one name stands for: a day, a range (mon-fri, fri-mon), weekdays, weekends, daily.

    The one day vocabulary of the configuration: desk hours' keys and schedule restrictions'
    days both read through here. ValueError names the word and the accepted forms.
    """
    if not isinstance(key, str):
        raise ValueError(f"unknown day {key!r}")
    text = key.strip().lower()
    if text in _GROUPS:
        return _GROUPS[text]
    if text in _DAY_ALIASES:
        return (_DAY_ALIASES[text],)
    first, sep, last = text.partition("-")
    if sep and first.strip() in _DAY_ALIASES and last.strip() in _DAY_ALIASES:
        i, j = DAY_KEYS.index(_DAY_ALIASES[first.strip()]), DAY_KEYS.index(_DAY_ALIASES[last.strip()])
        span = (j - i) % 7 + 1  # 'fri-mon' wraps over the weekend
        return tuple(DAY_KEYS[(i + k) % 7] for k in range(span))
    raise ValueError(
        f"unknown day {key!r} (use mon tue wed thu fri sat sun, a range such as 'mon-fri', "
        "'weekdays', 'weekends' or 'daily')"
    )


class WeeklyHours(Model):
    """Opening windows per weekday; input keys may be ranges or groups, each day at most once."""

    mon: tuple[Window, ...] = ()
    tue: tuple[Window, ...] = ()
    wed: tuple[Window, ...] = ()
    thu: tuple[Window, ...] = ()
    fri: tuple[Window, ...] = ()
    sat: tuple[Window, ...] = ()
    sun: tuple[Window, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if isinstance(value, WeeklyHours):
            return value
        if not isinstance(value, Mapping):
            raise ValueError("hours must be a mapping such as {mon-fri: '09:00-17:00'}")
        days: dict[str, tuple[Window, ...]] = {}
        given_by: dict[str, str] = {}
        for key, spec in value.items():
            windows = _windows(spec)
            for day in expand_day_key(key):
                if day in given_by:
                    raise ValueError(f"{day} is given twice (in {given_by[day]!r} and {key!r})")
                given_by[day] = str(key)
                days[day] = windows
        return days

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {
            "type": "object",
            "description": "day (mon..sun), range (mon-fri), weekdays, weekends or daily → "
                           "window(s); each day at most once",
            "propertyNames": {"pattern": DAY_KEY_PATTERN},
            "additionalProperties": _DAY_SCHEMA,
        }

    def by_weekday(self) -> tuple[tuple[Window, ...], ...]:
        """Windows indexed like ``date.weekday()`` (Monday = 0)."""
        return (self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun)


class HolidayCalendar(Model):
    """A public holiday calendar from the ``holidays`` library, optionally a named subset."""

    country: str = Field(json_schema_extra={"pattern": r"^\s*[A-Za-z]{2,3}\s*$"})
    """The country's ISO 3166 code, e.g. US, GB, AU (any case)."""
    subdiv: str | None = None
    """A subdivision of the country as the ``holidays`` library names it, e.g. NY, ENG, NSW."""
    only: tuple[str, ...] | None = None
    """Only these holidays, by name (any case; a unique leading part such as Thanksgiving will
    do); absent: all of them."""
    observed: bool = True
    """Whether a holiday's "(observed)" substitute day closes the desk too."""
    categories: tuple[str, ...] | None = None
    """The library's holiday categories to use, e.g. [public, bank]; absent: public holidays."""

    @field_validator("country", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("only", "categories", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return None if value is None else one_or_many(value)

    @model_validator(mode="after")
    def _check(self) -> HolidayCalendar:
        check_calendar(self.country, self.subdiv, self.categories)
        if self.only is not None:
            resolve_only(self.country, self.subdiv, self.observed, self.categories, self.only)
        return self


class ClosedDay(Model):
    """A company-specific closed date (desk state 'holiday')."""

    date: Day
    """The local date the desk is closed."""
    name: str = "Company closed day"
    """What the day is called in explanations."""


class HalfDay(Model):
    """A date whose hours replace the weekly hours."""

    date: Day
    """The local date."""
    hours: Annotated[tuple[Window, ...], WithJsonSchema(_DAY_SCHEMA)]
    """That day's opening window(s), e.g. "09:00-13:00"."""
    name: str = "Half day"
    """What the day is called in explanations."""

    @field_validator("hours", mode="before")
    @classmethod
    def _parse_hours(cls, value: Any) -> Any:
        return _windows(value)


class EmergencyOnlyDay(Model):
    """A date on which the desk is closed except for emergencies (state 'emergency-only')."""

    date: Day
    """The local date."""
    name: str = "Emergency-only day"
    """What the day is called in explanations."""


class Handover(Model):
    """Who reads the desk's hand-over of the tickets that waited while it was closed."""

    schedule: str | None = None
    """The schedule whose people on call at the opening receive it; absent: the admins
    (notifications.admins)."""
    digest: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = ("email",)
    """Channels that also get the full list (e-mail, a chat channel) besides the SMS summary,
    for each reader with an address on them; [] for the SMS summary only."""
    sms: bool = True
    """Send the SMS summary (an e-mail instead to a reader without a phone or who texted STOP)."""


class Desk(Model):
    """A support desk: its time zone, weekly business hours, holidays and company days.

    Business-time questions are answered by ``oncall.desks`` functions.
    """

    id: str = Field(min_length=1)
    """The desk's id, named by customers (desk) and rules (when.desk)."""
    name: str | None = None
    """A display name."""
    timezone: TimeZone
    """The desk's IANA time zone; hours and dates are local to it."""
    hours: WeeklyHours
    """Weekly opening hours, e.g. {mon-fri: "09:00-17:00"}."""
    holidays: HolidayCalendar | None = None
    """Public holidays on which the desk is closed (desk state 'holiday')."""
    closed: tuple[ClosedDay, ...] = ()
    """Company days on which the desk is closed (desk state 'holiday')."""
    half_days: tuple[HalfDay, ...] = ()
    """Dates with their own hours instead of the weekly ones."""
    emergency_only: tuple[EmergencyOnlyDay, ...] = ()
    """Dates on which the desk is closed except for emergencies (desk state 'emergency-only')."""
    handover: Handover = Handover()
    """Who receives the hand-over at each opening of the tickets that waited while it was closed."""

    @field_validator("closed", "half_days", "emergency_only", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return one_or_many(value)

    @model_validator(mode="after")
    def _check(self) -> Desk:
        if not any(self.hours.by_weekday()):
            raise ValueError(f"desk {self.id!r} is never open: its hours have no window")
        seen: dict[object, str] = {}
        for kind, days in (("closed", self.closed), ("half_days", self.half_days),
                           ("emergency_only", self.emergency_only)):
            for day in days:
                if day.date in seen:
                    raise ValueError(
                        f"{day.date.isoformat()} is listed twice (in {seen[day.date]} and {kind})"
                    )
                seen[day.date] = kind
        return self


def default_desk(desks: Mapping[str, Desk]) -> Desk:
    """The desk serving tickets that name no known customer (or one without a desk): the
    first desk of the configuration, in file order. Raises ``StopIteration`` on no desks
    (the loader refuses such a configuration)."""
    return next(iter(desks.values()))

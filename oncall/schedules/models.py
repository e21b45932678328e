"""Configuration models for people, rotation schedules and overrides (YAML sections).

``people``, ``schedules`` and ``overrides`` are list sections; every model is frozen and
uses tuples so a snapshot is hashable. Checks that need more than one item (unknown
people, overlaps, coverage gaps) live in :mod:`oncall.schedules.checks`.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

import phonenumbers
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from oncall.config.base import AwareDatetime, ClockTime, Day, Duration, Model, TimeZone, any_case, one_or_many

IDENT_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Ident = Annotated[str, Field(pattern=IDENT_PATTERN, max_length=100)]

ContactMethod = Literal["sms", "voice", "email"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY_GROUPS: dict[str, tuple[str, ...]] = {
    "weekdays": WEEKDAYS[:5],
    "weekends": WEEKDAYS[5:],
    "everyday": WEEKDAYS,
}


def _expand_days(value: object) -> object:
    """Accept 'weekdays' / 'weekends' / 'everyday' and full or capitalised day names."""
    items = one_or_many(value)
    if not isinstance(items, (list, tuple)):
        return items
    out: list[object] = []
    for item in items:
        if isinstance(item, str):
            key = item.strip().lower()
            if key in _DAY_GROUPS:
                out.extend(_DAY_GROUPS[key])
                continue
            out.append(key[:3] if len(key) > 3 and key[:3] in WEEKDAYS else key)
        else:
            out.append(item)
    return out


# A day as _expand_days reads it: a group, or any word starting with a day's three letters.
_DAY_NAME = Annotated[Weekday, WithJsonSchema({
    "anyOf": [{"type": "string", "enum": [*WEEKDAYS, *_DAY_GROUPS]},
              {"type": "string", "pattern": rf"^\s*(?:{any_case(*_DAY_GROUPS)}\s*|{any_case(*WEEKDAYS)}.*)$"}],
    "description": "a day: mon … sun (Monday, Tue… in any case), weekdays, weekends or everyday",
}, mode="validation")]


def _normalise_phone(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("write phone numbers in quotes in E.164 form, e.g. \"+14155550101\"")
    if not isinstance(value, str):
        raise ValueError(f"not a phone number: {value!r}")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            f"phone number {value!r} is not in E.164 form (e.g. \"+14155550101\")") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"phone number {value!r} is not a valid number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


Phone = Annotated[str, BeforeValidator(_normalise_phone), WithJsonSchema({
    "type": "string", "pattern": r"^\s*\+\d[\d\s().-]*$",
    "description": "a phone number in international (E.164) form, e.g. \"+14155550101\"; quote it",
}, mode="validation")]


class Person(Model):
    """Someone who can be paged."""

    id: Ident
    """The person's id, named by schedules, overrides, escalation steps and admins."""
    name: str
    """The person's name, as pages and calendars show it."""
    timezone: TimeZone
    """The person's own time zone: their shifts and calendar feed are shown in it."""
    phone: Phone | None = None
    """Mobile number for SMS and calls, validated with phonenumbers; quote it."""
    email: str | None = None
    """E-mail address for the email contact method."""
    contact_methods: Annotated[tuple[ContactMethod, ...], BeforeValidator(one_or_many)] = (
        "sms", "voice")
    """How to reach the person, tried in this order when a step's contact is own."""
    manager: str | None = None
    """The id of the person's manager."""


class Restriction(Model):
    """Covered window: on each listed day from ``from`` until ``to`` (next day if earlier).

    ``to: "24:00"`` means the end of that day. Outside every window of a layer the layer
    has nobody, so a lower layer (or nobody) answers.
    """

    days: Annotated[tuple[_DAY_NAME, ...], BeforeValidator(_expand_days)]
    """The days a window starts on: mon … sun, weekdays, weekends, everyday."""
    from_: ClockTime = Field(alias="from")
    """Local time the window starts, HH:MM."""
    to: ClockTime
    """Local time the window ends, HH:MM; earlier than from: on the next day; 24:00: at midnight."""


class Layer(Model):
    """A rotation: participants take turns, each for ``shift``, handing off at ``handoff_time``."""

    name: str = "layer"
    """A name for explanations and calendars."""
    participants: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = Field(min_length=1)
    """People's ids, in the order they take turns."""
    shift: Duration
    """How long each turn lasts, a positive whole number of hours: 12h, 1d, 1w…"""
    handoff_time: ClockTime = time(9, 0)
    """Local wall time of each hand-off (stays put across DST changes), HH:MM."""
    start_date: Day
    """The local date of the first participant's first hand-off."""
    restrictions: tuple[Restriction, ...] = ()
    """Only these windows are covered; outside them lower layers apply. Empty: all the time."""

    @field_validator("shift")
    @classmethod
    def _whole_hours(cls, value: timedelta) -> timedelta:
        seconds = value.total_seconds()
        if seconds <= 0 or seconds % 3600:
            raise ValueError("shift must be a positive whole number of hours, e.g. '12h', '1d', '1w'")
        return value

    @field_validator("handoff_time")
    @classmethod
    def _real_time(cls, value: time) -> time:
        if value == time.max:
            raise ValueError("handoff_time must be between 00:00 and 23:59")
        return value


class Schedule(Model):
    """Ordered layers in one time zone; a later layer wins where it has someone on call."""

    id: Ident
    """The schedule's id, named by escalation targets and overrides."""
    name: str = ""
    """A display name."""
    timezone: TimeZone
    """The time zone of hand-off times, start dates and restrictions."""
    layers: tuple[Layer, ...] = Field(min_length=1)
    """Rotations, lowest first: a later layer wins where it has someone on call."""


class Override(Model):
    """``person`` covers ``schedule`` from ``start`` to ``end``.

    With ``replaces`` only that person's slot is covered (where they are on call);
    without it the override replaces everybody on the schedule.
    """

    id: Ident
    """The override's id (`oncall override remove` takes it)."""
    schedule: str
    """The id of the schedule covered."""
    person: str
    """The id of the person on call instead."""
    replaces: str | None = None
    """The id of the person whose slot is covered; absent: the whole schedule."""
    start: AwareDatetime
    """When the cover starts, with a time zone offset."""
    end: AwareDatetime
    """When the cover ends (exclusive), with a time zone offset."""
    reason: str | None = None
    """Why, for the audit trail."""

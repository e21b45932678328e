"""Configuration models for people, rotation schedules and overrides (YAML sections).

``people``, ``schedules`` and ``overrides`` are list sections; every model is frozen and
uses tuples so a snapshot is hashable. Checks that need more than one item (unknown
people, overlaps, coverage gaps) live in :mod:`oncall.schedules.checks`.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal

import phonenumbers
from pydantic import BeforeValidator, Field, field_validator

from oncall.config.base import AwareDatetime, ClockTime, Day, Duration, Model, TimeZone, one_or_many

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


Phone = Annotated[str, BeforeValidator(_normalise_phone)]


class Person(Model):
    """Someone who can be paged."""

    id: Ident
    name: str
    timezone: TimeZone
    phone: Phone | None = None
    email: str | None = None
    contact_methods: Annotated[tuple[ContactMethod, ...], BeforeValidator(one_or_many)] = (
        "sms", "voice")
    manager: str | None = None


class Restriction(Model):
    """Covered window: on each listed day from ``from`` until ``to`` (next day if earlier).

    ``to: "24:00"`` means the end of that day. Outside every window of a layer the layer
    has nobody, so a lower layer (or nobody) answers.
    """

    days: Annotated[tuple[Weekday, ...], BeforeValidator(_expand_days)]
    from_: ClockTime = Field(alias="from")
    to: ClockTime


class Layer(Model):
    """A rotation: participants take turns, each for ``shift``, handing off at ``handoff_time``."""

    name: str = "layer"
    participants: Annotated[tuple[str, ...], BeforeValidator(one_or_many)] = Field(min_length=1)
    shift: Duration
    handoff_time: ClockTime = time(9, 0)
    start_date: Day
    restrictions: tuple[Restriction, ...] = ()

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
    name: str = ""
    timezone: TimeZone
    layers: tuple[Layer, ...] = Field(min_length=1)


class Override(Model):
    """``person`` covers ``schedule`` from ``start`` to ``end``.

    With ``replaces`` only that person's slot is covered (where they are on call);
    without it the override replaces everybody on the schedule.
    """

    id: Ident
    schedule: str
    person: str
    replaces: str | None = None
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = None

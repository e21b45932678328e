"""Configuration models for people, rotation schedules and overrides (YAML sections).

``people``, ``schedules`` and ``overrides`` are list sections; every model is frozen and
uses tuples so a snapshot is hashable. Checks that need more than one item (unknown
people, overlaps, coverage gaps) live in :mod:`oncall.schedules.checks`.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from oncall.desks.model import DAY_KEY_PATTERN, expand_day_key
from oncall.fields import (
    AwareDatetime,
    ClockTime,
    Day,
    Duration,
    Model,
    TimeZone,
    format_duration,
    one_or_many,
)
from oncall.interfaces import Channel
from oncall.notify.channels import Addresses

IDENT_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
Ident = Annotated[str, Field(pattern=IDENT_PATTERN, max_length=100)]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _restriction_days(value: object) -> object:
    """Days in the desk hours' vocabulary (one name or a list): mon…sun, Monday…, ranges such
    as mon-fri or sat-sun, weekdays, weekends, daily; in weekday order, each once."""
    if value is None:
        return ()  # reported once, by the checks, as a restriction that lists no days
    items = value if isinstance(value, (list, tuple)) else [value]
    named = {day for item in items for day in expand_day_key(item)}
    return tuple(day for day in WEEKDAYS if day in named)


# One day name as the desk hours' keys are written, or a list of them.
_DAY_NAME_SCHEMA: dict[str, Any] = {"type": "string", "pattern": DAY_KEY_PATTERN}
_DAYS_SCHEMA: dict[str, Any] = {
    "anyOf": [_DAY_NAME_SCHEMA, {"type": "array", "items": _DAY_NAME_SCHEMA}],
    "description": "the days a window starts on, as desk hours name them: mon … sun (Monday… in "
                   "any case), a range such as mon-fri or sat-sun, weekdays, weekends, daily; one "
                   "or a list",
}


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


MAX_REPEAT = 50


class NotifyRule(Model):
    """One entry of a person's own notification rules: reach them ``via`` a channel ``after``
    this long from the moment a step pages them (and again ``repeat`` more times, ``every``
    apart), until somebody acknowledges."""

    via: Channel
    """The channel: any channel's name (sms, voice, email…); the person needs an address for it."""
    after: Duration = timedelta(0)
    """How long after the step pages them, e.g. 0m, 2m; not negative."""
    repeat: int = 0
    """How many more times to send it, ``every`` apart (0: once)."""
    every: Duration | None = None
    """The interval of the repeats; absent: ``after``."""

    @field_validator("after", "every", mode="before")
    @classmethod
    def _not_negative(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith("-"):
            raise ValueError(f"must not be negative (got {value!r})")
        return value

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, value: int) -> int:
        if not 0 <= value <= MAX_REPEAT:
            raise ValueError(f"repeat must be between 0 and {MAX_REPEAT} (got {value})")
        return value

    @field_validator("every")
    @classmethod
    def _positive_every(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("every must be longer than 0")
        return value

    def interval(self) -> timedelta:
        return self.every if self.every is not None else self.after

    def offsets(self) -> tuple[timedelta, ...]:
        """When this entry goes out, from the moment the step pages the person."""
        return tuple(self.after + k * self.interval() for k in range(self.repeat + 1))


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
    addresses: Addresses = Addresses()
    """Addresses on further channels, by channel name (phone and email carry sms, voice and
    email), e.g. {chat: ops-room}."""
    contact_methods: Annotated[tuple[Channel, ...], BeforeValidator(one_or_many)] = (
        Channel.SMS, Channel.VOICE)
    """How to reach the person, tried in this order when a step's contact is own: any
    channel's name (sms, voice, email…)."""
    manager: str | None = None
    """The id of the person's manager."""
    notify: tuple[NotifyRule, ...] = ()
    """The person's own notification rules, e.g. [{via: sms, after: 0m}, {via: voice, after:
    2m}, {via: voice, after: 5m, repeat: 3}]: when a step whose contact is own pages them, each
    entry goes out that long after, until somebody acknowledges. Absent: the step's contact and
    contact_methods decide (a failed method moves on to the next at once)."""

    @model_validator(mode="after")
    def _repeats_need_an_interval(self) -> Person:
        for rule in self.notify:
            if rule.repeat and rule.interval() <= timedelta(0):
                raise ValueError(f"notify: {rule.via} after {format_duration(rule.after)} repeats "
                                 "but has no interval: give it 'every' (or an 'after' above 0)")
        return self

    def notify_chain(self) -> tuple[tuple[Channel, timedelta], ...]:
        """The notification rules as (channel, offset) in time order, repeats unrolled."""
        entries = [(rule.via, at) for rule in self.notify for at in rule.offsets()]
        return tuple(sorted(entries, key=lambda e: e[1]))

    def describe_notify(self) -> str:
        """One line, as ``oncall check`` shows each person's effective chain."""
        if not self.notify:
            methods = ", then ".join(self.contact_methods) or "nothing"
            return (f"notify {self.id}: as each step's contact says (own: {methods}, "
                    "the next at once when one fails)")
        return f"notify {self.id}: " + ", ".join(
            f"{channel} at {format_duration(at)}" for channel, at in self.notify_chain())


class Restriction(Model):
    """Covered window: on each listed day from ``from`` until ``to`` (next day if earlier).

    ``to: "24:00"`` means the end of that day. Outside every window of a layer the layer
    has nobody, so a lower layer (or nobody) answers.
    """

    days: Annotated[tuple[Weekday, ...], BeforeValidator(_restriction_days),
                    WithJsonSchema(_DAYS_SCHEMA, mode="validation")]
    """The days a window starts on: mon … sun, ranges (mon-fri), weekdays, weekends, daily."""
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

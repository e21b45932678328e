"""Escalation policies and notification limits: the ``escalation_policies`` and
``notifications`` configuration sections, and their cross-checks.

::

    escalation_policies:
      - id: primary
        steps:
          - targets: [{schedule: primary}]
            contact: own          # a channel (sms, voice, email…) | both | own
            delay: 15m
        repeat: 2                 # extra rounds after the first, or "forever"
        notify_admins_when_exhausted: true
        ack_timeout: 30m          # optional: an acknowledgement not followed by a resolution
                                  # (or the ticket solved) within this returns it to triggered
    notifications:
      admins: [alice, bob]
      admin_alerts:               # optional, per admin: channels tried in order per severity
        bob: {warning: [email], critical: [sms, voice]}
      sms: {min_interval: 2m}     # a storm limit per channel; its descriptor's default else

Which channels there are is the channel registry's (:mod:`oncall.notify.channels`): a step's
contact and a storm limit name any registered channel, and an unknown one is a configuration
error naming the known ones. How admins are told about problems, per severity:
:mod:`oncall.escalation.alerting`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from oncall.escalation.alerting import AdminAlertChannels, AlertSeverity
from oncall.fields import Duration, Model, format_duration, one_or_many
from oncall.findings import Finding
from oncall.interfaces import Channel, one_of
from oncall.notify.channels import CHANNELS


class ContactMode(StrEnum):
    """A step's contact when it is not one channel's name."""

    BOTH = "both"  # sms and voice together
    OWN = "own"  # the person's own ordered contact methods, one after another


_MODES = {m.value: m for m in ContactMode}


def _step_contact(value: object) -> ContactMode | Channel:
    if isinstance(value, ContactMode):
        return value
    if isinstance(value, str):
        if value in _MODES:
            return _MODES[value]
        if value in Channel:
            return Channel(value)
    raise PydanticCustomError("enum", "Input should be {expected}",
                              {"expected": one_of([*(c.value for c in Channel), *_MODES])})


class _StepContactSchema:
    """A step's contact: a registered channel's name, both or own — read from the registry when
    a step is validated and when the schema is generated."""

    def __get_pydantic_core_schema__(self, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _step_contact, serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: str(v), when_used="json"))

    def __get_pydantic_json_schema__(self, _schema: core_schema.CoreSchema,
                                     _handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", "enum": [*(c.value for c in Channel), *_MODES]}


StepContact = Annotated[ContactMode | Channel, _StepContactSchema()]


_TARGET_KINDS = ("schedule", "person", "schedule_members")


class Target(Model):
    """Exactly one of: the people on call in a schedule, a person, every member of a schedule."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": [kind], "properties": {kind: {"type": "string", "minLength": 1}}} for kind in _TARGET_KINDS
    ]})

    schedule: str | None = None
    """The id of a schedule: whoever is on call in it when the step runs."""
    person: str | None = None
    """The id of a person."""
    schedule_members: str | None = None
    """The id of a schedule: every participant of its layers."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        given = [k for k in _TARGET_KINDS if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a target needs exactly one of 'schedule', 'person', 'schedule_members'"
                f" (got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        if self.schedule:
            return "schedule"
        return "person" if self.person else "schedule_members"

    @property
    def ref(self) -> str:
        return self.schedule or self.person or self.schedule_members or ""


class Step(Model):
    """One round of notifications; the next step follows after ``delay`` without an acknowledgement."""

    targets: tuple[Target, ...] = Field(min_length=1)
    """Who is notified: {schedule: id}, {person: id} or {schedule_members: id}, one or a list."""
    contact: StepContact = ContactMode.OWN
    """How: a channel (sms, voice, email…) then the person's other methods, both (sms and voice
    together), or own (each person's contact_methods, in order)."""
    delay: Duration = timedelta(minutes=15)
    """How long to wait for an acknowledgement before the next step."""

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, v: object) -> object:
        return one_or_many(v)


class EscalationPolicy(Model):
    """Who is notified, how and after how long, until somebody acknowledges the incident."""

    id: str = Field(min_length=1)
    """The policy's id, named by rules (escalation_policy)."""
    name: str = ""
    """A display name."""
    steps: tuple[Step, ...] = ()
    """The steps, in order; `oncall check` refuses a policy without steps."""
    repeat: Annotated[int | Literal["forever"], WithJsonSchema({
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "const": "forever"}],
    }, mode="validation")] = Field(default=0)
    """Extra rounds through the steps after the first, or forever."""
    notify_admins_when_exhausted: bool = True
    """Alert the admins when the last round ends without an acknowledgement."""
    ack_timeout: Duration | None = None
    """Optional, e.g. 30m: an incident acknowledged but neither resolved nor its ticket solved
    within this returns to triggered, pages the person who acknowledged first, then escalates
    as usual. Absent: an acknowledgement lasts until the incident is resolved."""

    @field_validator("ack_timeout")
    @classmethod
    def _ack_timeout(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v <= timedelta(0):
            raise ValueError("ack_timeout must be longer than 0 (leave it out for none)")
        return v

    @field_validator("repeat")
    @classmethod
    def _repeat(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 0:
            raise ValueError("repeat must be 0 or more, or 'forever'")
        return v

    @property
    def forever(self) -> bool:
        return self.repeat == "forever"

    @property
    def rounds(self) -> int | None:
        """How many rounds in total; None when the policy repeats forever."""
        return None if isinstance(self.repeat, str) else self.repeat + 1


class ChannelLimit(Model):
    """A storm limit for one channel."""

    min_interval: Duration
    """At least this long between two messages to one person; what comes between is bundled."""


class NotificationSettings(Model):
    """Who hears about problems, and how often one person may be texted, called or mailed."""

    # Every other key is a channel's storm limit (sms: {min_interval: 2m}), by the registry's
    # names; a channel without one has its descriptor's default.
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ChannelLimit] = Field(init=False)

    admins: tuple[str, ...] = ()
    """People's ids: told about exhausted policies, blocked phones, silent sources, coverage
    gaps and refused reloads."""
    admin_alerts: Mapping[str, AdminAlertChannels] = {}
    """Per admin (person id): the channels of warning and critical alerts, e.g.
    {dana: {warning: [email], critical: [sms, voice]}}; absent: warnings by sms, else email,
    critical ones by the admin's contact_methods."""

    @field_validator("admins", mode="before")
    @classmethod
    def _admins(cls, v: object) -> object:
        return one_or_many(v)

    @model_validator(mode="wrap")
    @classmethod
    def _limits_name_channels(cls, data: Any,
                              handler: ModelWrapValidatorHandler[NotificationSettings]) -> NotificationSettings:
        """A key that is neither a field nor a registered channel is unknown, as in any section."""
        if isinstance(data, Mapping):
            unknown = [k for k in data if k not in cls.model_fields and k not in Channel]
            if unknown:
                raise ValidationError.from_exception_data(cls.__name__, [
                    InitErrorDetails(type="extra_forbidden", loc=(str(k),), input=data[k]) for k in unknown])
        return handler(data)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        """A property per channel registered when the schema is generated, with its default."""
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        limit = target.get("additionalProperties")
        if isinstance(limit, dict):
            for channel in Channel:
                spec = CHANNELS[channel]
                target.setdefault("properties", {})[channel.value] = {
                    **limit, "default": {"min_interval": format_duration(spec.default_min_interval)},
                    "description": f"Storm limit for {spec.messages}."}
        target["additionalProperties"] = False
        return json_schema

    def alert_channels(self, admin: str, severity: AlertSeverity,
                       own: Iterable[Channel]) -> tuple[Channel, ...]:
        """The channels ``admin`` is told ``severity`` alerts by, in order; ``own`` are the
        admin's contact methods (the default for critical alerts)."""
        return (self.admin_alerts.get(admin) or AdminAlertChannels()).channels(severity, own)

    def min_interval(self, channel: Channel) -> timedelta:
        """At least this long between two messages to one person on ``channel``: its limit
        here, else its descriptor's default."""
        configured = (self.model_extra or {}).get(channel)
        return configured.min_interval if configured is not None else CHANNELS[channel].default_min_interval


def policy_schedule_ids(policies: Iterable[EscalationPolicy]) -> frozenset[str]:
    """Every schedule id a policy refers to (on-call or members targets)."""
    return frozenset(
        t.ref for p in policies for s in p.steps for t in s.targets if t.kind != "person"
    )


def check_policies(
    policies: tuple[EscalationPolicy, ...] | list[EscalationPolicy],
    *,
    people_ids: Iterable[str],
    schedule_ids: Iterable[str],
) -> list[Finding]:
    """Unknown schedule/person targets, policies without steps, duplicate ids."""
    people, schedules = set(people_ids), set(schedule_ids)
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for i, policy in enumerate(policies):
        here: tuple[str | int, ...] = ("escalation_policies", i)
        if policy.id in seen:
            findings.append(Finding(path=(*here, "id"), message=(
                f"duplicate escalation policy id {policy.id!r} (first at item {seen[policy.id]})")))
        else:
            seen[policy.id] = i
        if not policy.steps:
            findings.append(Finding(path=(*here, "steps"),
                                    message=f"escalation policy {policy.id!r} has no steps"))
        for j, step in enumerate(policy.steps):
            for k, target in enumerate(step.targets):
                path = (*here, "steps", j, "targets", k, target.kind)
                if target.kind == "person" and target.ref not in people:
                    findings.append(Finding(path=path, message=(
                        f"policy {policy.id!r} step {j + 1} names unknown person {target.ref!r}")))
                elif target.kind != "person" and target.ref not in schedules:
                    findings.append(Finding(path=path, message=(
                        f"policy {policy.id!r} step {j + 1} names unknown schedule "
                        f"{target.ref!r}")))
    return findings


def check_notifications(settings: NotificationSettings, *, people_ids: Iterable[str]) -> list[
        Finding]:
    """Admins must be known people; no admins at all is worth a warning."""
    people = set(people_ids)
    findings = [
        Finding(path=("notifications", "admins", i), message=f"unknown admin person {a!r}")
        for i, a in enumerate(settings.admins) if a not in people
    ]
    if not settings.admins:
        findings.append(Finding(path=("notifications", "admins"), severity="warning", message=(
            "no admins: exhausted policies and blocked phones will alert nobody")))
    return findings

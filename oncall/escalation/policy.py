"""Escalation policies and notification limits: the ``escalation_policies`` and
``notifications`` configuration sections, and their cross-checks.

::

    escalation_policies:
      - id: primary
        steps:
          - targets: [{schedule: primary}]
            contact: own          # sms | voice | both | own
            delay: 15m
        repeat: 2                 # extra rounds after the first, or "forever"
        notify_admins_when_exhausted: true
    notifications:
      admins: [alice, bob]
      admin_alerts:               # optional, per admin: channels tried in order per severity
        bob: {warning: [email], critical: [sms, voice]}
      sms: {min_interval: 2m}

How admins are told about problems, per severity: :mod:`oncall.escalation.alerting`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from oncall.escalation.alerting import AdminAlertChannels, AlertSeverity
from oncall.fields import Duration, Model, one_or_many
from oncall.findings import Finding
from oncall.interfaces import Channel


class ContactMode(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    BOTH = "both"
    OWN = "own"  # the person's own ordered contact methods, one after another


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
    contact: ContactMode = ContactMode.OWN
    """How: sms, voice, both, or own (each person's contact_methods, in order)."""
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

    admins: tuple[str, ...] = ()
    """People's ids: told about exhausted policies, blocked phones, silent sources, coverage
    gaps and refused reloads."""
    # Defaults are for people who sleep through the first call: texts two minutes
    # apart, calls five minutes apart, everything in between is bundled.
    sms: ChannelLimit = ChannelLimit(min_interval=timedelta(minutes=2))
    """Storm limit for text messages."""
    voice: ChannelLimit = ChannelLimit(min_interval=timedelta(minutes=5))
    """Storm limit for calls."""
    email: ChannelLimit = ChannelLimit(min_interval=timedelta(minutes=1))
    """Storm limit for e-mail."""
    admin_alerts: Mapping[str, AdminAlertChannels] = {}
    """Per admin (person id): the channels of warning and critical alerts, e.g.
    {dana: {warning: [email], critical: [sms, voice]}}; absent: warnings by sms, else email,
    critical ones by the admin's contact_methods."""

    @field_validator("admins", mode="before")
    @classmethod
    def _admins(cls, v: object) -> object:
        return one_or_many(v)

    def alert_channels(self, admin: str, severity: AlertSeverity,
                       own: Iterable[Channel]) -> tuple[Channel, ...]:
        """The channels ``admin`` is told ``severity`` alerts by, in order; ``own`` are the
        admin's contact methods (the default for critical alerts)."""
        return (self.admin_alerts.get(admin) or AdminAlertChannels()).channels(severity, own)

    def min_interval(self, channel: Channel) -> timedelta:
        return {Channel.SMS: self.sms, Channel.VOICE: self.voice, Channel.EMAIL: self.email}[
            channel
        ].min_interval


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

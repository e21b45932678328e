"""What the escalation engine needs to know about people and schedules.

The engine never imports the schedule models: the daemon implements
:class:`Directory` over the current configuration snapshot, and tests use a fake
(:class:`oncall.testing.paging.FakeDirectory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oncall.escalation.alerting import AlertSeverity
from oncall.escalation.policy import EscalationPolicy
from oncall.interfaces import Channel


@dataclass(frozen=True, kw_only=True)
class Contact:
    """How a person can be reached. ``methods`` is their own preferred order."""

    person_id: str
    phone: str | None = None  # E.164
    email: str | None = None
    methods: tuple[Channel, ...] = ()
    sms_blocked: bool = False  # the person texted STOP to our number (Twilio 21610)

    def can_use(self, channel: Channel) -> bool:
        if channel is Channel.SMS:
            return bool(self.phone) and not self.sms_blocked
        if channel is Channel.VOICE:
            return bool(self.phone)
        return bool(self.email)

    def address(self, channel: Channel) -> str | None:
        return self.email if channel is Channel.EMAIL else self.phone


class Directory(Protocol):
    """People, schedules and policies as of one configuration snapshot."""

    def on_call(self, schedule_id: str, t: datetime) -> tuple[str, ...]:
        """Person ids on call in the schedule at ``t`` (empty when nobody is)."""
        ...

    def members(self, schedule_id: str) -> tuple[str, ...]:
        """Every person id that takes part in the schedule."""
        ...

    def contact(self, person_id: str) -> Contact | None:
        """None for an unknown person."""
        ...

    def policy(self, policy_id: str) -> EscalationPolicy | None:
        ...

    def admins(self) -> tuple[str, ...]:
        ...

    def alert_channels(self, person_id: str, severity: AlertSeverity) -> tuple[Channel, ...]:
        """The channels admin ``person_id`` is told ``severity`` alerts by, in order."""
        ...

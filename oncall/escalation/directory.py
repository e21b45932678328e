"""What the escalation engine needs to know about people and schedules.

The engine never imports the schedule models: the daemon implements
:class:`Directory` over the current configuration snapshot, and tests use a fake
(:class:`oncall.testing.paging.FakeDirectory`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from oncall.escalation.alerting import AlertSeverity
from oncall.escalation.policy import EscalationPolicy
from oncall.interfaces import Channel
from oncall.notify.channels import CHANNELS, Addresses, reachable


@dataclass(frozen=True, kw_only=True)
class Contact:
    """How a person can be reached. ``methods`` is their own preferred order. Which address
    a channel takes, and whether STOP blocks it, is the channel's descriptor's to say
    (:mod:`oncall.notify.channels`): ``phone`` (E.164) carries sms and voice, ``email``
    e-mail, ``addresses`` any other channel's address by its name."""

    person_id: str
    phone: str | None = None
    email: str | None = None
    addresses: Mapping[str, str] = Addresses()
    methods: tuple[Channel, ...] = ()
    sms_blocked: bool = False  # the person texted STOP to our number
    # The person's own notification rules, repeats unrolled: each channel with its offset
    # from the moment a step pages them, in order. Empty: the step's contact decides alone.
    chain: tuple[tuple[Channel, timedelta], ...] = ()

    def can_use(self, channel: Channel) -> bool:
        return reachable(self, channel, sms_blocked=self.sms_blocked) is not None

    def address(self, channel: Channel) -> str | None:
        return CHANNELS[channel].address_of(self)


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

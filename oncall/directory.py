"""The escalation engine's view of people and schedules, over a configuration snapshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from oncall.config.snapshot import Snapshot
from oncall.escalation.alerting import AlertSeverity
from oncall.escalation.directory import Contact
from oncall.escalation.policy import EscalationPolicy
from oncall.interfaces import Channel
from oncall.schedules.resolve import members


class SnapshotDirectory:
    """Implements :class:`oncall.escalation.directory.Directory`.

    ``sms_blocked`` answers whether a person texted STOP (state kept in the database,
    not in the configuration files).
    """

    def __init__(self, snapshot: Snapshot, sms_blocked: Callable[[str], bool] = lambda _p: False) -> None:
        self.snapshot = snapshot
        self._sms_blocked = sms_blocked

    def on_call(self, schedule_id: str, t: datetime) -> tuple[str, ...]:
        if schedule_id not in self.snapshot.schedules:
            return ()
        return self.snapshot.on_call(schedule_id, t)

    def members(self, schedule_id: str) -> tuple[str, ...]:
        schedule = self.snapshot.schedules.get(schedule_id)
        return members(schedule) if schedule else ()

    def contact(self, person_id: str) -> Contact | None:
        person = self.snapshot.people.get(person_id)
        if person is None:
            return None
        return Contact(
            person_id=person.id,
            phone=person.phone,
            email=person.email,
            addresses=person.addresses,
            methods=tuple(Channel(m) for m in person.contact_methods),
            sms_blocked=self._sms_blocked(person.id),
            chain=person.notify_chain(),
        )

    def policy(self, policy_id: str) -> EscalationPolicy | None:
        return self.snapshot.escalation_policies.get(policy_id)

    def admins(self) -> tuple[str, ...]:
        return self.snapshot.notifications.admins

    def alert_channels(self, person_id: str, severity: AlertSeverity) -> tuple[Channel, ...]:
        person = self.snapshot.people.get(person_id)
        own = [Channel(m) for m in person.contact_methods] if person else []
        return self.snapshot.notifications.alert_channels(person_id, severity, own)

    def person_for_phone(self, phone: str) -> str | None:
        """The configured person owning an E.164 number (inbound SMS and calls)."""
        for person in self.snapshot.people.values():
            if person.phone == phone:
                return person.id
        return None

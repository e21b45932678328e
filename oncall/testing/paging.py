"""Fakes for escalation tests: a directory of people and schedules, and a transport
that records what it was handed (optionally appending to a file, for crash tests)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from oncall.errors import DeliveryError, PermanentDeliveryError
from oncall.escalation.alerting import AdminAlertChannels, AlertSeverity
from oncall.escalation.directory import Contact
from oncall.escalation.policy import EscalationPolicy
from oncall.interfaces import Channel, Outbound, SendResult


@dataclass
class FakeDirectory:
    """``on_call`` maps a schedule id to its people, or to a function of the instant."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    on_call_map: Mapping[str, tuple[str, ...] | Callable[[datetime], tuple[str, ...]]] = field(
        default_factory=dict)
    members_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    policies: dict[str, EscalationPolicy] = field(default_factory=dict)
    admin_ids: tuple[str, ...] = ()
    admin_alerts: dict[str, AdminAlertChannels] = field(default_factory=dict)

    def on_call(self, schedule_id: str, t: datetime) -> tuple[str, ...]:
        who = self.on_call_map.get(schedule_id, ())
        return who(t) if callable(who) else who

    def members(self, schedule_id: str) -> tuple[str, ...]:
        return self.members_map.get(schedule_id, ())

    def contact(self, person_id: str) -> Contact | None:
        return self.contacts.get(person_id)

    def policy(self, policy_id: str) -> EscalationPolicy | None:
        return self.policies.get(policy_id)

    def admins(self) -> tuple[str, ...]:
        return self.admin_ids

    def alert_channels(self, person_id: str, severity: AlertSeverity) -> tuple[Channel, ...]:
        contact = self.contacts.get(person_id)
        chosen = self.admin_alerts.get(person_id) or AdminAlertChannels()
        return chosen.channels(severity, contact.methods if contact else ())


def person(pid: str, *methods: Channel, phone: str | None = None, email: str | None = None,
           sms_blocked: bool = False) -> Contact:
    """A contact with a made-up phone number and address unless given."""
    number = sum(map(ord, pid)) % 10_000
    return Contact(person_id=pid, phone=phone or f"+1555010{number:04d}",
                   email=email or f"{pid}@example.test",
                   methods=methods or (Channel.SMS, Channel.VOICE), sms_blocked=sms_blocked)


@dataclass
class RecordingTransport:
    """Records every message; carries every registered channel. ``fail`` decides per
    message: None (accept), or an exception to raise — a ``PermanentDeliveryError`` with a
    Twilio error code is raised as the Twilio transport raises it (the code for a recipient
    who texted STOP as ``AddressOptedOut``), so a policy may be written in Twilio's codes.
    With ``log_path`` each send is appended (and flushed) to a JSON-lines file before
    returning, so a SIGKILL right after still leaves it there.
    """

    name: str = "recording"
    fail: Callable[[Outbound], Exception | None] = lambda _m: None
    log_path: Path | None = None
    sent: list[Outbound] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # time.perf_counter() at hand-over

    def channels(self) -> frozenset[Channel]:
        return frozenset(Channel)

    def send(self, message: Outbound) -> SendResult:
        self.sent.append(message)
        self.sent_at.append(time.perf_counter())
        error = self.fail(message)
        if type(error) is PermanentDeliveryError and error.code is not None:
            from oncall.notify.twilio_transport import refusal

            error = refusal(str(error), error.code)
        if self.log_path is not None:
            line = json.dumps({"key": message.key, "person": message.person_id,
                               "channel": message.channel.value,
                               "incidents": list(message.incident_ids),
                               "failed": error is not None})
            with self.log_path.open("a") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        if error is not None:
            raise error
        return SendResult(provider_id=f"FAKE{len(self.sent):06d}", status="queued")


def fail_sms_for(*person_ids: str, permanent: bool = True) -> Callable[[Outbound], Exception | None]:
    """A ``fail`` policy: SMS to these people fails (permanently, as for a bad number)."""

    def decide(message: Outbound) -> Exception | None:
        if message.channel is Channel.SMS and message.person_id in person_ids:
            if permanent:
                return PermanentDeliveryError("fake: undeliverable", code=30003)
            return DeliveryError("fake: provider unavailable")
        return None

    return decide

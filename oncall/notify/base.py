"""The transport interface: what the engine hands over, and what comes back.

The escalation runner turns ``Notify`` actions into :class:`Outbound` messages and
calls :meth:`Transport.send`. Transports are synchronous (the twilio library is);
the daemon calls them from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"


@dataclass(frozen=True, kw_only=True)
class Outbound:
    """One message to one address.

    ``key`` is the ledger row's idempotency key; transports pass it on where the
    provider supports it and include it in callback URLs so status callbacks can be
    matched to the ledger row.
    """

    key: str
    channel: Channel
    to: str  # E.164 for sms/voice, an address for email
    person_id: str
    incident_ids: tuple[int, ...]
    text: str  # SMS body, e-mail body, or the script a voice call reads
    subject: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SendResult:
    """What the provider said when it accepted the message."""

    provider_id: str | None  # e.g. Twilio's SM…/CA… sid
    status: str  # provider's status word: queued, sent, initiated, accepted, printed…


class Transport(Protocol):
    """Delivers :class:`Outbound` messages.

    ``send`` raises :class:`oncall.errors.DeliveryError` when the outcome is a
    retryable failure (429, 5xx, timeout — after the transport's own retries) and
    :class:`oncall.errors.PermanentDeliveryError` when retrying cannot help (invalid
    number, recipient unsubscribed, code 21610).
    """

    name: str

    def channels(self) -> frozenset[Channel]:
        """The channels this transport can deliver."""
        ...

    def send(self, message: Outbound) -> SendResult:
        ...

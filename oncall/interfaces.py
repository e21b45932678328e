"""The interfaces between oncall's parts, in one place, and the values that cross them.

Each is a :class:`typing.Protocol`: the real implementation is wired by the daemon, a fake
(``oncall.testing``) stands in for it in tests. Every method says what it raises.

- :class:`Clock` — the current instant. Real: ``oncall.daemon.SystemClock``; fake:
  ``oncall.testing.clock.FakeClock``. Code handed only the reading takes a :data:`Now`.
- :class:`Transport` — delivers an :class:`Outbound` message on a :class:`Channel` (Twilio,
  SMTP, the console; ``oncall.notify``), called by the escalation runner and admin alerts.
- :class:`TicketSink` and :class:`CursorStore` — what the ticket sources (webhooks and
  pollers, ``oncall.sources``) need from the store: a durable inbox and poller cursors.
- :class:`InboundHandler` — what Twilio's inbound routes (``oncall.notify.inbound``) need
  from the incident service: acknowledgements, escalations, delivery status.

The bottom layer: this module imports nothing from oncall but :mod:`oncall.tickets`' model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from oncall.tickets import Ticket


class Clock(Protocol):
    """The one source of the current instant; decisions take ``now`` from its reader."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC). Raises nothing."""
        ...


Now: TypeAlias = Callable[[], datetime]
"""A clock's ``now`` handed over alone (``clock.now``), for code that only reads the time."""


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

    The escalation runner turns ``Notify`` actions into :class:`Outbound` messages and calls
    :meth:`send`. Transports are synchronous (the twilio library is); the daemon calls them
    from a worker thread.
    """

    name: str

    def channels(self) -> frozenset[Channel]:
        """The channels this transport can deliver. Raises nothing."""
        ...

    def send(self, message: Outbound) -> SendResult:
        """Hand ``message`` to the provider; what it said when it accepted it. Raises
        :class:`oncall.errors.DeliveryError` for a failure that may pass (429, 5xx, a timeout —
        after the transport's own bounded retries — or the account refused),
        :class:`oncall.errors.PermanentDeliveryError` when retrying cannot help (an invalid
        address, a channel this transport does not carry), and its subclass
        :class:`oncall.errors.AddressOptedOut` when the recipient told the provider to stop
        (texted STOP). A transport translates its provider's answers into these; ``code`` on
        them is the provider's error code, for metrics and logs, and nothing outside the
        transport reads it."""
        ...


class TicketSink(Protocol):
    """Accepts parsed tickets durably (the inbox)."""

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        """Store the ticket event; return ``False`` when ``(source, event_key)`` was seen before.

        Must have committed before it returns: the webhook answers 2xx right after.
        Raises any exception when it cannot store (the webhook then answers 503 so the
        helpdesk retries, and the poller does not advance its cursor).
        """
        ...


class CursorStore(Protocol):
    """Named poller cursors that survive restarts."""

    def get_cursor(self, name: str) -> str | None:
        """The stored value, or ``None`` when the cursor was never set. Raises on storage
        failure (the poller backs off and keeps its cursor)."""
        ...

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        """Persist ``value`` (committed before return). Raises on storage failure."""
        ...


class InboundHandler(Protocol):
    """What the inbound routes need from the incident service.

    The action methods return the status line to send back (see
    ``notify.messages.status_line``) and raise :class:`oncall.errors.IncidentError` with a
    short, sendable message when refused (unknown code, not paged for it, already
    resolved…). ``code`` None means "the latest page sent to this person". Any other
    exception is a failure to record the action (the database is unreachable…): the routes
    tell the person it did not land, or let Twilio retry a status callback.
    """

    def person_for_phone(self, phone: str) -> str | None:
        """The person whose SMS/voice contact is ``phone`` (E.164), or None. Raises nothing
        (the configuration snapshot is in memory)."""
        ...

    def ack(self, person_id: str, code: int | None, now: datetime) -> str:
        """Acknowledge the page ``code``. Raises :class:`oncall.errors.IncidentError` when refused."""
        ...

    def ack_all(self, person_id: str, now: datetime) -> str:
        """Acknowledge every open page of the person. Raises
        :class:`oncall.errors.IncidentError` when there is none."""
        ...

    def escalate(self, person_id: str, code: int | None, now: datetime) -> str:
        """Escalate the page ``code`` to the next step. Raises :class:`oncall.errors.IncidentError`
        when refused."""
        ...

    def resolve(self, person_id: str, code: int | None, now: datetime) -> str:
        """Resolve the page ``code``. Raises :class:`oncall.errors.IncidentError` when refused."""
        ...

    def ack_page(self, key: str, now: datetime) -> str:
        """Keypress 4 during the call sent for ledger row ``key``. Raises
        :class:`oncall.errors.IncidentError` when the call is not known or the action refused."""
        ...

    def escalate_page(self, key: str, now: datetime) -> str:
        """Keypress 5 during the call sent for ledger row ``key``. Raises
        :class:`oncall.errors.IncidentError` when the call is not known or the action refused."""
        ...

    def voice_script(self, key: str) -> str | None:
        """The text the call for ``key`` reads (for "star to repeat"), None if unknown.
        Raises only on storage failure."""
        ...

    def set_sms_blocked(self, person_id: str, blocked: bool, now: datetime) -> None:
        """STOP (blocked) / START: mark the person's SMS method (un)usable, alert admins.
        Raises only on storage failure."""
        ...

    def delivery_status(self, *, key: str, provider_id: str | None, status: str,
                        error_code: int | None, answered_by: str | None,
                        now: datetime) -> None:
        """A status callback. ``status`` is normalised (see ``notify.status.normalise_status``):
        delivered · sent · failed · undelivered · no-answer · busy · completed ·
        canceled (and intermediate queued/ringing/in-progress…). A call answered by a
        machine arrives as ``no-answer``. Raises only on storage failure (the callback is
        then answered 500 and Twilio retries it)."""
        ...

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
- :class:`Channel` — a channel's name. What each channel is (its addresses, limits, transport)
  is the channel registry's, :mod:`oncall.notify.channels`, which registers the names here.

The bottom layer: this module imports nothing from oncall but :mod:`oncall.tickets`' model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

if TYPE_CHECKING:
    from oncall.tickets import Ticket


class Clock(Protocol):
    """The one source of the current instant; decisions take ``now`` from its reader."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC). Raises nothing."""
        ...


Now: TypeAlias = Callable[[], datetime]
"""A clock's ``now`` handed over alone (``clock.now``), for code that only reads the time."""


def one_of(names: Iterable[str]) -> str:
    """``'sms', 'voice' or 'email'``: choices worded as pydantic words an enum's."""
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


_CHANNEL_NAMES: dict[str, Channel] = {}


class _ChannelNames(type):
    """Iterating :class:`Channel` yields the registered channels, in registration order."""

    def __iter__(cls) -> Iterator[Channel]:
        return iter(tuple(_CHANNEL_NAMES.values()))

    def __len__(cls) -> int:
        return len(_CHANNEL_NAMES)

    def __contains__(cls, name: object) -> bool:
        return isinstance(name, str) and name in _CHANNEL_NAMES


class Channel(str, metaclass=_ChannelNames):
    """A registered channel's name: a ``str`` ("sms") that compares, hashes, serialises and is
    stored as its name, one object per name (``channel is Channel.SMS`` holds), iterable like
    an enum (``frozenset(Channel)`` is every registered channel). ``Channel("sms")`` is
    :attr:`Channel.SMS`; a name not registered raises ValueError, and in a configuration model
    is a validation error listing the registered names (read when validated, and when the
    schema is generated)."""

    __slots__ = ()

    SMS: ClassVar[Channel]
    VOICE: ClassVar[Channel]
    EMAIL: ClassVar[Channel]

    def __new__(cls, name: str) -> Channel:
        found = _CHANNEL_NAMES.get(name)
        if found is None:
            raise ValueError(f"unknown channel {name!r}: one of {', '.join(_CHANNEL_NAMES)}")
        return found

    @property
    def value(self) -> str:
        """The name as a plain ``str``, as an enum member's value."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Channel({self.value!r})"

    def __reduce__(self) -> tuple[type[Channel], tuple[str]]:
        return Channel, (self.value,)

    def __copy__(self) -> Channel:
        return self

    def __deepcopy__(self, _memo: object) -> Channel:
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_channel, serialization=core_schema.plain_serializer_function_ser_schema(
                str.__str__, when_used="json"))

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: core_schema.CoreSchema,
                                     _handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", "enum": list(_CHANNEL_NAMES)}


def _validate_channel(value: object) -> Channel:
    if isinstance(value, str) and value in _CHANNEL_NAMES:
        return _CHANNEL_NAMES[value]
    raise PydanticCustomError("enum", "Input should be {expected}", {"expected": one_of(_CHANNEL_NAMES)})


def add_channel_name(name: str) -> Channel:
    """Make ``name`` a channel's name. For the channel registry
    (:func:`oncall.notify.channels.register_channel`), which checks the name first."""
    if name in _CHANNEL_NAMES:
        raise ValueError(f"channel {name!r} is registered already")
    _CHANNEL_NAMES[name] = channel = str.__new__(Channel, name)
    return channel


def remove_channel_name(name: str) -> None:
    """Forget a channel's name. For the channel registry only."""
    _CHANNEL_NAMES.pop(name, None)


Channel.SMS = add_channel_name("sms")
Channel.VOICE = add_channel_name("voice")
Channel.EMAIL = add_channel_name("email")


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
                        now: datetime, opted_out: bool = False) -> None:
        """A status callback. ``status`` is normalised (see ``notify.status.normalise_status``):
        delivered · sent · failed · undelivered · no-answer · busy · completed ·
        canceled (and intermediate queued/ringing/in-progress…). A call answered by a
        machine arrives as ``no-answer``. ``opted_out``: the provider says the recipient
        texted STOP — what a transport raises as :class:`oncall.errors.AddressOptedOut` at
        send time; ``error_code`` is the provider's, for metrics and the audit log only.
        Raises only on storage failure (the callback is then answered 500 and Twilio retries
        it)."""
        ...

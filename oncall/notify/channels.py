"""The channel registry: one descriptor per way of reaching a person (sms, voice, email…).

Code outside a channel's transport never names the channel; it reads its
:class:`ChannelSpec` from :data:`CHANNELS`: where a person's address for it is kept and
whether texting STOP blocks it (:func:`reachable`), the storm limit's default, whether it
rings a phone (admin warnings and hand-off notices never ring unless asked), whether a page
is read aloud, worded its own way or carries a subject, how an address is masked in logs,
which transport carries it (built from the process settings by ``transport``; channels
built by the same function share one transport, as Twilio carries sms and voice), and what is
wrong with an address under those settings (``check_address``: a chat address naming a webhook
that is not configured), which ``oncall check`` reports through :func:`address_findings`.
Configuration accepts exactly the registered names — people's ``contact_methods``, a step's
``contact``, the ``notifications.<channel>`` limits, ``admin_alerts`` — so an unknown channel
is a configuration error that lists the known ones.

A new channel is one :func:`register_channel` call with its descriptor and, in its own
module, its transport. The built-in channels are registered at the bottom of this module; a
test or a plugin registers its own (and may :func:`unregister_channel` it). A person's address
for a channel other than the built-in ones is kept in their ``addresses`` mapping
(``addresses: {chat: ops-room}``).

A channel's *name* is a :class:`oncall.interfaces.Channel` (a ``str``, one object per name,
iterable like an enum); registering a descriptor registers its name there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Protocol

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from oncall.errors import AddressOptedOut
from oncall.findings import Finding
from oncall.interfaces import Channel, Transport, add_channel_name, one_of, remove_channel_name
from oncall.notify.chat_formats import page_wording
from oncall.notify.messages import PageSummary
from oncall.notify.privacy import mask_email, mask_opaque, mask_phone

TransportFactory = Callable[[Any], Transport | None]
"""Builds a channel's transport from the process settings; None while it is not configured."""
AddressCheck = Callable[[Any, str], tuple[str, str] | None]
"""``(settings, address) -> (severity, message)``: what is wrong with an address under the
process settings ("error" or "warning"); None when nothing is."""

_NAME = re.compile(r"[a-z][a-z0-9_-]*")
# Words a step's ``contact`` gives a meaning of its own (see escalation/policy.py).
RESERVED_NAMES = frozenset({"both", "own"})
_BUILT_IN = ("sms", "voice", "email")

_SPECS: dict[str, ChannelSpec] = {}
CHANNELS: Mapping[str, ChannelSpec] = MappingProxyType(_SPECS)
"""Every registered channel's descriptor by name, in registration order (read-only)."""


class Addressable(Protocol):
    """Whatever has a person's addresses: a configured person or the engine's contact."""

    @property
    def phone(self) -> str | None: ...

    @property
    def email(self) -> str | None: ...

    @property
    def addresses(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, kw_only=True)
class ChannelSpec:
    """Everything about one channel that code outside its transport may ask."""

    name: str
    """Its name in configuration files, ledger rows, metrics and logs: lower-case letters,
    digits, ``-`` and ``_``; not ``both`` or ``own`` (a step's contact words)."""
    messages: str
    """What its messages are called, plural, as ``oncall schema`` describes its limit."""
    default_min_interval: timedelta
    """The storm limit when ``notifications.<name>`` sets none: at least this long between two
    messages to one person; what comes between is bundled."""
    address_field: str | None = None
    """The person's field holding the address (``phone``, ``email``); None: ``addresses.<name>``."""
    address_noun: str = ""
    """What the address is called in ``oncall check``'s findings; default "<name> address"."""
    rings: bool = False
    """It rings a phone: admin warnings and hand-off notices do not take it unless an admin
    lists it for warnings."""
    spoken: bool = False
    """A page is read aloud: it gets the spoken script, not the SMS wording."""
    wording: Callable[[Sequence[PageSummary]], str] | None = None
    """Writes a page — one incident, or a bundle of them oldest first — in this channel's own
    words (a chat post with no reply codes); None: the SMS wording, or the spoken script."""
    subject: bool = False
    """Its messages carry a subject line."""
    stop_blocks: bool = False
    """Texting STOP to our number blocks it: a person who did is not sent it until START."""
    instead_after_stop: str | None = None
    """The channel that takes over for a person who texted STOP (a call instead of a text)."""
    mask: Callable[[str], str] = mask_opaque
    """An address as logs, the console transport and ``oncall explain`` show it."""
    transport: TransportFactory | None = None
    """Builds the transport that carries it from the process settings (see the module docstring)."""
    check_address: AddressCheck | None = None
    """What is wrong with a person's address under the process settings, for ``oncall check``
    (an address the configuration alone cannot judge: a webhook's name, its URL a secret)."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name in RESERVED_NAMES:
            raise ValueError(f"channel name {self.name!r}: lower-case letters, digits, '-' and '_', "
                             f"starting with a letter, and not {one_of(sorted(RESERVED_NAMES))}")
        if not self.address_noun:
            object.__setattr__(self, "address_noun", f"{self.name} address")

    @property
    def address_key(self) -> str:
        """Where a person's configuration keeps the address: ``phone``, ``addresses.chat``."""
        return self.address_field or f"addresses.{self.name}"

    def address_of(self, who: Addressable) -> str | None:
        """``who``'s address on this channel; None when they have none."""
        if self.address_field is not None:
            found = getattr(who, self.address_field, None)
        else:
            found = who.addresses.get(self.name)
        return found or None


def register_channel(spec: ChannelSpec) -> Channel:
    """Make ``spec`` a channel that configuration, the engine, the runner, admin alerts and
    the transports all know; returns its name. A name already registered is refused."""
    if spec.name in _SPECS:
        raise ValueError(f"channel {spec.name!r} is registered already")
    # The built-in names are in oncall.interfaces from the start (Channel.SMS…).
    channel = Channel(spec.name) if spec.name in _BUILT_IN else add_channel_name(spec.name)
    _SPECS[spec.name] = spec
    return channel


def unregister_channel(channel: str) -> None:
    """Forget a channel a test or a plugin registered; the built-in channels stay."""
    if channel in _BUILT_IN:
        raise ValueError(f"channel {channel!r} is built in")
    _SPECS.pop(channel, None)
    remove_channel_name(channel)


def reachable(who: Addressable, channel: str, *, sms_blocked: bool = False) -> str | None:
    """The address ``who`` is reached at on ``channel``: None when they have none there, or
    when they texted STOP (``sms_blocked``) and STOP blocks the channel."""
    spec = CHANNELS[channel]
    if sms_blocked and spec.stop_blocks:
        return None
    return spec.address_of(who)


def quiet_channels() -> tuple[Channel, ...]:
    """The channels that never ring, in registration order: admin warnings by default, and
    hand-off notices."""
    return tuple(c for c in Channel if not _SPECS[c].rings)


def after_stop(channels: Iterable[str] | None = None) -> tuple[Channel, ...]:
    """The channels that take over for a person who texted STOP from those of ``channels``
    (default: every channel) that STOP blocks."""
    chosen = Channel if channels is None else channels
    found: list[Channel] = []
    for name in chosen:
        instead = CHANNELS[name].instead_after_stop
        if CHANNELS[name].stop_blocks and instead is not None and Channel(instead) not in found:
            found.append(Channel(instead))
    return tuple(found)


def texted_stop(error: BaseException, channel: str) -> bool:
    """Whether ``error``, raised sending on ``channel``, means the person texted STOP: their
    address opted out on a channel STOP blocks."""
    return isinstance(error, AddressOptedOut) and CHANNELS[channel].stop_blocks


class ConfiguredPerson(Addressable, Protocol):
    """What :func:`address_findings` reads of a configured person."""

    @property
    def id(self) -> str: ...


def address_findings(people: Iterable[ConfiguredPerson], settings: Any) -> list[Finding]:
    """People's addresses checked against the process settings by their channels'
    ``check_address``; each finding's path is ``("people", index, "addresses", channel)`` (or
    the person's ``phone``/``email``), as the configuration loader places findings."""
    findings: list[Finding] = []
    for i, person in enumerate(people):
        for spec in _SPECS.values():
            address = spec.address_of(person)
            problem = spec.check_address(settings, address) if spec.check_address and address else None
            if problem is not None:
                severity, message = problem
                findings.append(Finding(path=("people", i, *spec.address_key.split(".")),
                                        severity=severity, message=f"person {person.id!r}: {message}"))
    return findings


class Addresses(Mapping[str, str]):
    """A person's addresses by channel name, for channels that keep them here (not ``phone``
    or ``email``): immutable and hashable, so a person stays hashable. In a configuration
    model it reads a mapping of registered channels' names and refuses a channel whose
    address has a field of its own."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Addresses({self._items!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _checked_addresses, handler.generate_schema(dict[Channel, str]),
            serialization=core_schema.plain_serializer_function_ser_schema(dict))

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: core_schema.CoreSchema,
                                     _handler: GetJsonSchemaHandler) -> dict[str, Any]:
        kept_here = [name for name, spec in _SPECS.items() if spec.address_field is None]
        schema: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
        if kept_here:
            schema["propertyNames"] = {"enum": kept_here}
        else:
            schema["maxProperties"] = 0
        return schema


def _checked_addresses(value: Mapping[Channel, str]) -> Addresses:
    for channel in value:
        field = CHANNELS[channel].address_field
        if field is not None:
            raise PydanticCustomError("address_elsewhere", "the {channel} address is the person's {field}",
                                      {"channel": channel.value, "field": field})
    return Addresses((c.value, a) for c, a in value.items())


# ---- the built-in channels ------------------------------------------------------------


def _twilio(settings: Any) -> Transport | None:
    if not settings.twilio.configured:
        return None
    from oncall.notify.twilio_transport import TwilioTransport

    return TwilioTransport(settings.twilio, settings.public_url)


def _smtp(settings: Any) -> Transport | None:
    if not settings.smtp.configured:
        return None
    from oncall.notify.smtp import SmtpTransport

    return SmtpTransport(settings.smtp)


def _chat(settings: Any) -> Transport | None:
    from oncall.notify.chat import build

    return build(settings)


def _chat_address(settings: Any, address: str) -> tuple[str, str] | None:
    from oncall.notify.chat import check_address

    return check_address(settings, address)


def _chat_mask(address: str) -> str:
    from oncall.notify.chat import mask_webhook

    return mask_webhook(address)


# Default storm limits are for people who sleep through the first call: texts two minutes
# apart, calls five minutes apart, everything in between is bundled.
register_channel(ChannelSpec(
    name="sms", messages="text messages", default_min_interval=timedelta(minutes=2),
    address_field="phone", address_noun="phone number", stop_blocks=True, instead_after_stop="voice",
    mask=mask_phone, transport=_twilio))
register_channel(ChannelSpec(
    name="voice", messages="calls", default_min_interval=timedelta(minutes=5),
    address_field="phone", address_noun="phone number", rings=True, spoken=True,
    mask=mask_phone, transport=_twilio))
register_channel(ChannelSpec(
    name="email", messages="e-mail", default_min_interval=timedelta(minutes=1),
    address_field="email", address_noun="email", subject=True, mask=mask_email, transport=_smtp))
# A chat room's webhook (Slack, Teams, Mattermost, Google Chat): a post a minute at most to one
# room or person, the rest bundled; it rings nothing, so it suits admin warnings too.
register_channel(ChannelSpec(
    name="chat", messages="chat posts", default_min_interval=timedelta(minutes=1),
    address_noun="chat webhook", wording=page_wording, mask=_chat_mask, transport=_chat,
    check_address=_chat_address))

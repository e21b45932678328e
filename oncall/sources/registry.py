"""The helpdesk kinds: one record per kind, read by everything that differs from kind to kind.

A source's *kind* (``ONCALL_SOURCES__<NAME>__KIND``, by default the source's name when that
names a kind, else ``generic``) says how its webhooks are parsed and authenticated, which
header carries a delivery id, whether and how it is polled, how notes are written back, and
whether stored tickets need names looked up before they are decided. Each kind's module
(``oncall.sources.generic``, ``.zendesk``, ``.freshdesk``, ``.jira``) holds those pieces and
calls :func:`register` with its :class:`HelpdeskKind`. The webhook route, ``oncall send-ticket``,
``oncall explain --source``, the daemon's pollers, write-back and intake, and the validation
of ``kind`` read :data:`HELPDESKS` and name no kind themselves.

A new helpdesk is one module: its parser, signature check and signing (the schemes in
:mod:`oncall.sources.signatures` can be reused), optionally a poller (a
:class:`~oncall.sources.pollers.BasePoller`), a write-back and a resolver, and one
``register(HelpdeskKind(...))``. A kind shipped with oncall is also listed in
:class:`SourceKind`, so that it is loaded on first use; a kind registered from anywhere else
(a plugin, a test) needs nothing more.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

    from oncall.interfaces import CursorStore, TicketSink
    from oncall.sources.health import SourceHealth
    from oncall.sources.payload import ParsedEvent
    from oncall.sources.pollers import BasePoller, MappingSource, OnUnreadable
    from oncall.sources.settings import SourceMapping, SourceSettings
    from oncall.sources.writeback import WriteBack
    from oncall.tickets import Ticket


class SourceKind(StrEnum):
    """The kinds shipped with oncall, in the order they are listed. Each is the module
    ``oncall.sources.<value>``, imported (and so registered) the first time the registry is read.
    Compare kinds by name through the registry; this list only says what to load."""

    GENERIC = "generic"
    ZENDESK = "zendesk"
    FRESHDESK = "freshdesk"
    JIRA = "jira"


class Parser(Protocol):
    def __call__(self, body: bytes, *, source: str, mapping: SourceMapping | None,
                 received_at: datetime | None, event_id: str | None) -> ParsedEvent:
        """The ticket in a webhook body. Raises :class:`~oncall.errors.TicketError` naming the
        field, :class:`~oncall.sources.payload.IgnoredEvent` for an event not worth storing."""
        ...


class Verifier(Protocol):
    def __call__(self, secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        """Check a webhook's authentication (``headers`` case-insensitive). Raises
        :class:`~oncall.errors.SignatureError` with a reason fit for a log line."""
        ...


class Signer(Protocol):
    def __call__(self, secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
        """The headers the helpdesk would send with ``body`` at ``now`` (the verifier accepts them)."""
        ...


class PollerFactory(Protocol):
    def __call__(self, *, source: str, settings: SourceSettings, client: httpx.Client, sink: TicketSink,
                 cursors: CursorStore, health: SourceHealth | None, mapping: MappingSource,
                 on_unreadable: OnUnreadable | None) -> BasePoller:
        """A poller for one source (a :class:`~oncall.sources.pollers.BasePoller` subclass).
        Raises :class:`~oncall.errors.SourceError` when the settings cannot be polled."""
        ...


class WriteBackFactory(Protocol):
    def __call__(self, source: str, settings: SourceSettings, client: httpx.Client) -> WriteBack:
        """The source's write-back through the helpdesk's API. Raises
        :class:`~oncall.errors.SourceError` saying what the settings lack."""
        ...


Resolver = Callable[["Ticket", datetime], "Ticket"]


class ResolverFactory(Protocol):
    def __call__(self, sources: Mapping[str, SourceSettings], mappings: Callable[[], Mapping[str, SourceMapping]],
                 client: httpx.Client) -> Resolver:
        """A hook that completes a stored ticket of this kind just before it is decided (e.g. ids
        → names), given every source's settings; it leaves other tickets alone and never raises."""
        ...


def _needs_nothing(settings: SourceSettings) -> str | None:
    del settings
    return None


@dataclass(frozen=True, kw_only=True)
class HelpdeskKind:
    """Everything oncall does differently for one kind of helpdesk."""

    name: str
    """The kind's name: the value of ``kind``, and the default for a source named like it."""
    docs: str
    """One line for operators: what the kind reads and how it authenticates."""
    parse: Parser
    verify_signature: Verifier
    sign: Signer
    """Signs a body as the helpdesk does (``oncall send-ticket``, tests)."""
    event_id_header: str | None = None
    """A delivery id that stays the same across the helpdesk's retries (the event key)."""
    poller: PollerFactory | None = None
    poller_needs: Callable[[SourceSettings], str | None] = _needs_nothing
    """What polling lacks besides ``base_url`` (e.g. "… polling needs api_key"), or ``None``."""
    writeback: WriteBackFactory | None = None
    """Notes through the helpdesk's API (``callback_url`` works for every kind)."""
    resolver: ResolverFactory | None = None


class _Registry(Mapping[str, HelpdeskKind]):
    """Kinds by name; the built-in ones are imported on first read (their modules register)."""

    def __init__(self) -> None:
        self._kinds: dict[str, HelpdeskKind] = {}
        self._lock = threading.RLock()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                for kind in SourceKind:
                    importlib.import_module(f"{__package__}.{kind.value}")
                self._loaded = True

    def add(self, kind: HelpdeskKind) -> HelpdeskKind:
        with self._lock:
            known = self._kinds.get(kind.name)
            if known is not None and known is not kind:
                raise ValueError(f"helpdesk kind {kind.name!r} is registered already")
            self._kinds[kind.name] = kind
        return kind

    def remove(self, name: str) -> None:
        with self._lock:
            self._kinds.pop(name, None)

    def __getitem__(self, name: str) -> HelpdeskKind:
        self._load()
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        built_in = [k.value for k in SourceKind if k.value in self._kinds]
        return iter(built_in + [name for name in self._kinds if name not in built_in])

    def __len__(self) -> int:
        self._load()
        return len(self._kinds)


_registry = _Registry()
HELPDESKS: Mapping[str, HelpdeskKind] = _registry
"""Every known kind by name: the built-in ones in :class:`SourceKind` order, then the others."""


def register(kind: HelpdeskKind) -> HelpdeskKind:
    """Make ``kind`` known (returns it). Raises :class:`ValueError` for a name already taken."""
    return _registry.add(kind)


def unregister(name: str) -> None:
    """Forget a kind (for kinds registered by tests or plugins); unknown names are ignored."""
    _registry.remove(name)


def helpdesk_for(source: str, settings: SourceSettings | None) -> HelpdeskKind:
    """A source's kind: its explicit ``kind``, else the kind named like the source, else generic."""
    name = settings.kind_for(source) if settings is not None else source.lower()
    return HELPDESKS.get(name or SourceKind.GENERIC) or HELPDESKS[SourceKind.GENERIC]


def ticket_resolver(sources: Mapping[str, SourceSettings], mappings: Callable[[], Mapping[str, SourceMapping]],
                    client: httpx.Client) -> Resolver:
    """The intake's ``resolve`` hook: every kind's resolver in turn (each leaves other tickets alone)."""
    hooks = [kind.resolver(sources, mappings, client) for kind in HELPDESKS.values() if kind.resolver is not None]

    def resolve(ticket: Ticket, now: datetime) -> Ticket:
        for hook in hooks:
            ticket = hook(ticket, now)
        return ticket

    return resolve

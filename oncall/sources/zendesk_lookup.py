"""Names behind the ids of Zendesk event webhooks, from the Zendesk API, when a ticket is decided.

Why not at intake: a webhook is answered 202 once the event is stored, and storing must not
depend on Zendesk being up (it would lose the event exactly when Zendesk has trouble). So
the event is stored as it came, and :class:`EventResolver` — the intake's ``resolve`` hook —
looks the ids up just before the ticket is decided, with the source's poller credentials
(``ONCALL_SOURCES__<NAME>__BASE_URL``, ``__EMAIL``, ``__API_TOKEN``):

* ``GET /api/v2/organizations/{id}.json`` → ``organization.name`` and ``.tags``;
* ``GET /api/v2/users/{id}.json`` → ``user.email``;
* ``GET /api/v2/custom_statuses/{id}.json`` → ``custom_status.agent_label`` and
  ``.status_category``.

Answers are cached for :data:`CACHE_TTL` (ids that do not exist for :data:`MISSING_TTL`).
Each request waits at most :data:`TIMEOUT` seconds; after a failure (unreachable, 5xx, 429,
refused credentials) the API is left alone for :data:`COOLDOWN` (or ``Retry-After``), so a
Zendesk outage costs the worker one timeout per cooldown, not one per ticket. Whatever the API
does not answer falls back to ``value_maps`` or stays unresolved, and the ticket is decided
anyway (:func:`oncall.sources.zendesk_events.with_names` records which).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from oncall.sources.pollers import retry_after
from oncall.sources.settings import SourceMapping, SourceSettings, default_mapping
from oncall.sources.zendesk_events import NO_CREDENTIALS, Names, refs, with_names
from oncall.tickets import Ticket

log = structlog.get_logger(__name__)

CACHE_TTL = timedelta(minutes=10)
MISSING_TTL = timedelta(minutes=1)
COOLDOWN = timedelta(minutes=1)
TIMEOUT = 2.0

# kind → (path under /api/v2/, the response's key)
_ENDPOINTS = {
    "organization": ("organizations", "organization"),
    "requester": ("users", "user"),
    "custom_status": ("custom_statuses", "custom_status"),
}


@dataclass(frozen=True, kw_only=True)
class Found:
    """One lookup's answer: the object, or why there is none."""

    value: Mapping[str, Any] | None = None
    error: str | None = None


class ZendeskLookups:
    """Cached, time-boxed lookups on one Zendesk account (thread-safe; reads no clock)."""

    def __init__(self, *, base_url: str, email: str, api_token: str, client: httpx.Client,
                 ttl: timedelta = CACHE_TTL, missing_ttl: timedelta = MISSING_TTL,
                 cooldown: timedelta = COOLDOWN, timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = httpx.BasicAuth(f"{email}/token", api_token)
        self.client = client
        self.ttl, self.missing_ttl, self.cooldown, self.timeout = ttl, missing_ttl, cooldown, timeout
        self._cache: dict[tuple[str, str], tuple[datetime, Found]] = {}
        self._down_until: datetime | None = None
        self._down_reason = ""
        self._lock = threading.Lock()

    def lookup(self, kind: str, ref: str, now: datetime) -> Found:
        """``kind`` is organization, requester or custom_status; never raises."""
        if not ref.isdigit():  # ids are numbers; anything else never reaches a URL
            return Found(error=f"{ref[:40]!r} is not a Zendesk id")
        with self._lock:
            cached = self._cache.get((kind, ref))
            if cached is not None and now < cached[0]:
                return cached[1]
            if self._down_until is not None and now < self._down_until:
                return Found(error=f"Zendesk API unavailable ({self._down_reason}); not asked again "
                                   f"before {self._down_until.isoformat()}")
        found, keep = self._fetch(kind, ref, now)
        with self._lock:
            if keep is not None:
                self._cache[(kind, ref)] = (now + keep, found)
        return found

    def _down(self, now: datetime, reason: str, delay: timedelta | None = None) -> Found:
        with self._lock:
            self._down_until = now + (delay or self.cooldown)
            self._down_reason = reason
        log.warning("zendesk.lookup_failed", reason=reason)
        return Found(error=f"Zendesk API unavailable ({reason})")

    def _fetch(self, kind: str, ref: str, now: datetime) -> tuple[Found, timedelta | None]:
        path, key = _ENDPOINTS[kind]
        url = f"{self.base_url}/api/v2/{path}/{ref}.json"
        try:
            response = self.client.get(url, auth=self.auth, timeout=self.timeout,
                                       headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            return self._down(now, f"{type(exc).__name__} from {path}"), None
        status = response.status_code
        if status == 404:
            return Found(error=f"{kind.replace('_', ' ')} {ref} not found in Zendesk (HTTP 404)"), self.missing_ttl
        if status == 429:
            wait = retry_after(response.headers.get("Retry-After"), now, self.cooldown)
            return self._down(now, "rate limited (HTTP 429)", wait), None
        if status in (401, 403):
            return self._down(now, f"credentials refused (HTTP {status})"), None
        if status >= 400:
            return self._down(now, f"HTTP {status} from {path}"), None
        try:
            data = response.json()
        except ValueError:
            return self._down(now, f"{path} answer is not JSON"), None
        found = data.get(key) if isinstance(data, dict) else None
        if not isinstance(found, dict):
            return self._down(now, f"{path} answer has no {key!r} object"), None
        with self._lock:
            self._down_until = None
        return Found(value=found), self.ttl


def lookups_for(settings: SourceSettings, client: httpx.Client) -> ZendeskLookups | None:
    """Lookups on the source's account, or ``None`` without base_url, email and api_token."""
    if settings.base_url is None or not settings.email or settings.api_token is None:
        return None
    return ZendeskLookups(base_url=settings.base_url, email=settings.email,
                          api_token=settings.api_token.get_secret_value(), client=client)


def resolve_names(ticket: Ticket, mapping: SourceMapping, lookups: ZendeskLookups | None,
                  now: datetime) -> Ticket:
    """The event ticket with its ids looked up (API when possible, else ``value_maps``)."""
    ids = refs(ticket)
    if lookups is None:
        return with_names(ticket, mapping, Names(), reason=NO_CREDENTIALS)
    answers: dict[str, Mapping[str, Any] | None] = {}
    errors: dict[str, str] = {}
    for kind, ref in (("organization", ids.get("organization_id")), ("requester", ids.get("requester_id")),
                      ("custom_status", ids.get("custom_status_id"))):
        # an id value_maps already names needs no request
        if not ref or (kind == "organization" and ref.lower() in mapping.value_maps.get("customer", {})):
            continue
        found = lookups.lookup(kind, ref, now)
        answers[kind] = found.value
        if found.error:
            errors[kind] = found.error
    names = Names(organization=answers.get("organization"), requester=answers.get("requester"),
                  custom_status=answers.get("custom_status"), errors=errors)
    return with_names(ticket, mapping, names, reason="not answered by the Zendesk API")


class EventResolver:
    """The intake's ``resolve`` hook: names for Zendesk event tickets, other tickets unchanged.

    ``mappings`` is read on every call (hot reloads). Never raises: a bug here must not keep a
    ticket from being decided.
    """

    def __init__(self, sources: Mapping[str, SourceSettings],
                 mappings: Callable[[], Mapping[str, SourceMapping]], client: httpx.Client) -> None:
        self.mappings = mappings
        self._lookups = {name.lower(): lookups_for(s, client) for name, s in sources.items()
                         if s.kind_for(name) == "zendesk"}

    def __call__(self, ticket: Ticket, now: datetime) -> Ticket:
        if not refs(ticket):
            return ticket
        source = ticket.source.lower()
        try:
            mapping = self.mappings().get(source) or default_mapping(source)
            return resolve_names(ticket, mapping, self._lookups.get(source), now)
        except Exception:
            log.exception("zendesk.resolve_failed", source=source, ticket_id=ticket.id)
            return ticket

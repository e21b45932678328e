"""Zendesk: the webhook body a trigger sends, and tickets from the Incremental Export API (pure).

Event-subscription webhooks (``zen:event-type:ticket.*``) arrive at the same endpoint and are
read by :mod:`oncall.sources.zendesk_events`.

Webhook body template — paste into the trigger action "Notify webhook" (JSON body); replace
``360001234567`` by your custom field ids, add one line per field your mapping uses::

    {
      "ticket": {
        "id": "{{ticket.id}}",
        "subject": "{{ticket.title}}",
        "priority": "{{ticket.priority}}",
        "status": "{{ticket.status}}",
        "created_at": "{{ticket.created_at_with_timestamp}}",
        "updated_at": "{{ticket.updated_at_with_timestamp}}",
        "organization": "{{ticket.organization.name}}",
        "requester": "{{ticket.requester.email}}",
        "tags": "{{ticket.tags}}",
        "url": "{{ticket.link}}",
        "custom_fields": {"360001234567": "{{ticket.ticket_field_360001234567}}"}
      }
    }

Placeholders render as text: ``{{ticket.priority}}`` is ``Urgent``/``High``/``Normal``/``Low``
or ``-`` when unset (→ normal); ``{{ticket.status}}`` is ``New``/``Open``/``Pending``/
``On-hold``/``Solved``/``Closed``; ``{{ticket.tags}}`` is space-separated. A value oncall does
not know (a custom status's label, say) is read with the Ticket's fallback and kept in
``Ticket.unmapped`` (see :mod:`oncall.tickets`); ``value_maps`` translate it first. Zendesk copies an
organisation's tags onto its tickets, so ``organization_tag:<prefix>`` rules read the ticket
tags (plus an ``organization_tags`` key if you add one).

The same function reads the API's ticket object (``organization_id``/``requester_id`` resolved
through the ``organizations``/``users`` side-loads, ``custom_fields`` as ``[{id, value}]``), as
:class:`ZendeskPoller` fetches it from the Incremental Ticket Export. With the same credentials
(``base_url``, ``email``, ``api_token``) :class:`ZendeskWriteBack` posts notes, and the ids of
event webhooks are looked up (:mod:`oncall.sources.zendesk_lookup`).

Both kinds of webhook are signed ``X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret,
timestamp + raw body))`` with ``X-Zendesk-Webhook-Signature-Timestamp``; a timestamp more than
5 minutes off is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from oncall.errors import SourceError, TicketError
from oncall.sources.mapping import VendorFacts, mapped_fields, mapped_priority, translated
from oncall.sources.payload import ParsedEvent, build_ticket, load_json, obj, parsed, strings, text, timestamp
from oncall.sources.pollers import BasePoller
from oncall.sources.registry import HelpdeskKind, register
from oncall.sources.settings import SourceMapping, SourceSettings, default_mapping
from oncall.sources.signatures import ZENDESK_HEADER, ZENDESK_TIMESTAMP_HEADER, sign_zendesk, verify_zendesk
from oncall.sources.writeback import HttpWriteBack, Note
from oncall.sources.zendesk_events import is_event, parse_zendesk_event
from oncall.sources.zendesk_lookup import EventResolver
from oncall.tickets import Ticket


def custom_field_values(value: object, field: str) -> dict[str, object]:
    """Custom fields as ``{id: value}`` from a JSON object or Zendesk's ``[{id, value}]`` list."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, object] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict) or "id" not in item:
                raise TicketError(f"{field}.{i}", "expected an object with id and value")
            out[str(item["id"])] = item.get("value")
        return out
    raise TicketError(field, f"expected an object or a list, got {type(value).__name__}")


def _lookup_name(table: Mapping[int, Mapping[str, Any]], ref: object, key: str) -> str | None:
    if isinstance(ref, int) and not isinstance(ref, bool) and ref in table:
        found = table[ref].get(key)
        return found if isinstance(found, str) and found.strip() else None
    return None


def ticket_from_zendesk(raw: Mapping[str, Any], *, source: str = "zendesk",
                        mapping: SourceMapping | None = None, where: str = "ticket.",
                        organizations: Mapping[int, Mapping[str, Any]] | None = None,
                        users: Mapping[int, Mapping[str, Any]] | None = None,
                        received_at: datetime | None = None) -> Ticket:
    """Normalise one Zendesk ticket (webhook template or API object)."""
    mapping = mapping or default_mapping(source)
    ticket_id = text(raw.get("id"), f"{where}id", required=True, limit=200)
    priority, priority_text = mapped_priority(mapping, text(raw.get("priority"), f"{where}priority"))
    status = translated(mapping, "status", text(raw.get("status"), f"{where}status", required=True))
    created = timestamp(raw.get("created_at"), f"{where}created_at") or received_at
    if created is None:
        raise TicketError(f"{where}created_at", "missing")
    updated = timestamp(raw.get("updated_at"), f"{where}updated_at")
    organization = text(raw.get("organization"), f"{where}organization", limit=500)
    organization = organization or _lookup_name(organizations or {},
                                                 raw.get("organization_id"), "name")
    requester = text(raw.get("requester"), f"{where}requester", limit=500)
    requester = requester or _lookup_name(users or {}, raw.get("requester_id"), "email")
    tags = strings(raw.get("tags"), f"{where}tags")
    facts = VendorFacts(
        priority=priority,
        organization=organization,
        organization_tags=strings(raw.get("organization_tags"), f"{where}organization_tags")
        + tags,
        requester=requester,
        tags=tags,
        custom_fields=custom_field_values(raw.get("custom_fields"), f"{where}custom_fields"),
    )
    return vendor_ticket(raw, where, mapping, facts, id=ticket_id, source=source,
                         priority=priority_text, status=status, created_at=created,
                         updated_at=updated, requester=requester, tags=tags)


def vendor_ticket(raw: Mapping[str, Any], where: str, mapping: SourceMapping, facts: VendorFacts,
                  **fields: Any) -> Ticket:
    """The normalised ticket from a helpdesk's fields: the common keys, the subject and link
    read from ``raw``, and customer/severity/category/environment from the source's mapping."""
    payload: dict[str, Any] = {
        **fields,
        "subject": text(raw.get("subject"), f"{where}subject") or "",
        **mapped_fields(mapping, facts),
    }
    url = text(raw.get("url"), f"{where}url", limit=2000)
    if url:
        payload["url"] = url
    return build_ticket(payload, where=where)


def parse_zendesk(body: bytes, *, source: str = "zendesk", mapping: SourceMapping | None = None,
                  received_at: datetime | None = None, event_id: str | None = None
                  ) -> ParsedEvent:
    """Parse a Zendesk webhook body: a trigger's (``{"ticket": …}``) or an event subscription's
    (``{"type": "zen:event-type:…", "detail": …}``, :mod:`oncall.sources.zendesk_events`).
    Raises :class:`TicketError` naming the field, :class:`IgnoredEvent` for events oncall does
    not track."""
    data = load_json(body)
    if is_event(data):
        return parse_zendesk_event(data, source=source, mapping=mapping, received_at=received_at,
                                   event_id=event_id)
    raw = obj(data, "ticket", "")
    ticket = ticket_from_zendesk(raw, source=source, mapping=mapping,
                                 received_at=received_at)
    return parsed(ticket, event_id, data)


# --- polling, write-back and authentication ---------------------------------------------------


def poller_needs(settings: SourceSettings) -> str | None:
    return "Zendesk polling needs email and api_token" if not settings.email or settings.api_token is None else None


class ZendeskPoller(BasePoller):
    """Zendesk Incremental Ticket Export, cursor-based."""

    def _auth(self) -> httpx.Auth:
        s = self.settings
        if not s.email or s.api_token is None:
            raise SourceError(f"source {self.source!r}: {poller_needs(s)}")
        return httpx.BasicAuth(f"{s.email}/token", s.api_token.get_secret_value())

    def _poll(self, now: datetime) -> bool:
        auth = self._auth()
        url = f"{self.base_url}/api/v2/incremental/tickets/cursor.json"
        cursor = self.cursors.get_cursor(self.cursor_name)
        for _ in range(self.max_pages):
            params: dict[str, Any] = {"include": "users,organizations", "exclude_deleted": "true"}
            if cursor:
                params["cursor"] = cursor
            else:
                start = now - self.settings.initial_lookback
                params["start_time"] = int(start.timestamp())
            data = self._get(url, params, auth, now)
            if not isinstance(data, dict) or not isinstance(data.get("tickets"), list):
                raise SourceError(f"{self.source}: export response has no tickets list")
            orgs = _index(data.get("organizations"))
            users = _index(data.get("users"))
            for i, raw in enumerate(data["tickets"]):
                if not isinstance(raw, dict):
                    self._unreadable(raw, f"tickets.{i}", "expected a JSON object", now)
                    continue
                try:
                    ticket = ticket_from_zendesk(raw, source=self.source, mapping=self.mapping(),
                                                 organizations=orgs, users=users,
                                                 where=f"tickets.{i}.")
                except TicketError as exc:
                    self._unreadable(raw, exc.field, exc.reason, now)
                    continue
                self._deliver(ticket, now)
            after = data.get("after_cursor")
            if isinstance(after, str) and after:
                self.cursors.set_cursor(self.cursor_name, after, now)
                cursor = after
            if data.get("end_of_stream", True) or not after:
                return False
        return True


def _index(items: object) -> dict[int, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {i["id"]: i for i in items
            if isinstance(i, dict) and isinstance(i.get("id"), int)}


class ZendeskWriteBack(HttpWriteBack):
    """``PUT {base}/api/v2/tickets/{id}.json`` with a comment (internal unless public)."""

    def __init__(self, *, base_url: str, email: str, api_token: str, client: httpx.Client,
                 allow_public: bool = False, attempts: int = 3,
                 sleep: Callable[[float], None] = time.sleep, base_delay: float = 1.0) -> None:
        super().__init__(client=client, allow_public=allow_public, attempts=attempts,
                         sleep=sleep, base_delay=base_delay)
        self.base_url = base_url.rstrip("/")
        self.auth = httpx.BasicAuth(f"{email}/token", api_token)

    def _send(self, note: Note) -> httpx.Response:
        url = f"{self.base_url}/api/v2/tickets/{quote(note.ticket_id, safe='')}.json"
        body = {"ticket": {"comment": {"body": note.text, "public": note.public}}}
        return self.client.put(url, json=body, auth=self.auth)


def writeback(source: str, settings: SourceSettings, client: httpx.Client) -> ZendeskWriteBack:
    """Internal notes through the API. Raises :class:`SourceError` without the credentials."""
    del source  # one account per source: the settings say everything
    if settings.base_url is None or not settings.email or settings.api_token is None:
        raise SourceError("Zendesk write-back needs base_url, email and api_token")
    return ZendeskWriteBack(base_url=settings.base_url, email=settings.email,
                            api_token=settings.api_token.get_secret_value(), client=client,
                            allow_public=settings.allows_public)


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
    verify_zendesk(secret, body, headers.get(ZENDESK_HEADER), headers.get(ZENDESK_TIMESTAMP_HEADER), now=now)


def sign_request(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    sent_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # as Zendesk writes it
    return {ZENDESK_HEADER: sign_zendesk(secret, sent_at, body), ZENDESK_TIMESTAMP_HEADER: sent_at}


HELPDESK = register(HelpdeskKind(
    name="zendesk", docs=f"Zendesk trigger and event webhooks signed in {ZENDESK_HEADER}; polled, notes and "
                         "id look-ups with base_url, email and api_token",
    parse=parse_zendesk, verify_signature=verify_request, sign=sign_request,
    poller=ZendeskPoller, poller_needs=poller_needs, writeback=writeback, resolver=EventResolver))

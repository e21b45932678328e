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
through the ``organizations``/``users`` side-loads, ``custom_fields`` as ``[{id, value}]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.errors import TicketError
from oncall.sources.interfaces import ParsedEvent
from oncall.sources.mapping import VendorFacts, mapped_fields, mapped_priority, translated
from oncall.sources.payload import build_ticket, load_json, obj, parsed, strings, text, timestamp
from oncall.sources.settings import SourceMapping, default_mapping
from oncall.sources.zendesk_events import is_event, parse_zendesk_event
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

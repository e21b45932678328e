"""Freshdesk: automation-rule webhooks and tickets from the API (pure).

Automation rule → action "Trigger webhook", method POST, encoding JSON, content "Advanced",
custom header ``X-Oncall-Secret: <ONCALL_SOURCES__FRESHDESK__SECRET>``, body::

    {
      "ticket": {
        "id": "{{ticket.id}}",
        "subject": "{{ticket.subject}}",
        "priority": "{{ticket.priority}}",
        "status": "{{ticket.status}}",
        "company": "{{ticket.company.name}}",
        "requester": "{{ticket.requester.email}}",
        "tags": "{{ticket.tags}}",
        "url": "{{ticket.url}}",
        "custom_fields": {"cf_severity": "{{ticket.cf_severity}}"}
      }
    }

Priority is the word (``Low``…``Urgent``) or the number 1–4; status the word or 2–5
(2 Open, 3 Pending, 4 Resolved, 5 Closed). Admins add custom statuses (6 and up, with names of
their choosing): such a status is read as *open* — a human still works on the ticket — unless
``value_maps.status`` maps it (``{"6": pending}``), and the raw value is kept in
``Ticket.unmapped`` (see :mod:`oncall.tickets`). ``created_at``/``updated_at`` are optional: without
them the ticket is stamped with the time oncall received it. Freshdesk's "Simple" content
(``{"freshdesk_webhook": {"ticket_id": …, "ticket_priority": …}}``) is read too.
The API's ticket object (``company_id``, ``requester`` side-load, ``custom_fields`` object,
numeric priority/status) goes through the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.errors import TicketError
from oncall.sources.interfaces import ParsedEvent
from oncall.sources.mapping import VendorFacts, mapped_priority, translated
from oncall.sources.payload import load_json, obj, parsed, strings, text, timestamp
from oncall.sources.settings import SourceMapping, default_mapping
from oncall.sources.zendesk import custom_field_values, vendor_ticket
from oncall.tickets import Ticket


def _name_or_text(value: object, key: str, field: str) -> str | None:
    if isinstance(value, dict):
        return text(value.get(key), f"{field}.{key}", limit=500)
    return text(value, field, limit=500)


def _tags(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str) and "," in value:
        return strings(value, field, separator=",")
    return strings(value, field)


def _simple_content(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Freshdesk's "Simple" webhook content: ``ticket_*`` keys → the template's keys."""
    renamed: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in flat.items():
        short = key.removeprefix("ticket_")
        if short.startswith("cf_"):
            custom[short] = value
        elif short in ("company_name", "company"):
            renamed["company"] = value
        elif short in ("contact_email", "requester_email", "requester"):
            renamed["requester"] = value
        else:
            renamed[short] = value
    renamed.setdefault("custom_fields", custom)
    return renamed


def ticket_from_freshdesk(raw: Mapping[str, Any], *, source: str = "freshdesk",
                          mapping: SourceMapping | None = None, where: str = "ticket.",
                          received_at: datetime | None = None) -> Ticket:
    """Normalise one Freshdesk ticket (webhook template, simple content or API object)."""
    mapping = mapping or default_mapping(source)
    ticket_id = text(raw.get("id"), f"{where}id", required=True, limit=200)
    priority, priority_text = mapped_priority(mapping, text(raw.get("priority"), f"{where}priority"))
    status = translated(mapping, "status", text(raw.get("status"), f"{where}status", required=True))
    created = timestamp(raw.get("created_at"), f"{where}created_at") or received_at
    if created is None:
        raise TicketError(f"{where}created_at", "missing")
    organization = _name_or_text(raw.get("company"), "name", f"{where}company")
    if organization is None and raw.get("company_id") is not None:
        # the list API gives only the id; value_maps.customer can name it
        organization = text(raw.get("company_id"), f"{where}company_id")
    requester = _name_or_text(raw.get("requester"), "email", f"{where}requester")
    tags = _tags(raw.get("tags"), f"{where}tags")
    facts = VendorFacts(
        priority=priority,
        organization=organization,
        organization_tags=tags,
        requester=requester,
        tags=tags,
        custom_fields=custom_field_values(raw.get("custom_fields"), f"{where}custom_fields"),
    )
    return vendor_ticket(raw, where, mapping, facts, id=ticket_id, source=source,
                         priority=priority_text, status=status, created_at=created,
                         updated_at=timestamp(raw.get("updated_at"), f"{where}updated_at"),
                         requester=requester, tags=tags)


def parse_freshdesk(body: bytes, *, source: str = "freshdesk",
                    mapping: SourceMapping | None = None, received_at: datetime | None = None,
                    event_id: str | None = None) -> ParsedEvent:
    """Parse a Freshdesk automation webhook body. Raises :class:`TicketError` naming the field."""
    data = load_json(body)
    if "freshdesk_webhook" in data:
        raw = _simple_content(obj(data, "freshdesk_webhook", ""))
        where = "freshdesk_webhook."
    else:
        raw = obj(data, "ticket", "")
        where = "ticket."
    ticket = ticket_from_freshdesk(raw, source=source, mapping=mapping, where=where,
                                   received_at=received_at)
    return parsed(ticket, event_id, data)

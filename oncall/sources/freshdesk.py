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
numeric priority/status) goes through the same function: :class:`FreshdeskPoller` lists
``/api/v2/tickets?updated_since=…`` with the source's ``api_key``.

Freshdesk cannot sign requests, so the automation rule sends the shared secret itself in
``X-Oncall-Secret`` (use HTTPS).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from oncall.errors import SourceError, TicketError
from oncall.sources.mapping import VendorFacts, mapped_priority, translated
from oncall.sources.payload import ParsedEvent, load_json, obj, parsed, strings, text, timestamp
from oncall.sources.pollers import BasePoller
from oncall.sources.registry import HelpdeskKind, register
from oncall.sources.settings import SourceMapping, SourceSettings, default_mapping
from oncall.sources.signatures import FRESHDESK_HEADER, verify_shared_secret
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
    # Response clocks: the API's stats (include=stats) or the same keys in a webhook template.
    given = raw.get("stats")
    stats: Mapping[str, Any] = given if isinstance(given, Mapping) else raw
    return vendor_ticket(raw, where, mapping, facts, id=ticket_id, source=source,
                         priority=priority_text, status=status, created_at=created,
                         updated_at=timestamp(raw.get("updated_at"), f"{where}updated_at"),
                         requester=requester, tags=tags,
                         agent_replied_at=timestamp(stats.get("agent_responded_at"), f"{where}agent_responded_at"),
                         customer_replied_at=timestamp(stats.get("requester_responded_at"),
                                                       f"{where}requester_responded_at"))


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


def poller_needs(settings: SourceSettings) -> str | None:
    return "Freshdesk polling needs api_key" if settings.api_key is None else None


class FreshdeskPoller(BasePoller):
    """Freshdesk ``/api/v2/tickets?updated_since=…``; the cursor is the last ``updated_at`` seen."""

    per_page = 100

    def _auth(self) -> httpx.Auth:
        api_key = self.settings.api_key
        if api_key is None:
            raise SourceError(f"source {self.source!r}: {poller_needs(self.settings)}")
        return httpx.BasicAuth(api_key.get_secret_value(), "X")

    def _poll(self, now: datetime) -> bool:
        auth = self._auth()
        url = f"{self.base_url}/api/v2/tickets"
        stored = self.cursors.get_cursor(self.cursor_name)
        since = stored or _iso(now - self.settings.initial_lookback)
        newest: datetime | None = None
        for page in range(1, self.max_pages + 1):
            data = self._get(url, {"updated_since": since, "order_by": "updated_at",
                                   "order_type": "asc", "per_page": self.per_page,
                                   "page": page, "include": "requester,stats"}, auth, now)
            if not isinstance(data, list):
                raise SourceError(f"{self.source}: ticket listing is not a JSON list")
            for i, raw in enumerate(data):
                if not isinstance(raw, dict):
                    self._unreadable(raw, str(i), "expected a JSON object", now)
                    continue
                try:
                    ticket = ticket_from_freshdesk(raw, source=self.source,
                                                   mapping=self.mapping(), where=f"{i}.")
                except TicketError as exc:
                    self._unreadable(raw, exc.field, exc.reason, now)
                    continue
                self._deliver(ticket, now)
                if ticket.updated_at is not None and (newest is None
                                                      or ticket.updated_at > newest):
                    newest = ticket.updated_at
            # updated_since is inclusive, so the boundary ticket comes back next time and the
            # sink recognises it; never skipping a ticket matters more than one repeat
            if newest is not None and (stored is None or _iso(newest) > stored):
                stored = _iso(newest)
                self.cursors.set_cursor(self.cursor_name, stored, now)
            if len(data) < self.per_page:
                return False
        return True


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
    del body, now  # Freshdesk cannot sign: the header carries the secret itself
    verify_shared_secret(secret, headers.get(FRESHDESK_HEADER))


def sign_request(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    del body, now
    return {FRESHDESK_HEADER: secret}


HELPDESK = register(HelpdeskKind(
    name="freshdesk", docs=f"Freshdesk automation webhooks with the secret in {FRESHDESK_HEADER}; polled with api_key",
    parse=parse_freshdesk, verify_signature=verify_request, sign=sign_request,
    poller=FreshdeskPoller, poller_needs=poller_needs))

"""The generic JSON ticket (the contract's ticket keys), for scripts and helpdesks without a parser.

Body::

    {"id": "T-1042", "subject": "Checkout down", "priority": "urgent", "severity": "sev1",
     "status": "open", "created_at": "2026-11-25T03:00:00Z", "updated_at": "2026-11-25T03:05:00Z",
     "customer": "acme", "requester": "ops@acme.example", "environment": "production",
     "category": "outage", "tags": ["checkout"], "event_id": "optional-unique-delivery-id"}

Signature: ``X-Oncall-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``.
``event_id`` (or the ``X-Oncall-Event-Id`` header) makes retries idempotent; without it the
sha256 of the canonical body is used. Unknown keys are kept as ticket extras. ``value_maps``
of the source's mapping translate customer, severity, category, environment, priority and
status before they are validated; a status, priority, severity or environment oncall still
does not know is read with the Ticket's fallback and kept in ``unmapped`` (see
:mod:`oncall.tickets`), never refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from oncall.errors import TicketError
from oncall.sources.payload import ParsedEvent, build_ticket, load_json, parsed
from oncall.sources.registry import HelpdeskKind, register
from oncall.sources.settings import MAPPED_FIELDS, SourceMapping
from oncall.sources.signatures import GENERIC_HEADER, sign_generic, verify_generic

EVENT_ID_HEADER = "X-Oncall-Event-Id"


def parse_generic(body: bytes, *, source: str = "generic", mapping: SourceMapping | None = None,
                  received_at: datetime | None = None, event_id: str | None = None
                  ) -> ParsedEvent:
    """Parse a generic ticket body. Raises :class:`TicketError` naming the field."""
    del received_at  # the generic ticket must carry its own created_at
    data = load_json(body)
    payload = dict(data)
    body_event_id = payload.pop("event_id", None)
    if body_event_id is not None and (
        isinstance(body_event_id, bool) or not isinstance(body_event_id, (str, int))
    ):
        raise TicketError("event_id", "expected text")
    payload["source"] = source
    if mapping is not None:
        for name in MAPPED_FIELDS:
            raw = payload.get(name)
            # numbers too: a helpdesk's custom status 6 is mapped as "6"
            if isinstance(raw, (str, int)) and not isinstance(raw, bool):
                mapped = mapping.translate(name, str(raw))
                if mapped != str(raw):
                    payload[name] = mapped
    if "tags" in payload and isinstance(payload["tags"], list):
        payload["tags"] = tuple(payload["tags"])
    ticket = build_ticket(payload)
    return parsed(ticket, event_id or body_event_id, data)


def verify_request(secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
    del now  # the signature carries no time
    verify_generic(secret, body, headers.get(GENERIC_HEADER))


def sign_request(secret: str, body: bytes, *, now: datetime) -> dict[str, str]:
    del now
    return {GENERIC_HEADER: sign_generic(secret, body)}


HELPDESK = register(HelpdeskKind(
    name="generic", docs=f"the generic JSON ticket, signed in {GENERIC_HEADER}",
    parse=parse_generic, verify_signature=verify_request, sign=sign_request, event_id_header=EVENT_ID_HEADER))

"""``oncall explain``: read a ticket as the daemon would, decide, and say how and why.

Besides the decision's reasons, the explanation says how the ticket itself was read: values
oncall does not know and what they were treated as (``Ticket.unmapped``), and ids looked up
to names (Zendesk event webhooks: via the Zendesk API, ``value_maps`` or unresolved). The JSON
form keeps the contract keys (``page``, ``reasons``, ``desk``, ``business_hours``, ``holiday``,
``entitled``, ``escalation_policy``, ``respond_by``, ``next_business_open``) and adds
``unmapped`` (field → ``{"value", "treated_as"}``) and ``lookups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from oncall.rules import Decision, format_decision
from oncall.sources.registry import helpdesk_for, ticket_resolver
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.tickets import Ticket, reads_as

LOOKUP_TIMEOUT = 5.0


def read_vendor_body(body: bytes, source: str, settings: Mapping[str, SourceSettings],
                     mapping: SourceMapping | None, received_at: datetime) -> Ticket:
    """A webhook body as ``source``'s parser reads it (e.g. a Zendesk event copied from the
    webhook's activity log). Raises :class:`TicketError` naming the field, or
    :class:`IgnoredEvent` for an event the daemon would acknowledge and not store."""
    parse = helpdesk_for(source, settings.get(source)).parse
    return parse(body, source=source, mapping=mapping, received_at=received_at, event_id=None).ticket


def resolve(ticket: Ticket, settings: Mapping[str, SourceSettings],
            mappings: Mapping[str, SourceMapping], now: datetime) -> Ticket:
    """Look the ticket's ids up as the daemon does when it decides (Zendesk API if configured)."""
    with httpx.Client(timeout=LOOKUP_TIMEOUT) as client:
        return ticket_resolver(settings, lambda: mappings, client)(ticket, now)


def explanation_json(decision: Decision, ticket: Ticket) -> dict[str, Any]:
    out = decision.to_json()
    out["reasons"] = ticket.notes() + out["reasons"]
    out["unmapped"] = {field: {"value": raw, "treated_as": reads_as(field)}
                       for field, raw in sorted(ticket.unmapped.items())}
    out["lookups"] = ticket.lookups()
    return out


def explanation_text(decision: Decision, ticket: Ticket) -> str:
    return format_decision(replace(decision, reasons=tuple(ticket.notes()) + decision.reasons))

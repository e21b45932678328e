"""What the incident API hands out: plain frozen values, JSON-ready."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall.escalation.state import IncidentState, IncidentStatus, state_from_json
from oncall.tickets import Ticket


@dataclass(frozen=True, kw_only=True)
class TicketSummary:
    """The part of a ticket an incident keeps (and a page shows)."""

    source: str
    ticket_id: str
    priority: str = "urgent"
    customer: str | None = None
    subject: str = ""
    notes: tuple[str, ...] = ()  # how the ticket was read (ids resolved, unknown values), for the audit log

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketSummary:
        return cls(source=ticket.source, ticket_id=ticket.id, priority=ticket.priority.value,
                   customer=ticket.customer, subject=ticket.subject, notes=tuple(ticket.notes()))


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: int
    source: str
    ticket_id: str
    state: IncidentStatus
    policy_id: str
    round: int
    step: int
    next_action_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    priority: str
    customer: str | None
    subject: str
    version: int
    engine: IncidentState

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        return cls(id=row.id, source=row.source, ticket_id=row.ticket_id,
                   state=IncidentStatus(row.state), policy_id=row.policy_id, round=row.round,
                   step=row.step, next_action_at=row.next_action_at,
                   acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
                   created_at=row.created_at, updated_at=row.updated_at,
                   resolved_at=row.resolved_at, priority=row.priority, customer=row.customer,
                   subject=row.subject, version=row.version,
                   engine=state_from_json(row.engine_state))

    @property
    def exhausted(self) -> bool:
        return self.engine.exhausted

    def to_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id, "source": self.source, "ticket_id": self.ticket_id,
            "state": self.state.value, "policy_id": self.policy_id,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": iso(self.acknowledged_at), "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at), "resolved_at": iso(self.resolved_at),
            "priority": self.priority, "customer": self.customer, "subject": self.subject,
            "round": self.round + 1, "step": self.step + 1,
            "next_action_at": iso(self.next_action_at), "exhausted": self.exhausted,
        }


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    id: int
    incident_id: int
    at: datetime
    actor: str
    channel: str | None
    kind: str
    outcome: str | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "incident_id": self.incident_id, "at": self.at.isoformat(),
                "actor": self.actor, "channel": self.channel, "kind": self.kind,
                "outcome": self.outcome, "reason": self.reason}


def mask_address(address: str) -> str:
    """``+1555…4321`` / ``a…@example.com``: enough to tell numbers apart in a log."""
    if "@" in address:
        user, _, domain = address.partition("@")
        return f"{user[:1]}…@{domain}"
    return f"{address[:5]}…{address[-4:]}" if len(address) > 9 else "…" + address[-2:]


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One notification ledger row (address masked)."""

    id: int
    incident_id: int
    person_id: str
    channel: str
    address: str
    status: str
    purpose: str
    round: int
    step: int
    attempt: int
    short_code: int
    resend_of: int | None
    provider_id: str | None
    error_code: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> LedgerEntry:
        return cls(id=row.id, incident_id=row.incident_id, person_id=row.person_id,
                   channel=row.channel, address=mask_address(row.address), status=row.status,
                   purpose=row.purpose, round=row.round, step=row.step, attempt=row.attempt,
                   short_code=row.short_code, resend_of=row.resend_of,
                   provider_id=row.provider_id, error_code=row.error_code,
                   created_at=row.created_at, updated_at=row.updated_at)

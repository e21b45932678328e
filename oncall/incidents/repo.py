"""Database reads and writes shared by the incident service and the escalation
runner. Every function takes an open connection; the caller owns the transaction.

Incident rows are updated with optimistic locking: an update names the version it
read and fails (returns False) when somebody else wrote in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from oncall.escalation.state import IncidentState, IncidentStatus, Record, state_to_json
from oncall.incidents.model import Incident
from oncall.store.tables import OPEN_STATES, audit, incidents, notifications
from oncall.store.types import as_utc

# Ledger statuses. "held" rows wait for the storm limit; "pending" rows are committed
# with the step and have not reached the transport; "sending" rows were claimed just
# before the transport call, so one found by recovery has an unknown outcome;
# "cancelled" rows were dropped at the claim (their incident was no longer triggered).
HELD, PENDING, SENDING, SENT, DELIVERED, FAILED, UNKNOWN, SUPPRESSED, CANCELLED = (
    "held", "pending", "sending", "sent", "delivered", "failed", "unknown", "suppressed",
    "cancelled")
COUNTS_FOR_LIMIT = (PENDING, SENDING, SENT, DELIVERED, UNKNOWN)


def load(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return Incident.from_row(row) if row else None


def open_for_ticket(conn: Connection, source: str, ticket_id: str) -> Incident | None:
    row = conn.execute(select(incidents).where(and_(
        incidents.c.source == source, incidents.c.ticket_id == ticket_id,
        incidents.c.state.in_(OPEN_STATES)))).first()
    return Incident.from_row(row) if row else None


def save_state(conn: Connection, incident_id: int, version: int, state: IncidentState,
               now: datetime, **extra: Any) -> bool:
    """Write the engine state (and mirrored columns) if ``version`` is still current."""
    values: dict[str, Any] = {
        "engine_state": state_to_json(state), "state": state.status.value,
        "round": state.round, "step": state.step, "next_action_at": state.wake_at(now),
        "updated_at": now, "version": version + 1, **extra,
    }
    if state.status in (IncidentStatus.RESOLVED, IncidentStatus.CANCELLED):
        values.setdefault("resolved_at", now)
    result = conn.execute(update(incidents).where(and_(
        incidents.c.id == incident_id, incidents.c.version == version)).values(**values))
    return result.rowcount == 1


def write_audit(conn: Connection, incident_id: int, at: datetime,
                records: Iterable[Record]) -> None:
    rows = [{"incident_id": incident_id, "at": at, "actor": r.actor, "channel": r.channel,
             "kind": r.kind, "outcome": r.outcome, "reason": r.detail or None}
            for r in records]
    if rows:
        conn.execute(insert(audit), rows)


def codes_in_use(conn: Connection, person_id: str) -> dict[int, int]:
    """incident id → reply code, for the person's open incidents."""
    rows = conn.execute(
        select(notifications.c.incident_id, func.min(notifications.c.short_code))
        .join(incidents, incidents.c.id == notifications.c.incident_id)
        .where(and_(notifications.c.person_id == person_id,
                    incidents.c.state.in_(OPEN_STATES)))
        .group_by(notifications.c.incident_id))
    return {int(i): int(c) for i, c in rows}


def smallest_free_code(used: Iterable[int]) -> int:
    taken = set(used)
    code = 1
    while code in taken:
        code += 1
    return code


def last_queued(conn: Connection, person_id: str, channel: str) -> datetime | None:
    """When a message last went out to this person on this channel (storm limit)."""
    value = conn.execute(select(func.max(notifications.c.queued_at)).where(and_(
        notifications.c.person_id == person_id, notifications.c.channel == channel,
        notifications.c.status.in_(COUNTS_FOR_LIMIT)))).scalar()
    return as_utc(value)

"""Counts over the incidents table for the daemon's gauges and self-check (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from oncall.store.tables import OPEN_STATES, incidents
from oncall.store.types import as_utc


@dataclass(frozen=True, kw_only=True)
class IncidentCounts:
    open: int
    """Triggered or acknowledged."""
    unacknowledged: int
    """Open and acknowledged by nobody."""
    oldest_unacknowledged_at: datetime | None
    """When the oldest of those was created."""


def open_count(engine: Engine) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(select(func.count()).select_from(incidents)
                                  .where(incidents.c.state.in_(OPEN_STATES))).scalar_one()
    return count


def incident_counts(engine: Engine) -> IncidentCounts:
    with engine.connect() as conn:
        open_ = conn.execute(select(func.count()).select_from(incidents)
                             .where(incidents.c.state.in_(OPEN_STATES))).scalar_one()
        unacked, oldest = conn.execute(select(func.count(), func.min(incidents.c.created_at))
                                       .where(incidents.c.state == "triggered")).one()
    return IncidentCounts(open=open_, unacknowledged=unacked, oldest_unacknowledged_at=as_utc(oldest))


def acknowledged_after(engine: Engine, after: datetime) -> list[tuple[datetime, datetime]]:
    """``(created_at, acknowledged_at)`` of every incident acknowledged after ``after``."""
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.created_at, incidents.c.acknowledged_at)
                            .where(incidents.c.acknowledged_at > after)).all()
    return [(created, acked) for created, acked in rows]

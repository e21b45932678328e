"""The response clocks, kept in ``response_clocks`` (one row per open ticket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from oncall.response_clocks.model import Clock, ClockKind, Due
from oncall.store.leases import UNFENCED, Fencing
from oncall.store.tables import response_clocks as table
from oncall.tickets import Priority, Status


def _clock(r: Any) -> Clock:
    due = None if r.due_at is None else Due(target=r.target, due_at=r.due_at, warn_at=r.warn_at,
                                            warn_after_hours=r.warn_after_hours)
    return Clock(source=r.source, ticket_id=r.ticket_id, desk=r.desk, priority=Priority(r.priority),
                 customer=r.customer, kind=ClockKind(r.kind), started_at=r.started_at, due=due,
                 status=Status(r.status), responded_at=r.responded_at, warned_at=r.warned_at,
                 missed_at=r.missed_at)


def _values(c: Clock) -> dict[str, Any]:
    return dict(desk=c.desk, priority=c.priority.value, customer=c.customer, kind=c.kind.value,
                status=c.status.value, started_at=c.started_at, target=c.due.target if c.due else None,
                warn_at=c.due.warn_at if c.due else None, due_at=c.due.due_at if c.due else None,
                warn_after_hours=c.due.warn_after_hours if c.due else None, responded_at=c.responded_at,
                warned_at=c.warned_at, missed_at=c.missed_at)


def _key(source: str, ticket_id: str) -> Any:
    return and_(table.c.source == source, table.c.ticket_id == ticket_id)


class ResponseClocks:
    """Raises ``SQLAlchemyError`` when the database fails."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, conn: Connection, source: str, ticket_id: str) -> Clock | None:
        row = conn.execute(select(table).where(_key(source, ticket_id))).first()
        return None if row is None else _clock(row)

    def put(self, conn: Connection, source: str, ticket_id: str, clock: Clock | None) -> None:
        """Save ``clock`` (None: the ticket has no clock any more)."""
        if clock is None:
            conn.execute(delete(table).where(_key(source, ticket_id)))
        elif conn.execute(update(table).where(_key(source, ticket_id)).values(**_values(clock))).rowcount == 0:
            conn.execute(insert(table).values(source=source, ticket_id=ticket_id, **_values(clock)))

    def running(self, before: datetime | None = None) -> list[Clock]:
        """Clocks not answered yet, with a target; only those warning before ``before`` if given."""
        query = select(table).where(and_(table.c.responded_at.is_(None), table.c.due_at.is_not(None)))
        if before is not None:
            query = query.where(table.c.warn_at <= before)
        with self.engine.connect() as conn:
            return [_clock(r) for r in conn.execute(query.order_by(table.c.due_at))]

    def mark(self, clock: Clock, fence: Fencing = UNFENCED, **at: datetime) -> bool:
        """Record ``warned_at`` or ``missed_at`` once; False when already recorded (another run).
        ``fence``: the response-clocks duty's lease, held in the transaction (raises
        ``LeaseLost``, recording nothing)."""
        (column, value), = at.items()
        fence.ready()
        with self.engine.begin() as conn:
            fence.hold(conn)
            return bool(conn.execute(update(table).where(and_(
                _key(clock.source, clock.ticket_id), table.c[column].is_(None),
                table.c.started_at == clock.started_at)).values({column: value})).rowcount)

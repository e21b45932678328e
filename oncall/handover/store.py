"""The waiting tickets, kept in ``waiting_tickets`` until their desk's hand-over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, tuple_, update

from oncall.handover.model import WaitingTicket, why_not_paged
from oncall.rules import Decision
from oncall.store.leases import UNFENCED, Fencing
from oncall.store.tables import waiting_tickets as table
from oncall.tickets import Priority, Severity, Status, Ticket


def _row(r: Any) -> WaitingTicket:
    return WaitingTicket(
        source=r.source, ticket_id=r.ticket_id, desk=r.desk, priority=Priority(r.priority),
        severity=Severity(r.severity) if r.severity else None, customer=r.customer, subject=r.subject,
        status=Status(r.status), reason=r.reason, rule=r.rule, respond_by=r.respond_by,
        handover_at=r.handover_at, page_policy=r.page_policy, received_at=r.received_at)


class WaitingTickets:
    """Raises ``SQLAlchemyError`` when the database fails."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def keep(self, conn: Connection, changes: Sequence[Kept | Dropped], now: datetime) -> None:
        """What one batch of decided tickets changes, in order, set-based: each :class:`Kept`
        kept for its desk's next opening, or refreshed (a ticket already handed over waits
        again only for a later opening), each :class:`Dropped` dropped, in ``conn`` (the batch's own
        transaction); replaying a batch writes the same rows again."""
        final: dict[tuple[str, str], Kept | Dropped] = {}
        deleted: set[tuple[str, str]] = set()
        for change in changes:
            key = (change.source, change.ticket.id if isinstance(change, Kept) else change.ticket_id)
            if isinstance(change, Dropped) or isinstance(final.get(key), Dropped):
                deleted.add(key)  # dropped, or kept again after a drop: a row of its own
            final[key] = change
        if not final:
            return
        self._keep(conn, final, deleted, now)

    def _keep(self, conn: Connection, final: dict[tuple[str, str], Kept | Dropped], deleted: set[tuple[str, str]],
              now: datetime) -> None:
        key = tuple_(table.c.source, table.c.ticket_id)
        if deleted:
            conn.execute(delete(table).where(key.in_(sorted(deleted))))
        kept = {k: c for k, c in final.items() if isinstance(c, Kept)}
        if not kept:
            return
        found = {} if set(kept) <= deleted else {
            (r.source, r.ticket_id): r for r in conn.execute(
                select(table.c.source, table.c.ticket_id, table.c.handed_over_at, table.c.handover_at)
                .where(key.in_(sorted(set(kept) - deleted))))}
        new: list[dict[str, Any]] = []
        for k, c in kept.items():
            values = _values(c.ticket, c.decision, c.reason, now)
            row = found.get(k)
            if row is None:
                new.append({"source": c.source, "ticket_id": c.ticket.id, "received_at": now, **values})
            elif row.handed_over_at is None or row.handover_at < c.decision.handover_at:
                conn.execute(update(table).where(and_(table.c.source == k[0], table.c.ticket_id == k[1]))
                             .values(handed_over_at=None, **values))
        if new:
            conn.execute(_INSERT_KEPT, new)

    def drop(self, source: str, ticket_id: str, fence: Fencing = UNFENCED) -> bool:
        """The ticket was closed, or it paged: it no longer waits. ``fence``: the hand-over
        duty's lease, held in the transaction (raises ``LeaseLost``, deleting nothing)."""
        fence.ready()
        with self.engine.begin() as conn:
            fence.hold(conn)
            return bool(conn.execute(delete(table).where(and_(
                table.c.source == source, table.c.ticket_id == ticket_id))).rowcount)

    def due(self, now: datetime) -> list[WaitingTicket]:
        """Tickets whose desk has opened since they were kept, not yet handed over."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(and_(
                table.c.handed_over_at.is_(None), table.c.handover_at <= now)).order_by(table.c.received_at))
            return [_row(r) for r in rows]

    def waiting(self) -> list[WaitingTicket]:
        """Every ticket not yet handed over."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.handed_over_at.is_(None)).order_by(table.c.received_at))
            return [_row(r) for r in rows]

    def handed_over(self, tickets: list[WaitingTicket], now: datetime,
                    fence: Fencing = UNFENCED) -> list[WaitingTicket]:
        """Mark these handed over; those another instance marked first are left out of the result.
        ``fence``: the hand-over duty's lease, held in the transaction (raises ``LeaseLost``,
        marking nothing)."""
        done: list[WaitingTicket] = []
        fence.ready()
        with self.engine.begin() as conn:
            fence.hold(conn)
            for t in tickets:
                if conn.execute(update(table).where(and_(
                        table.c.source == t.source, table.c.ticket_id == t.ticket_id,
                        table.c.handed_over_at.is_(None))).values(handed_over_at=now)).rowcount:
                    done.append(t)
        return done


@dataclass(frozen=True)
class Kept:
    """A ticket that did not page, to be kept for its desk's next opening (:meth:`WaitingTickets.keep`)."""

    source: str
    ticket: Ticket
    decision: Decision
    reason: str | None = None


@dataclass(frozen=True)
class Dropped:
    """A ticket that paged or was closed: it no longer waits (:meth:`WaitingTickets.keep`)."""

    source: str
    ticket_id: str


# One statement for the batch's new rows (RETURNING: not a pipelined executemany on PostgreSQL,
# whose idle-in-transaction limit would not run after it — see oncall.store.claims.bound_idleness).
_INSERT_KEPT = insert(table).returning(table.c.ticket_id)


def _values(ticket: Ticket, decision: Decision, reason: str | None, now: datetime) -> dict[str, Any]:
    assert decision.handover_at is not None
    return dict(desk=decision.desk, priority=ticket.priority.value,
                severity=ticket.severity.value if ticket.severity else None, customer=ticket.customer,
                subject=ticket.subject[:2000], status=ticket.status.value,
                reason=(reason or why_not_paged(decision))[:2000],
                rule=decision.rule, respond_by=decision.respond_by, handover_at=decision.handover_at,
                page_policy=decision.page_at_opening, updated_at=now)

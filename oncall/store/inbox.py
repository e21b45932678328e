"""The ticket inbox and poller cursors.

A webhook stores the ticket here (idempotent on source + event key) and only then
answers 2xx; a worker processes unprocessed rows afterwards. A crash in between
loses nothing: the row is still unprocessed at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from oncall.store.tables import cursors, ticket_events


@dataclass(frozen=True, kw_only=True)
class InboxItem:
    id: int
    source: str
    ticket_id: str
    event_key: str
    received_at: datetime
    ticket_json: dict[str, Any]
    processed_at: datetime | None
    outcome: str | None


def _item(row: Any) -> InboxItem:
    return InboxItem(id=row.id, source=row.source, ticket_id=row.ticket_id,
                     event_key=row.event_key, received_at=row.received_at,
                     ticket_json=row.ticket_json, processed_at=row.processed_at,
                     outcome=row.outcome)


class Inbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def receive(self, source: str, event_key: str, ticket_json: dict[str, Any],
                received_at: datetime) -> tuple[int, bool]:
        """Store a ticket event durably. Returns (row id, True) the first time and
        (existing row id, False) for a repeat of the same (source, event_key)."""
        ticket_id = str(ticket_json.get("id", ""))
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(insert(ticket_events).values(
                    source=source, ticket_id=ticket_id, event_key=event_key,
                    received_at=received_at, ticket_json=ticket_json,
                ).returning(ticket_events.c.id)).scalar_one()
            return int(new_id), True
        except IntegrityError:
            with self.engine.connect() as conn:
                old = conn.execute(select(ticket_events.c.id).where(and_(
                    ticket_events.c.source == source,
                    ticket_events.c.event_key == event_key))).scalar_one()
            return int(old), False

    def receive_many(self, events: list[tuple[str, str, dict[str, Any], datetime]]) -> list[bool]:
        """Store several ticket events in one transaction (group commit); for each, True when
        it is new, False for a repeat (already stored, or earlier in the same list)."""
        keys = {(src, key) for src, key, _, _ in events}
        with self.engine.begin() as conn:
            existing: set[tuple[str, str]] = set()
            for src in {src for src, _ in keys}:
                wanted = [key for s2, key in keys if s2 == src]
                existing |= {(src, k) for (k,) in conn.execute(select(ticket_events.c.event_key).where(and_(
                    ticket_events.c.source == src, ticket_events.c.event_key.in_(wanted))))}
            fresh: list[bool] = []
            rows: list[dict[str, Any]] = []
            for src, key, ticket_json, received_at in events:
                new = (src, key) not in existing
                fresh.append(new)
                if new:
                    existing.add((src, key))
                    rows.append({"source": src, "ticket_id": str(ticket_json.get("id", "")), "event_key": key,
                                 "received_at": received_at, "ticket_json": ticket_json})
            if rows:
                conn.execute(insert(ticket_events), rows)
        return fresh

    def unprocessed(self, limit: int = 100) -> list[InboxItem]:
        """Oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(ticket_events).where(
                ticket_events.c.processed_at.is_(None)).order_by(ticket_events.c.id).limit(limit))
            return [_item(r) for r in rows]

    def mark_processed(self, item_id: int, outcome: str, at: datetime) -> None:
        self.mark_many([(item_id, outcome)], at)

    def mark_many(self, outcomes: list[tuple[int, str]], at: datetime) -> None:
        """Mark several events processed in one transaction."""
        if not outcomes:
            return
        with self.engine.begin() as conn:
            conn.execute(update(ticket_events).where(ticket_events.c.id == bindparam("item_id")).values(
                processed_at=at, outcome=bindparam("item_outcome")),
                [{"item_id": i, "item_outcome": o} for i, o in outcomes])

    def last_ticket_state(self, source: str, ticket_id: str, *,
                          before_id: int | None = None) -> dict[str, Any] | None:
        """The ticket JSON of the latest *processed* event for this ticket (optionally
        only events older than ``before_id``): what the lifecycle rules compare with
        (previous priority, severity, status, updated_at). None when there is none."""
        query = select(ticket_events.c.ticket_json).where(and_(
            ticket_events.c.source == source, ticket_events.c.ticket_id == ticket_id,
            ticket_events.c.processed_at.is_not(None)))
        if before_id is not None:
            query = query.where(ticket_events.c.id < before_id)
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(ticket_events.c.id.desc()).limit(1)).first()
        return dict(found.ticket_json) if found else None


    def last_states(self, tickets: set[tuple[str, str]], *, before_id: int) -> dict[tuple[str, str], dict[str, Any]]:
        """:meth:`last_ticket_state` for many tickets in one query (a batch of the intake)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if not tickets:
            return found
        latest = (select(func.max(ticket_events.c.id)).where(and_(
            ticket_events.c.processed_at.is_not(None), ticket_events.c.id < before_id,
            tuple_(ticket_events.c.source, ticket_events.c.ticket_id).in_(sorted(tickets))))
            .group_by(ticket_events.c.source, ticket_events.c.ticket_id))
        with self.engine.connect() as conn:
            for row in conn.execute(select(ticket_events.c.source, ticket_events.c.ticket_id,
                                           ticket_events.c.ticket_json).where(ticket_events.c.id.in_(latest))):
                found[(row.source, row.ticket_id)] = dict(row.ticket_json)
        return found


def get_cursor(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(select(cursors.c.value).where(cursors.c.name == name)).first()
    return str(value[0]) if value else None


def set_cursor(engine: Engine, name: str, value: str, at: datetime) -> None:
    """Insert or replace; portable (no dialect-specific upsert)."""
    with engine.begin() as conn:
        changed = conn.execute(update(cursors).where(cursors.c.name == name).values(
            value=value, updated_at=at)).rowcount
        if not changed:
            conn.execute(insert(cursors).values(name=name, value=value, updated_at=at))

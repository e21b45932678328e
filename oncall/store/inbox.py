"""The ticket inbox and poller cursors.

A webhook stores the ticket here (idempotent on source + event key) and only then
answers 2xx; a worker processes unprocessed rows afterwards. A crash in between
loses nothing: the row is still unprocessed at start-up.

Workers take stored events in batches with :meth:`Inbox.claim`. On PostgreSQL, where
several instances share the inbox, a batch is claimed with ``FOR UPDATE SKIP LOCKED`` in a
transaction that lasts while it is processed: what the batch changes (incidents opened,
paging cancelled) commits with the events marked processed, or not at all — a worker
that dies or freezes (the transaction is ended after ``claim_idle`` of silence)
leaves its events to the others, and nothing it does afterwards commits. The events of
one ticket are processed in order: a batch leaves out any event whose ticket has an
earlier event held by another worker, and after its commit takes those up again, waiting
(at most :data:`FOLLOW_UP_WAIT`) for the earlier ones to be done. On SQLite, one instance,
a batch is a plain read and each change commits as it is made (a crash replays the
events, and processing is idempotent).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError

from oncall.store.claims import bound_idleness, bounded, millis, shares_work
from oncall.store.tables import cursors, ticket_events

# A claimed batch whose worker stays silent this long goes back to the others (the daemon passes
# ONCALL_FAILOVER_SECONDS). A batch that waits on helpdesk look-ups says it is alive meanwhile.
CLAIM_IDLE = timedelta(seconds=15)
FOLLOW_UP_WAIT = timedelta(seconds=2)  # waiting for another worker's earlier events of the same tickets
LOCK_NOT_AVAILABLE = "55P03"


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
    def __init__(self, engine: Engine, *, claim_idle: timedelta = CLAIM_IDLE) -> None:
        self.engine = engine
        self.claim_idle = claim_idle

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
            rows = conn.execute(_UNPROCESSED, {"b_limit": limit})
            return [_item(r) for r in rows]

    @contextmanager
    def claim(self, limit: int, *, tickets: set[tuple[str, str]] | None = None) -> Iterator[InboxClaim]:
        """At most ``limit`` unprocessed events, oldest first, claimed for this worker until
        the block ends (see the module docstring), each with its ticket's version before it;
        ``tickets`` limits them to those tickets and waits for events another worker holds
        instead of passing over them (a follow-up of :attr:`InboxClaim.deferred`). On
        PostgreSQL what is written through :attr:`InboxClaim.connection` and
        :meth:`InboxClaim.mark` commits when the block ends without an exception."""
        if not shares_work(self.engine):
            with self.engine.connect() as conn:
                query = _CLAIM_LOCAL if tickets is None else _claim_query(tickets, lock=False)
                rows = conn.execute(query, {"b_limit": limit}).all()
            items, previous = _batch(rows)
            yield InboxClaim(self, items, None, set(), previous)
            return
        with self.engine.connect() as conn, conn.begin():
            if tickets is None:
                # The claim sets its own time limit in the same round trip (see bound_idleness).
                rows = conn.execute(_CLAIM_SHARED, {"b_limit": limit, "b_idle": millis(self.claim_idle)}).all()
            else:
                bound_idleness(conn, self.claim_idle)
                conn.execute(text(f"SET LOCAL lock_timeout = {millis(FOLLOW_UP_WAIT)}"))
                try:
                    with conn.begin_nested():
                        rows = conn.execute(_claim_query(tickets, lock=True), {"b_limit": limit}).all()
                except OperationalError as exc:
                    if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                        raise
                    rows = []  # still held: the holder's next batch, or anyone's next wake, takes them
            kept, deferred = _in_ticket_order(rows)
            items, previous = _batch(kept)
            yield InboxClaim(self, items, conn, deferred, previous)

    def mark_processed(self, item_id: int, outcome: str, at: datetime) -> None:
        self.mark_many([(item_id, outcome)], at)

    def mark_many(self, outcomes: list[tuple[int, str]], at: datetime) -> None:
        """Mark several events processed in one transaction."""
        if not outcomes:
            return
        with self.engine.begin() as conn:
            _mark(conn, outcomes, at)

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


    def last_states(self, tickets: set[tuple[str, str]], *, before_id: int,
                    conn: Connection | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """:meth:`last_ticket_state` for many tickets in one query (a batch of the intake),
        through ``conn`` when given; each ticket's own events only, through its index."""
        if not tickets:
            return {}
        params = {"b_sources": sorted({s for s, _ in tickets}), "b_tickets": sorted({t for _, t in tickets}),
                  "b_before": before_id}
        if conn is not None:
            rows = conn.execute(_LAST_STATES, params).all()
        else:
            with self.engine.connect() as own:
                rows = own.execute(_LAST_STATES, params).all()
        return {(r.source, r.ticket_id): dict(r.ticket_json) for r in rows if (r.source, r.ticket_id) in tickets}


_LAST_STATES = select(ticket_events.c.source, ticket_events.c.ticket_id, ticket_events.c.ticket_json).where(
    ticket_events.c.id.in_(
        select(func.max(ticket_events.c.id)).where(and_(
            ticket_events.c.source.in_(bindparam("b_sources", expanding=True)),
            ticket_events.c.ticket_id.in_(bindparam("b_tickets", expanding=True)),
            ticket_events.c.processed_at.is_not(None), ticket_events.c.id < bindparam("b_before")))
        .group_by(ticket_events.c.source, ticket_events.c.ticket_id)))


class InboxClaim:
    """A batch of stored events this worker holds (:meth:`Inbox.claim`). ``items`` are
    oldest first; ``previous`` holds their tickets' last processed versions
    (:meth:`Inbox.last_states`); ``deferred`` names the tickets with events left out because
    another worker holds an earlier one (always empty on SQLite). ``connection`` is the
    claim's own transaction on PostgreSQL, None on SQLite."""

    def __init__(self, inbox: Inbox, items: list[InboxItem], connection: Connection | None,
                 deferred: set[tuple[str, str]], previous: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.inbox = inbox
        self.items = items
        self.connection = connection
        self.deferred = deferred
        self.previous = previous
        self._heard = time.monotonic()

    def alive(self) -> None:
        """Say the batch is still being worked on (before a wait outside the database, such as
        a helpdesk look-up), so a slow look-up is not taken for a frozen worker: a statement
        once a third of ``claim_idle`` has gone by without one. A no-op on SQLite."""
        if self.connection is not None and time.monotonic() - self._heard > self.inbox.claim_idle.total_seconds() / 3:
            self.connection.execute(_ALIVE)
            self._heard = time.monotonic()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """The transaction the batch's changes and marks are written in, committed when the
        block ends without an exception: on PostgreSQL the claim's own; on SQLite one begun
        here — after the batch was judged, so the file's one write lock is not held while
        tickets are decided or a helpdesk is asked."""
        if self.connection is not None:
            yield self.connection
            return
        with self.inbox.engine.begin() as conn:
            yield conn

    def mark(self, conn: Connection, outcomes: list[tuple[int, str]], at: datetime) -> None:
        """The batch's events processed, in :meth:`writing`'s transaction ``conn``."""
        if outcomes:
            _mark(conn, outcomes, at)


_ALIVE = text("SELECT 1")
_UNPROCESSED = (select(ticket_events).where(ticket_events.c.processed_at.is_(None))
                .order_by(ticket_events.c.id).limit(bindparam("b_limit")))


def _claim_query(tickets: set[tuple[str, str]] | None, *, lock: bool, idle: bool = False) -> Select[Any]:
    """Unprocessed events, oldest first, each with ``waits_for`` — the latest unprocessed
    event of its ticket before it, if any — and ``previous_json`` — its ticket's latest
    processed version before it —, through each ticket's own index. ``lock``: claimed
    (``FOR UPDATE``, passing over rows another worker holds unless ``tickets`` are named);
    ``idle``: the claim also bounds its transaction's silence (``b_idle`` ms, see
    :func:`oncall.store.claims.bound_idleness`)."""
    older, before = ticket_events.alias("older"), ticket_events.alias("before")

    def same(t: Any) -> Any:  # an event of the same ticket, before this one
        return and_(t.c.source == ticket_events.c.source, t.c.ticket_id == ticket_events.c.ticket_id,
                    t.c.id < ticket_events.c.id)

    waits_for = select(func.max(older.c.id)).where(and_(same(older), older.c.processed_at.is_(None)))
    previous = (select(before.c.ticket_json).where(and_(same(before), before.c.processed_at.is_not(None)))
                .order_by(before.c.id.desc()).limit(1))
    columns: list[Any] = [ticket_events, waits_for.scalar_subquery().label("waits_for"),
                          previous.scalar_subquery().label("previous_json")]
    query = select(*columns).where(ticket_events.c.processed_at.is_(None))
    if tickets is not None:
        query = query.where(tuple_(ticket_events.c.source, ticket_events.c.ticket_id).in_(sorted(tickets)))
    query = bounded(query.order_by(ticket_events.c.id).limit(bindparam("b_limit")), idle)
    return query.with_for_update(of=ticket_events, skip_locked=tickets is None) if lock else query


_CLAIM_LOCAL = _claim_query(None, lock=False)
_CLAIM_SHARED = _claim_query(None, lock=True, idle=True)


def _batch(rows: Sequence[Any]) -> tuple[list[InboxItem], dict[tuple[str, str], dict[str, Any]]]:
    """The claimed rows as items, and each ticket's version before its first one."""
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.source, row.ticket_id)
        if key not in seen and row.previous_json is not None:
            previous[key] = dict(row.previous_json)
        seen.add(key)
    return [_item(r) for r in rows], previous


def _in_ticket_order(rows: Sequence[Any]) -> tuple[list[Any], set[tuple[str, str]]]:
    """``rows`` without those whose ticket has an earlier unprocessed event outside them (held
    by another worker, which must finish it first) — and without the later rows of such a
    ticket —, and the tickets concerned."""
    ours = {r.id for r in rows}
    blocked: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        key = (row.source, row.ticket_id)
        if key in blocked or (row.waits_for is not None and row.waits_for not in ours):
            blocked.add(key)
        else:
            kept.append(row)
    return kept, blocked


_MARK = update(ticket_events).where(ticket_events.c.id == bindparam("item_id")).values(
    processed_at=bindparam("item_at"), outcome=bindparam("item_outcome"))


def _mark(conn: Connection, outcomes: list[tuple[int, str]], at: datetime) -> None:
    conn.execute(_MARK, [{"item_id": i, "item_outcome": o, "item_at": at} for i, o in outcomes])


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

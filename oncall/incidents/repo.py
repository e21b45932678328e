"""Database reads and writes shared by the incident service and the escalation
runner. Every function takes an open connection; the caller owns the transaction.

Incident rows are updated with optimistic locking: an update names the version it
read and fails (returns False) when somebody else wrote in between.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, insert, literal, select, text, union_all, update

from oncall.escalation.state import IncidentState, IncidentStatus, Record, state_to_json
from oncall.incidents.model import Incident
from oncall.store.tables import IS_OPEN, audit, incidents, notifications, reply_codes
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
        incidents.c.source == source, incidents.c.ticket_id == ticket_id, IS_OPEN))).first()
    return Incident.from_row(row) if row else None


def open_for_tickets(conn: Connection, tickets: set[tuple[str, str]]) -> dict[tuple[str, str], Incident]:
    """:func:`open_for_ticket` for many tickets in one query, through the open-ticket index
    (its cost does not grow with the number of open incidents)."""
    if not tickets:
        return {}
    rows = conn.execute(_OPEN_FOR_TICKETS, {"b_sources": sorted({s for s, _ in tickets}),
                                            "b_tickets": sorted({t for _, t in tickets})})
    return {(r.source, r.ticket_id): Incident.from_row(r) for r in rows if (r.source, r.ticket_id) in tickets}


_OPEN_FOR_TICKETS = select(incidents).where(and_(
    incidents.c.source.in_(bindparam("b_sources", expanding=True)),
    incidents.c.ticket_id.in_(bindparam("b_tickets", expanding=True)), IS_OPEN))


CLOSED = (IncidentStatus.RESOLVED, IncidentStatus.CANCELLED)


def save_state(conn: Connection, incident_id: int, version: int, state: IncidentState,
               now: datetime, **extra: Any) -> bool:
    """Write the engine state (and mirrored columns) if ``version`` is still current."""
    values: dict[str, Any] = {
        "engine_state": state_to_json(state), "state": state.status.value,
        "round": state.round, "step": state.step, "next_action_at": state.wake_at(now),
        "updated_at": now, "version": version + 1, **extra,
    }
    if state.status in CLOSED:
        values.setdefault("resolved_at", now)
    elif state.status is IncidentStatus.TRIGGERED:  # escalated by hand, or an acknowledgement timed out
        values.update(acknowledged_by=None, acknowledged_at=None)  # nobody owns it any more
    result = conn.execute(update(incidents).where(and_(
        incidents.c.id == incident_id, incidents.c.version == version)).values(**values))
    if result.rowcount != 1:
        return False
    if state.status in CLOSED:
        free_codes(conn, [incident_id])
    return True


_SAVE_STEPPED = (
    update(incidents)
    .where(and_(incidents.c.id == bindparam("b_id"), incidents.c.version == bindparam("b_version")))
    .values(engine_state=bindparam("b_engine_state"), state=bindparam("b_state"), round=bindparam("b_round"),
            step=bindparam("b_step"), next_action_at=bindparam("b_next_action_at"),
            updated_at=bindparam("b_updated_at"), version=incidents.c.version + 1,
            # back to triggered (an acknowledgement timed out): nobody owns it any more
            acknowledged_by=case((bindparam("b_state") == "triggered", None), else_=incidents.c.acknowledged_by),
            acknowledged_at=case((bindparam("b_state") == "triggered", None), else_=incidents.c.acknowledged_at))
)


def save_states(conn: Connection, saves: Sequence[tuple[int, int, IncidentState]], now: datetime) -> None:
    """:func:`save_state` for many incidents in one statement — for rows the caller has
    claimed (locked on PostgreSQL, under the write lock on SQLite), so no version can have
    moved since they were read; a moved one raises :class:`StaleRows` (roll back)."""
    if not saves:
        return
    result = conn.execute(_SAVE_STEPPED, [{
        "b_id": incident_id, "b_version": version, "b_engine_state": state_to_json(state),
        "b_state": state.status.value, "b_round": state.round, "b_step": state.step,
        "b_next_action_at": state.wake_at(now), "b_updated_at": now} for incident_id, version, state in saves])
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount not in (-1, len(saves)):
        raise StaleRows(f"{len(saves) - result.rowcount} of {len(saves)} claimed incidents changed underneath")
    closed = [incident_id for incident_id, _, state in saves if state.status in CLOSED]
    if closed:
        conn.execute(update(incidents).where(incidents.c.id.in_(closed)).values(resolved_at=now))
        free_codes(conn, closed)


class StaleRows(RuntimeError):
    """Rows a worker claimed were changed by someone else: a bug in the claim, never expected."""


def audit_rows(incident_id: int, at: datetime, records: Iterable[Record]) -> list[dict[str, Any]]:
    return [{"incident_id": incident_id, "at": at, "actor": r.actor, "channel": r.channel,
             "kind": r.kind, "outcome": r.outcome, "reason": r.detail or None}
            for r in records]


def write_audit(conn: Connection, incident_id: int, at: datetime,
                records: Iterable[Record]) -> None:
    insert_audit(conn, audit_rows(incident_id, at, records))


# Rows are inserted with RETURNING, which makes SQLAlchemy write them in one multi-row statement
# rather than a pipelined executemany on PostgreSQL — after which the server does not time an
# idle transaction (idle_in_transaction_session_timeout) until the next statement, and a worker
# frozen there would hold its locks (see oncall.store.claims.bound_idleness).
_INSERT_AUDIT = insert(audit).returning(audit.c.id)


def insert_audit(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Audit rows of any number of incidents (:func:`audit_rows`), in one statement."""
    if rows:
        conn.execute(_INSERT_AUDIT, rows)


# ---- reply codes --------------------------------------------------------------------------

_CODES_OF = select(reply_codes.c.person_id, reply_codes.c.incident_id, reply_codes.c.code).where(
    reply_codes.c.incident_id.in_(bindparam("b_incidents", expanding=True)))
_FREE = reply_codes.c.incident_id.is_(None)
_FREE_AND_TOP = union_all(
    select(literal(0).label("top"), select(reply_codes.c.code).where(and_(
        reply_codes.c.person_id == bindparam("b_person"), _FREE)).order_by(reply_codes.c.code)
        .limit(bindparam("b_count")).subquery().c.code),
    select(literal(1).label("top"), func.max(reply_codes.c.code)).where(
        reply_codes.c.person_id == bindparam("b_person")))
_TAKE_CODE = update(reply_codes).where(and_(
    reply_codes.c.person_id == bindparam("b_person"), reply_codes.c.code == bindparam("b_code"))).values(
    incident_id=bindparam("b_incident"))
_NEW_CODE = insert(reply_codes).returning(reply_codes.c.code)
_RELEASE = update(reply_codes).where(reply_codes.c.incident_id.in_(bindparam("b_incidents", expanding=True))).values(
    incident_id=None)


def reply_codes_for(conn: Connection, wanted: dict[str, list[int]], *,
                    never_paged: Collection[int] = ()) -> dict[tuple[str, int], int]:
    """(person, incident) → the person's reply code for that incident, for every person and
    incident in ``wanted``: the code they already have, else the smallest one not held by
    another of their open incidents (taken now). ``never_paged`` incidents (their first step)
    hold no code yet, so they are not looked up. Index look-ups only — no scan of anybody's
    open incidents. On PostgreSQL the caller holds the people's locks
    (:func:`oncall.store.claims.lock_people`), so two workers never hand out one code twice."""
    known = sorted({i for ids in wanted.values() for i in ids} - set(never_paged))
    codes = {} if not known else {
        (person, int(incident)): int(code) for person, incident, code
        in conn.execute(_CODES_OF, {"b_incidents": known}) if person in wanted}
    for person, ids in wanted.items():
        need = [i for i in dict.fromkeys(ids) if (person, i) not in codes]
        if not need:
            continue
        free: list[int] = []
        top = 0
        for is_top, code in conn.execute(_FREE_AND_TOP, {"b_person": person, "b_count": len(need)}):
            if is_top:
                top = int(code or 0)
            else:
                free.append(int(code))
        reused = list(zip(need, sorted(free), strict=False))
        fresh = need[len(reused):]
        if reused:
            conn.execute(_TAKE_CODE, [{"b_person": person, "b_code": code, "b_incident": incident}
                                      for incident, code in reused])
        if fresh:
            reused += [(incident, top + n) for n, incident in enumerate(fresh, start=1)]
            conn.execute(_NEW_CODE, [{"person_id": person, "code": top + n, "incident_id": incident}
                                     for n, incident in enumerate(fresh, start=1)])
        codes.update(((person, incident), code) for incident, code in reused)
    return codes


def free_codes(conn: Connection, incident_ids: Sequence[int]) -> None:
    """The incidents closed: their reply codes go back to their people."""
    conn.execute(_RELEASE, {"b_incidents": list(incident_ids)})


# ---- incident ids and the storm limit -----------------------------------------------------

_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, :n)")
_TOP_ID = select(func.max(incidents.c.id))


def new_incident_ids(conn: Connection, count: int) -> list[int]:
    """Ids for ``count`` incidents about to be inserted, so their rows (and the engine state
    that names them) are written once, without reading them back. PostgreSQL draws them from
    the table's sequence; on SQLite the caller holds the write lock, so the next ids after
    the largest are free."""
    if conn.dialect.name == "postgresql":
        return [int(i) for i in conn.execute(_NEXT_IDS, {"n": count}).scalars()]
    top = int(conn.execute(_TOP_ID).scalar() or 0)
    return list(range(top + 1, top + count + 1))


_LAST_QUEUED = (select(notifications.c.queued_at)
                .where(and_(notifications.c.person_id == bindparam("b_person"),
                            notifications.c.channel == bindparam("b_channel"),
                            notifications.c.queued_at.is_not(None),
                            notifications.c.status.in_(COUNTS_FOR_LIMIT)))
                .order_by(notifications.c.queued_at.desc()).limit(1))


def last_queued(conn: Connection, person_id: str, channel: str) -> datetime | None:
    """When a message last went out to this person on this channel (storm limit): the newest
    entry of the person's index that counts, not a scan of their history."""
    value = conn.execute(_LAST_QUEUED, {"b_person": person_id, "b_channel": channel}).scalar()
    return as_utc(value)

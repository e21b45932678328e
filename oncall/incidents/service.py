"""The incident API: what the CLI, the HTTP layer and the Twilio webhooks call.

Every operation commits before it returns; ack and resolve take effect at once
(the runner never pages for an incident that is no longer triggered), escalate
makes the next step due now. ``on_change`` is called after each change so the
daemon can run the escalation runner straight away instead of at its next tick.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from oncall import logs
from oncall.errors import IncidentError, NoSuchIncident, UnknownActor
from oncall.escalation.directory import Directory
from oncall.escalation.engine import transition
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.runner import feed_failure
from oncall.escalation.state import (
    Ack,
    Cancel,
    DeliveryFailed,
    Escalate,
    IncidentStatus,
    Record,
    Resolve,
    new_state,
    state_from_json,
    state_to_json,
)
from oncall.incidents import repo
from oncall.incidents.model import AuditEntry, Incident, LedgerEntry, TicketSummary
from oncall.interfaces import Channel
from oncall.store.tables import OPEN_STATES, audit, incidents, notifications

# Twilio status words (SMS MessageStatus, voice CallStatus / AnsweredBy=machine).
FAILED_STATUSES = frozenset({"failed", "undelivered", "no-answer", "busy", "canceled", "machine"})
DELIVERED_STATUSES = frozenset({"delivered", "completed", "read", "answered"})
SYSTEM_ACTORS = frozenset({"oncall", "ticket"})

log = logs.get("oncall.incidents")


class IncidentService:
    def __init__(self, engine: Engine | _InTransaction, directory: Callable[[], Directory], *,
                 on_change: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.directory = directory
        self.on_change = on_change or (lambda: None)

    # ---- lifecycle ----------------------------------------------------------------

    def open_or_update(self, ticket: TicketSummary, policy_id: str, now: datetime) -> Incident:
        """The open incident for this ticket, created (and due at once) if there is none."""
        return self.open_many([(ticket, policy_id)], now)[0]

    def open_many(self, requests: list[tuple[TicketSummary, str]], now: datetime) -> builtins.list[Incident]:
        """:meth:`open_or_update` for several tickets in one transaction (one commit for a
        batch of the intake). Raises IncidentError (nothing changed) for an unknown policy."""
        try:
            with self.engine.begin() as conn:
                found = self.open_many_in(conn, requests, now)
        except IntegrityError:
            # Another writer opened one between our read and insert: take theirs.
            if len(requests) > 1:
                return [self.open_or_update(t, p, now) for t, p in requests]
            with self.engine.begin() as conn:
                existing = repo.open_for_ticket(conn, requests[0][0].source, requests[0][0].ticket_id)
            if existing is None:
                raise
            return [existing]
        if any(created for _, created in found):
            self.on_change()
        return [incident for incident, _ in found]

    def open_many_in(self, conn: Connection, requests: list[tuple[TicketSummary, str]],
                     now: datetime) -> builtins.list[tuple[Incident, bool]]:
        """The work of :meth:`open_many` in the caller's transaction, set-based: one read of
        the tickets' open incidents, then the new incidents, their engine state and their
        audit rows written in one statement each, and nothing read back. Returns each
        request's incident and whether it was created. Raises IncidentError (before writing
        anything) for an unknown policy."""
        policies: dict[str, EscalationPolicy] = {}
        for _ticket, policy_id in requests:
            if policy_id not in policies:
                policy = self.directory().policy(policy_id)
                if policy is None:
                    raise IncidentError(f"unknown escalation policy {policy_id!r}")
                policies[policy_id] = policy
        current = repo.open_for_tickets(conn, {(t.source, t.ticket_id) for t, _ in requests})
        results: builtins.list[tuple[Incident, bool] | None] = []
        fresh: builtins.list[tuple[int, TicketSummary, EscalationPolicy]] = []  # (index in results, …)
        later: builtins.list[tuple[int, TicketSummary]] = []  # a ticket opened earlier in this batch
        pending: set[tuple[str, str]] = set()
        updates: builtins.list[tuple[Incident, dict[str, str | None]]] = []
        for ticket, policy_id in requests:
            key = (ticket.source, ticket.ticket_id)
            if key in pending:
                later.append((len(results), ticket))
                results.append(None)
            elif key in current:
                inc, changes = _summary_changes(current[key], ticket, now)
                if changes:
                    updates.append((inc, changes))
                current[key] = inc
                results.append((inc, False))
            else:
                pending.add(key)
                fresh.append((len(results), ticket, policies[policy_id]))
                results.append(None)
        audit_rows: builtins.list[dict[str, Any]] = []
        if fresh:
            created = self._insert_many(conn, [(t, p) for _, t, p in fresh], now)
            for (index, ticket, policy), inc in zip(fresh, created, strict=True):
                results[index] = (inc, True)
                current[(ticket.source, ticket.ticket_id)] = inc
                audit_rows += repo.audit_rows(inc.id, now, [Record(
                    kind="triggered", actor="ticket",
                    detail=f"{ticket.source} ticket {ticket.ticket_id}, policy {policy.id}")] + [
                    Record(kind="ticket_read", actor="ticket", detail=note) for note in ticket.notes])
        for index, ticket in later:  # the same ticket again in one batch: as if one after the other
            inc, changes = _summary_changes(current[(ticket.source, ticket.ticket_id)], ticket, now)
            if changes:
                updates.append((inc, changes))
            current[(ticket.source, ticket.ticket_id)] = inc
            results[index] = (inc, False)
        for inc, changes in updates:
            conn.execute(update(incidents).where(incidents.c.id == inc.id).values(
                updated_at=now, version=incidents.c.version + 1, **changes))
            audit_rows += repo.audit_rows(inc.id, now, [Record(
                kind="updated", actor="ticket", detail=", ".join(sorted(changes)))])
        repo.insert_audit(conn, audit_rows)
        done = [r for r in results if r is not None]
        assert len(done) == len(requests)
        return done

    def _insert_many(self, conn: Connection, tickets: builtins.list[tuple[TicketSummary, EscalationPolicy]],
                     now: datetime) -> builtins.list[Incident]:
        """New incidents, due at once: ids drawn first, so each row is written once."""
        at = now.astimezone(UTC)
        ids = repo.new_incident_ids(conn, len(tickets))
        dumped: dict[str, dict[str, Any]] = {}
        rows: builtins.list[dict[str, Any]] = []
        made: builtins.list[Incident] = []
        for incident_id, (ticket, policy) in zip(ids, tickets, strict=True):
            state = new_state(incident_id, now)
            rows.append({
                "id": incident_id, "source": ticket.source, "ticket_id": ticket.ticket_id, "state": "triggered",
                "policy_id": policy.id,
                "policy_json": dumped.setdefault(policy.id, policy.model_dump(mode="json")),
                "engine_state": state_to_json(state), "round": 0, "step": -1, "next_action_at": now,
                "created_at": now, "updated_at": now, "priority": ticket.priority,
                "customer": ticket.customer, "subject": ticket.subject, "version": 1})
            made.append(Incident(
                id=incident_id, source=ticket.source, ticket_id=ticket.ticket_id, state=IncidentStatus.TRIGGERED,
                policy_id=policy.id, round=0, step=-1, next_action_at=at, acknowledged_by=None,
                acknowledged_at=None, created_at=at, updated_at=at, resolved_at=None, priority=ticket.priority,
                customer=ticket.customer, subject=ticket.subject, version=1,
                engine=state_from_json(rows[-1]["engine_state"])))
        conn.execute(_INSERT_INCIDENTS, rows)
        return made

    def within(self, conn: Connection) -> IncidentService:
        """This service working inside ``conn``'s transaction (the intake's claim of a batch on
        PostgreSQL): what it writes commits with the caller's transaction or not at all — a
        database error ends the whole batch, to be taken again — and ``on_change`` is left to
        the caller, after its commit."""
        return IncidentService(_InTransaction(conn), self.directory)

    def cancel_for_ticket(self, source: str, ticket_id: str, reason: str,
                          now: datetime, *, solved: bool = False) -> Incident | None:
        """The ticket was downgraded, solved or closed. Solved or closed in the helpdesk
        (``solved``): the incident is resolved, acknowledged or still triggered, by ``ticket``
        via the source with the reason in the audit log — the helpdesk says the work is done.
        Downgraded: a triggered incident is cancelled (nobody is paged any more); an
        acknowledged one stays with a note (a human owns it now)."""
        with self.engine.begin() as conn:
            inc = repo.open_for_ticket(conn, source, ticket_id)
            if inc is None:
                return None
            if inc.state is IncidentStatus.ACKNOWLEDGED and not solved:
                repo.write_audit(conn, inc.id, now, [Record(
                    kind="ticket_changed", actor="ticket", detail=reason)])
                return inc
        if solved:
            return self._apply(inc.id, Resolve(actor="ticket", via=source, reason=reason), now,
                               actor="ticket")
        return self._apply(inc.id, Cancel(reason=reason), now, actor="ticket")

    def ack(self, incident_id: int, actor: str, now: datetime, via: str = "cli") -> Incident:
        self._check_actor(actor)
        return self._apply(incident_id, Ack(actor=actor, via=via), now, actor=actor)

    def ack_all(self, actor: str, now: datetime, via: str = "sms") -> builtins.list[Incident]:
        """Acknowledge every triggered incident ``actor`` has been paged for."""
        self._check_actor(actor)
        with self.engine.connect() as conn:
            ids = conn.execute(select(incidents.c.id).distinct()
                               .join(notifications, notifications.c.incident_id == incidents.c.id)
                               .where(and_(notifications.c.person_id == actor,
                                           incidents.c.state == "triggered"))
                               .order_by(incidents.c.id)).scalars().all()
        done = []
        for incident_id in ids:
            try:
                done.append(self._apply(incident_id, Ack(actor=actor, via=via), now, actor=actor,
                                        notify=False))
            except IncidentError:
                continue  # acknowledged by somebody else meanwhile
        if done:
            self.on_change()
        return done

    def escalate(self, incident_id: int, actor: str, now: datetime, via: str = "cli") -> Incident:
        self._check_actor(actor)
        return self._apply(incident_id, Escalate(actor=actor, via=via), now, actor=actor)

    def resolve(self, incident_id: int, actor: str, now: datetime, via: str = "cli") -> Incident:
        self._check_actor(actor)
        return self._apply(incident_id, Resolve(actor=actor, via=via), now, actor=actor)

    def _check_actor(self, actor: str) -> None:
        if actor not in SYSTEM_ACTORS and self.directory().contact(actor) is None:
            raise UnknownActor(actor)

    def _apply(self, incident_id: int, event: Ack | Resolve | Escalate | Cancel, now: datetime,
               *, actor: str, notify: bool = True) -> Incident:
        for _ in range(10):  # optimistic lock: the runner may write in between
            try:
                changed = self._apply_once(incident_id, event, now, actor=actor)
            except DBAPIError as exc:
                if not (exc.connection_invalidated and isinstance(self.engine, Engine)):
                    raise
                # The session was lost before the commit — this process frozen past the idle
                # bound (see make_engine), a server restart or failover: nothing was written.
                # Once more on a new connection; a commit that did land is found applied.
                log.warning("incident.retried_after_lost_session", incident_id=incident_id,
                            error=type(exc.orig).__name__)
                continue
            if changed is None:
                continue
            if notify:
                self.on_change()
            return changed
        raise IncidentError(f"incident #{incident_id} is busy; try again")

    def _apply_once(self, incident_id: int, event: Ack | Resolve | Escalate | Cancel, now: datetime,
                    *, actor: str) -> Incident | None:
        """One try of :meth:`_apply`: the changed incident, or None when the runner wrote in between."""
        with self.engine.begin() as conn:
            inc = repo.load(conn, incident_id)
            if inc is None:
                raise NoSuchIncident(incident_id)
            state, actions = transition(inc.engine, event, now,
                                        ack_timeout=_policy_of(conn, inc.id).ack_timeout)
            if state == inc.engine:
                raise IncidentError(_refusal(inc, event))
            extra = {}
            if isinstance(event, Ack):
                extra = {"acknowledged_by": actor, "acknowledged_at": now}
            if not repo.save_state(conn, inc.id, inc.version, state, now, **extra):
                return None
            repo.write_audit(conn, inc.id, now,
                             [a for a in actions if isinstance(a, Record)])
            changed = repo.load(conn, inc.id)
        assert changed is not None
        return changed

    # ---- delivery feedback --------------------------------------------------------

    def delivery_status(self, provider_id: str, status: str, error_code: str | None,
                        now: datetime, *, opted_out: bool = False) -> int:
        """A provider status callback. Failures (undelivered SMS, unanswered call)
        make the person's next contact method go out at once; ``opted_out`` (the person
        texted STOP, as the transport reported it) also makes the engine call them instead
        and tell the admins. ``error_code`` is the provider's, kept for the audit log.
        Returns rows changed."""
        word = status.strip().lower()
        with self.engine.begin() as conn:
            rows = conn.execute(select(notifications).where(
                notifications.c.provider_id == provider_id)).all()
            if not rows:
                return 0
            if word in FAILED_STATUSES:
                new_status = repo.FAILED
            elif word in DELIVERED_STATUSES:
                new_status = repo.DELIVERED
            else:
                return 0  # queued, sent, ringing…: nothing to decide yet
            ids = [r.id for r in rows if r.status != new_status]
            if not ids:
                return 0
            conn.execute(update(notifications).where(notifications.c.id.in_(ids)).values(
                status=new_status, error_code=error_code, updated_at=now))
            for r in rows:
                if r.id not in ids:
                    continue
                repo.write_audit(conn, r.incident_id, now, [Record(
                    kind="delivery_status", actor=r.person_id, channel=r.channel,
                    outcome=word, detail=f"error {error_code}" if error_code else "")])
                if new_status == repo.FAILED and r.purpose == "page":
                    feed_failure(conn, r.incident_id, DeliveryFailed(
                        person_id=r.person_id, channel=Channel(r.channel), round=r.round,
                        step=r.step, reason=word + (f" ({error_code})" if error_code else ""),
                        sms_blocked=opted_out), now)
        if new_status == repo.FAILED:
            self.on_change()
        return len(ids)

    # ---- queries ------------------------------------------------------------------

    def get(self, incident_id: int) -> Incident:
        with self.engine.connect() as conn:
            inc = repo.load(conn, incident_id)
        if inc is None:
            raise NoSuchIncident(incident_id)
        return inc

    def list(self, open_only: bool = False) -> builtins.list[Incident]:
        query = select(incidents).order_by(incidents.c.id)
        if open_only:
            query = query.where(incidents.c.state.in_(OPEN_STATES))
        with self.engine.connect() as conn:
            return [Incident.from_row(r) for r in conn.execute(query)]

    def audit(self, incident_id: int) -> builtins.list[AuditEntry]:
        self.get(incident_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit).where(audit.c.incident_id == incident_id)
                                .order_by(audit.c.id))
            return [AuditEntry(id=r.id, incident_id=r.incident_id, at=r.at, actor=r.actor,
                               channel=r.channel, kind=r.kind, outcome=r.outcome,
                               reason=r.reason) for r in rows]

    def ledger(self, incident_id: int) -> builtins.list[LedgerEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(notifications).where(
                notifications.c.incident_id == incident_id).order_by(notifications.c.id))
            return [LedgerEntry.from_row(r) for r in rows]

    def incident_for_code(self, person_id: str, short_code: int) -> Incident | None:
        """The open incident a person's reply code (``3`` in ``3a``) stands for."""
        return self._latest_for(person_id, notifications.c.short_code == short_code)

    def latest_for_person(self, person_id: str) -> Incident | None:
        """The open incident the person was paged for most recently (bare replies)."""
        return self._latest_for(person_id, None)

    def _latest_for(self, person_id: str, extra: ColumnElement[bool] | None) -> Incident | None:
        cond = and_(notifications.c.person_id == person_id, incidents.c.state.in_(OPEN_STATES))
        if extra is not None:
            cond = and_(cond, extra)
        with self.engine.connect() as conn:
            row = conn.execute(select(incidents).join(
                notifications, notifications.c.incident_id == incidents.c.id)
                .where(cond).order_by(notifications.c.id.desc()).limit(1)).first()
        return Incident.from_row(row) if row else None


_INSERT_INCIDENTS = insert(incidents).returning(incidents.c.id)  # one statement: see repo._INSERT_AUDIT


def _summary_changes(inc: Incident, ticket: TicketSummary, now: datetime) -> tuple[Incident, dict[str, str | None]]:
    """The incident with the ticket's newer summary, and the columns that changed."""
    changes = {k: v for k, v in (("priority", ticket.priority), ("customer", ticket.customer),
                                 ("subject", ticket.subject)) if getattr(inc, k) != v}
    if not changes:
        return inc, changes
    return replace(inc, updated_at=now.astimezone(UTC), version=inc.version + 1, priority=ticket.priority,
                   customer=ticket.customer, subject=ticket.subject), changes


class _InTransaction:
    """An Engine look-alike over one connection in a transaction: ``begin()`` and
    ``connect()`` are that connection, in its transaction (see :meth:`IncidentService.within`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self.conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self.conn


def _policy_of(conn: Connection, incident_id: int) -> EscalationPolicy:
    """The policy the incident started with (kept with it across reloads)."""
    data = conn.execute(select(incidents.c.policy_json).where(incidents.c.id == incident_id)).scalar_one()
    return EscalationPolicy.model_validate(data)


def _refusal(inc: Incident, event: Ack | Resolve | Escalate | Cancel) -> str:
    verb = {Ack: "acknowledge", Resolve: "resolve", Escalate: "escalate",
            Cancel: "cancel"}[type(event)]
    if inc.state is IncidentStatus.ACKNOWLEDGED and isinstance(event, Ack):
        return f"incident #{inc.id} is already acknowledged by {inc.acknowledged_by}"
    if isinstance(event, Escalate) and inc.exhausted and inc.state.is_open:
        return f"cannot escalate incident #{inc.id}: its policy has no further steps"
    return f"cannot {verb} incident #{inc.id}: it is {inc.state.value}"

"""Incident pages: the list (open first, filters, live updates) and one incident (ticket,
decision, timeline, Acknowledge / Escalate / Resolve)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, desc, func, select
from starlette.responses import Response

from oncall.config.snapshot import Snapshot
from oncall.errors import IncidentError, OncallError
from oncall.incidents.model import AuditEntry, Incident, LedgerEntry
from oncall.rules import Decision, TicketEvent, decide
from oncall.store.tables import OPEN_STATES, incidents, ticket_events
from oncall.tickets import Ticket, parse_ticket
from oncall.web.console.core import Console, Ctx, safe_next

PAGE_SIZE = 50
STATES = ("open", "triggered", "acknowledged", "resolved", "cancelled", "all")
ACTIONS = {"ack": "Acknowledge", "escalate": "Escalate", "resolve": "Resolve"}
DONE = {"ack": "acknowledged", "escalate": "escalated", "resolve": "resolved"}


def desk_of(snap: Snapshot, customer: str | None) -> str:
    found = snap.customers.get(customer) if customer else None
    desk = getattr(found, "desk", None) if found is not None else None
    return str(desk) if desk else snap.default_desk.id


def _filters(snap: Snapshot, query: dict[str, str]) -> tuple[list[Any], dict[str, str]]:
    state = query.get("state", "open")
    state = state if state in STATES else "open"
    desk = query.get("desk", "")
    customer = query.get("customer", "").strip()
    where: list[Any] = []
    if state == "open":
        where.append(incidents.c.state.in_(OPEN_STATES))
    elif state != "all":
        where.append(incidents.c.state == state)
    if customer:
        where.append(incidents.c.customer == customer)
    if desk in snap.desks:
        mine = [cid for cid in snap.customers if desk_of(snap, cid) == desk]
        cond: Any = incidents.c.customer.in_(mine)
        if desk == snap.default_desk.id:  # tickets naming no (known) customer are served there
            cond = cond | incidents.c.customer.is_(None) | incidents.c.customer.not_in(list(snap.customers))
        where.append(cond)
    else:
        desk = ""
    return where, {"state": state, "desk": desk, "customer": customer}


def list_rows(console: Console, snap: Snapshot, query: dict[str, str]) -> dict[str, Any]:
    """One page of the list: open incidents first, then the rest, newest first within each.

    Two indexed queries rather than one ``ORDER BY CASE …``: the open ones (few, by the state
    index), then the others newest first along the primary key, so a page costs the same with
    ten incidents or a hundred thousand."""
    where, chosen = _filters(snap, query)
    try:
        page_no = max(1, min(10_000, int(query.get("page", "1"))))
    except ValueError:
        page_no = 1
    cols = [incidents.c.id, incidents.c.state, incidents.c.priority, incidents.c.customer, incidents.c.subject,
            incidents.c.source, incidents.c.ticket_id, incidents.c.created_at, incidents.c.acknowledged_by,
            incidents.c.round, incidents.c.step]
    start, want = (page_no - 1) * PAGE_SIZE, PAGE_SIZE + 1
    is_open = incidents.c.state.in_(OPEN_STATES)
    rows: list[Any] = []
    with console.deps.engine.connect() as conn:
        opened = conn.execute(select(*cols).where(and_(is_open, *where)).order_by(desc(incidents.c.id))
                              .limit(start + want)).all()
        rows = list(opened[start:start + want])
        if len(rows) < want and chosen["state"] not in ("open", "triggered", "acknowledged"):
            skip = max(0, start - len(opened))
            rows += conn.execute(select(*cols).where(and_(~is_open, *where)).order_by(desc(incidents.c.id))
                                 .limit(want - len(rows)).offset(skip)).all()
        counts: dict[str, int] = {str(state): int(n) for state, n in conn.execute(
            select(incidents.c.state, func.count()).group_by(incidents.c.state)).all()}
    return {"rows": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "page_no": page_no, "chosen": chosen,
            "counts": counts, "open_count": sum(counts.get(s, 0) for s in OPEN_STATES)}


def incident_list(console: Console, ctx: Ctx) -> Response:
    snap = console.deps.snapshot()
    data = list_rows(console, snap, ctx.query)
    template = "incident_rows.html" if ctx.query.get("fragment") == "1" else "incidents.html"
    customers = sorted(snap.customers)
    return console.render(ctx, template, snap=snap, title="Incidents", customers=customers,
                          states=STATES, desk_of=lambda c: desk_of(snap, c), **data)


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor: str | None
    channel: str | None
    text: str
    tone: str  # neutral | good | bad | action


_GOOD = {"acknowledged", "resolved", "delivered", "completed", "answered", "read"}
_BAD = {"delivery_failed", "unreachable", "person_unreachable", "admin_unreachable", "exhausted", "failed",
        "undelivered", "no-answer", "busy", "canceled"}


def timeline(audit: list[AuditEntry], ledger: list[LedgerEntry], names: dict[str, str]) -> list[TimelineEntry]:
    """Every audit record (steps, messages, delivery outcomes, acknowledgements) in order, plus
    each ledger message's latest status when the audit has not said it."""
    out: list[TimelineEntry] = []
    for a in audit:
        who = names.get(a.actor, a.actor) if a.actor else None
        words = a.kind.replace("_", " ")
        detail = " · ".join(x for x in (a.outcome, a.reason) if x)
        tone = "good" if a.kind in _GOOD or (a.outcome or "") in _GOOD else \
            "bad" if a.kind in _BAD or (a.outcome or "") in _BAD else \
            "action" if a.kind in ("escalated", "triggered", "step_fired", "ack_timeout") else "neutral"
        out.append(TimelineEntry(at=a.at, kind=a.kind, actor=who, channel=a.channel,
                                 text=words + (f": {detail}" if detail else ""), tone=tone))
    reported = {(a.actor, a.channel) for a in audit if a.kind == "delivery_status"}
    for m in ledger:
        if (m.person_id, m.channel) in reported or m.status in ("sent", "pending", "sending", "held"):
            continue
        tone = "good" if m.status in _GOOD else "bad" if m.status in ("failed", "unknown") else "neutral"
        out.append(TimelineEntry(at=m.updated_at, kind="message", actor=names.get(m.person_id, m.person_id),
                                 channel=m.channel, tone=tone,
                                 text=f"{m.purpose} to {m.address}: {m.status}"
                                      + (f" (error {m.error_code})" if m.error_code else "")))
    return sorted(out, key=lambda e: e.at)


@dataclass(frozen=True, kw_only=True)
class TicketView:
    ticket: Ticket | None
    received_at: datetime | None
    outcome: str | None
    decision: Decision | None
    url: str | None
    error: str | None = None


def ticket_view(console: Console, snap: Snapshot, inc: Incident) -> TicketView:
    """The ticket as stored when the incident opened, and its decision as the current
    configuration reads it at the instant it arrived (the `explain` view)."""
    with console.deps.engine.connect() as conn:
        row = conn.execute(select(ticket_events).where(and_(
            ticket_events.c.source == inc.source, ticket_events.c.ticket_id == inc.ticket_id,
            ticket_events.c.received_at <= inc.created_at)).order_by(desc(ticket_events.c.id)).limit(1)).first()
        if row is None:
            row = conn.execute(select(ticket_events).where(and_(
                ticket_events.c.source == inc.source, ticket_events.c.ticket_id == inc.ticket_id))
                .order_by(ticket_events.c.id).limit(1)).first()
    if row is None:
        return TicketView(ticket=None, received_at=None, outcome=None, decision=None, url=None,
                          error="the ticket's stored event is gone")
    try:
        ticket = parse_ticket(row.ticket_json)
        decision = decide(ticket, TicketEvent.CREATED, snap, row.received_at)
    except OncallError as exc:
        return TicketView(ticket=None, received_at=row.received_at, outcome=row.outcome, decision=None, url=None,
                          error=str(exc))
    url = ticket.extras.get("url") or ticket.extras.get("link")
    url = url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    return TicketView(ticket=ticket, received_at=row.received_at, outcome=row.outcome, decision=decision, url=url)


def incident_page(console: Console, ctx: Ctx, *, message: str | None = None, error: str | None = None,
                  status: int = 200, action_base: str | None = None) -> Response:
    snap = console.deps.snapshot()
    try:
        ident = int(ctx.request.path_params["incident_id"])
        inc = console.deps.service.get(ident)
    except (ValueError, OverflowError, IncidentError):
        return console.render(ctx, "error.html", status=404, snap=snap, title="No such incident",
                              message=f"There is no incident #{ctx.request.path_params['incident_id']}.")
    names = {p.id: p.name for p in snap.people.values()}
    entries = timeline(console.deps.service.audit(inc.id), console.deps.service.ledger(inc.id), names)
    template = "incident_live.html" if ctx.query.get("fragment") == "1" else "incident.html"
    return console.render(ctx, template, status=status, snap=snap, title=f"#{inc.id} {inc.subject}", inc=inc,
                          entries=entries, tv=ticket_view(console, snap, inc), names=names, message=message,
                          error=error, desk=desk_of(snap, inc.customer), actions=ACTIONS,
                          action_base=action_base or f"/incidents/{inc.id}",
                          done=ctx.query.get("done") if ctx.query.get("done") in DONE.values() else None)


def incident_action(console: Console, ctx: Ctx) -> Response:
    """POST /incidents/{id}/{ack|escalate|resolve}: acting as the signed-in person, via 'web'."""
    assert ctx.viewer is not None
    action = ctx.request.path_params["action"]
    run = {"ack": console.deps.service.ack, "escalate": console.deps.service.escalate,
           "resolve": console.deps.service.resolve}.get(action)
    try:
        ident = int(ctx.request.path_params["incident_id"])
    except ValueError:
        ident = -1
    if run is None or ident < 0:
        return incident_page(console, ctx, error="unknown action", status=404)
    try:
        run(ident, ctx.viewer.person.id, console.deps.clock(), "web")
    except IncidentError as exc:
        return incident_page(console, ctx, error=str(exc), status=409)
    base = ctx.form.get("back") or f"/incidents/{ident}"
    return console.redirect(ctx, safe_next(base) + f"?done={DONE[action]}")

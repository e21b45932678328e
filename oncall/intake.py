"""Processing stored ticket events: lifecycle → decision → incident.

Webhooks and pollers only store tickets (the inbox); this module turns each stored
event into what it means, once. A batch's changes commit with its events marked
processed, so a crash replays the whole batch; and processing is idempotent anyway:
opening an incident for a ticket that already has one only updates it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.errors import OncallError
from oncall.incidents.model import Incident, TicketSummary
from oncall.incidents.service import IncidentService
from oncall.rules import Decision, TicketEvent, decide
from oncall.sources.lifecycle import Event, TicketState, classify
from oncall.store.inbox import Inbox, InboxItem
from oncall.tickets import Ticket, parse_ticket

log = logs.get("oncall.intake")

_AS_RULE_EVENT = {
    Event.CREATED: TicketEvent.CREATED,
    Event.PRIORITY_RAISED: TicketEvent.PRIORITY_RAISED,
    Event.REOPENED: TicketEvent.REOPENED,
    Event.PRIORITY_LOWERED: TicketEvent.UPDATED,
}


@dataclass(frozen=True, kw_only=True)
class Outcome:
    item_id: int
    source: str
    ticket_id: str
    event: str
    outcome: str  # short word for metrics: paged, updated, no_page, cancelled, resolved, ignored, invalid
    detail: str
    incident_id: int | None = None
    decision: Decision | None = None
    unmapped: Mapping[str, str] = field(default_factory=dict)  # values the ticket had that oncall did not know
    ticket: Ticket | None = None  # the ticket as decided, when it did not page (for the desk's hand-over)


Resolver = Callable[[Ticket, datetime], Ticket]
Settle = Callable[[Connection, list[Outcome], datetime], None]
"""What a batch's outcomes keep beyond the incidents (the desks' hand-over), written in the
batch's transaction before its events are marked processed. It must not raise for its own
failures (log them, in a savepoint): the batch's paging goes on."""


class Intake:
    """``resolve`` (optional) fills in what a stored ticket names only by id (e.g. a Zendesk
    event's organisation) just before it is decided; it must not raise and must bound its
    own waiting (it runs in the worker, between escalation runs)."""

    def __init__(self, inbox: Inbox, service: IncidentService, snapshot: Callable[[], Snapshot],
                 *, on_outcome: Callable[[Outcome], None] | None = None,
                 checkpoint: Callable[[str], None] = lambda _phase: None,
                 resolve: Resolver | None = None, settle: Settle | None = None) -> None:
        self.checkpoint = checkpoint
        self.settle = settle
        self.inbox = inbox
        self.service = service
        self.snapshot = snapshot
        self.on_outcome = on_outcome or (lambda _o: None)
        self.resolve = resolve

    def process_pending(self, now: datetime, limit: int = 200) -> list[Outcome]:
        """Process every stored, unprocessed event (oldest first)."""
        done: list[Outcome] = []
        while batch := self.process_batch(now, limit):
            done += batch
        return done

    def process_batch(self, now: datetime, limit: int = 50) -> list[Outcome]:
        """Process at most ``limit`` stored events (oldest first); empty when none is left.

        The daemon alternates batches with the escalation runner, so pages go out while a
        burst of tickets is still arriving instead of after it. The batch is claimed from the
        inbox (:meth:`oncall.store.inbox.Inbox.claim`: on PostgreSQL no other instance gets
        these events), judged, and its changes written in one transaction with their marks
        (:meth:`~oncall.store.inbox.InboxClaim.writing`): the incidents it opens or cancels
        commit with the events marked processed, or not at all. Incidents the batch
        opens are opened together, set-based; any other change (a cancellation) first
        flushes the opens queued before it, so events still take effect in order. Events
        left out because another worker holds an earlier event of their ticket are taken
        up again once it is done."""
        done, deferred = self._process_claimed(now, limit, None)
        if deferred:
            done += self._process_claimed(now, limit, deferred)[0]
        return done

    def _process_claimed(self, now: datetime, limit: int,
                         tickets: set[tuple[str, str]] | None) -> tuple[list[Outcome], set[tuple[str, str]]]:
        with self.inbox.claim(limit, tickets=tickets) as claim:
            items = claim.items
            if not items:
                return [], claim.deferred
            # First what each event means, writing nothing (helpdesk look-ups may wait): on
            # SQLite the file's one write lock is not held meanwhile. Events of this batch are
            # marked processed together at its end; until then a later event of the same
            # ticket compares with the earlier one here.
            seen = dict(claim.previous)
            judged: list[Outcome | _Open | _Cancel] = []
            for item in items:
                claim.alive()
                one = self._judge(item, previous_json=seen.get((item.source, item.ticket_id)),
                                  previous_known=True, now=now)
                if not isinstance(one, Outcome) or one.outcome != "invalid":
                    seen[(item.source, item.ticket_id)] = item.ticket_json
                judged.append(one)
            # Then the batch's changes, in the events' order, with its marks: one transaction.
            with claim.writing() as conn:
                done = self._apply(self.service.within(conn), judged, now)
                if self.settle is not None and done:
                    # before the marks: a crash in between replays the batch, and what it keeps with it
                    self.settle(conn, done, now)
                claim.mark(conn, [(o.item_id, f"{o.outcome}: {o.detail}"[:1000]) for o in done], now)
            deferred = claim.deferred
        if any(o.incident_id is not None for o in done):
            self.service.on_change()  # after the commit: the runner sees what the batch did
        for outcome in done:
            self.on_outcome(outcome)
        return done, deferred

    def _apply(self, service: IncidentService, judged: list[Outcome | _Open | _Cancel],
               now: datetime) -> list[Outcome]:
        """The judged events' changes through ``service`` (in the batch's transaction). Incidents
        are opened together, set-based; a cancellation first flushes the opens queued before
        it, so events still take effect in order."""
        outcomes: list[Outcome | None] = []
        opens: list[tuple[int, _Open]] = []

        def flush() -> None:
            results = self._open_all(service, [o for _, o in opens], now)
            for (index, job), result in zip(opens, results, strict=True):
                outcomes[index] = job.outcome(result)
            opens.clear()

        for one in judged:
            if isinstance(one, _Open):
                opens.append((len(outcomes), one))
                outcomes.append(None)
                continue
            if isinstance(one, _Cancel):
                flush()
                one = one.run(service, now)
            outcomes.append(one)
        flush()
        return [o for o in outcomes if o is not None]

    def _open_all(self, service: IncidentService, jobs: list[_Open], now: datetime) -> list[Incident | OncallError]:
        if not jobs:
            return []
        requests = [(TicketSummary.from_ticket(j.ticket), j.policy) for j in jobs]
        try:
            found: list[Incident | OncallError] = list(service.open_many(requests, now))
        except OncallError:  # one bad request (e.g. a policy removed by a reload): one at a time
            found = []
            for summary, policy in requests:
                try:
                    found.append(service.open_or_update(summary, policy, now))
                except OncallError as exc:
                    found.append(exc)
        for _ in jobs:  # written, not yet marked processed or committed: the reliability tests' kill point
            self.checkpoint("incident_opened")
        return found

    def _judge(self, item: InboxItem, *, now: datetime, previous_json: dict[str, Any] | None = None,
               previous_known: bool = False) -> Outcome | _Open | _Cancel:
        """What one stored event means, without changing anything. ``previous_json`` is the
        ticket's last processed version when the caller already looked it up (``previous_known``)."""
        base: dict[str, Any] = {"item_id": item.id, "source": item.source, "ticket_id": item.ticket_id}
        try:
            ticket = parse_ticket(item.ticket_json)
            previous = TicketState.from_json(
                previous_json if previous_known
                else self.inbox.last_ticket_state(item.source, item.ticket_id, before_id=item.id))
        except OncallError as exc:  # stored by an older version, or edited by hand
            return Outcome(**base, event="invalid", outcome="invalid", detail=str(exc))
        base["unmapped"] = dict(ticket.unmapped)
        event = classify(previous, ticket)
        if event is Event.CLOSED:
            return _Cancel(base=base, event=event, reason=f"ticket {ticket.status} in the helpdesk",
                           decision=None, none_outcome="ignored", solved=True)
        if not event.needs_evaluation:
            return Outcome(**base, event=event, outcome="ignored", detail=f"{event} event needs no decision")
        if self.resolve is not None:
            ticket = self.resolve(ticket, now)
        decision = decide(ticket, _AS_RULE_EVENT[event], self.snapshot(), now)
        if decision.page:
            assert decision.escalation_policy is not None
            return _Open(base=base, event=event, ticket=ticket, decision=decision, policy=decision.escalation_policy)
        if event is Event.PRIORITY_LOWERED:
            return _Cancel(base=base, event=event, decision=decision, none_outcome="no_page", ticket=ticket,
                           reason=f"ticket lowered to {ticket.priority}/{ticket.severity or '-'}: "
                                  f"rule {decision.rule or 'none'} does not page")
        log.info("ticket.no_page", source=item.source, ticket_id=item.ticket_id, ticket_event=event.value,
                 rule=decision.rule)
        return Outcome(**base, event=event, outcome="no_page", detail=f"rule {decision.rule or 'none'}",
                       decision=decision, ticket=ticket)


@dataclass(frozen=True, kw_only=True)
class _Open:
    """The event pages: open (or update) the ticket's incident."""

    base: dict[str, Any]
    event: Event
    ticket: Ticket
    decision: Decision
    policy: str

    def outcome(self, result: Incident | OncallError) -> Outcome:
        bound = log.bind(source=self.base["source"], ticket_id=self.base["ticket_id"], ticket_event=self.event.value)
        if isinstance(result, OncallError):
            bound.error("intake.open_failed", error=str(result))
            return Outcome(**self.base, event=self.event, outcome="error", detail=str(result), decision=self.decision)
        bound.info("ticket.page", incident_id=result.id, policy=self.policy, rule=self.decision.rule)
        return Outcome(**self.base, event=self.event, outcome="paged", detail=f"rule {self.decision.rule}",
                       incident_id=result.id, decision=self.decision)


@dataclass(frozen=True, kw_only=True)
class _Cancel:
    """The ticket was closed, or lowered below the paging rule: stop its paging (a solved or
    closed ticket resolves its incident; a lowered one cancels a triggered incident)."""

    base: dict[str, Any]
    event: Event
    reason: str
    decision: Decision | None
    none_outcome: str  # the outcome when the ticket had no open incident
    solved: bool = False  # solved or closed: the incident is resolved, acknowledged or not
    ticket: Ticket | None = None  # the lowered ticket as decided (for the desk's hand-over)

    def run(self, service: IncidentService, now: datetime) -> Outcome:
        inc = service.cancel_for_ticket(self.base["source"], self.base["ticket_id"], self.reason, now,
                                        solved=self.solved)
        log.info("ticket.cancel", source=self.base["source"], ticket_id=self.base["ticket_id"],
                 ticket_event=self.event.value, incident_id=inc.id if inc else None)
        detail = self.reason if self.decision is None else f"rule {self.decision.rule}"
        # an acknowledged incident of a lowered ticket stays with its owner: "updated"
        word = {"resolved": "resolved", "cancelled": "cancelled"}.get(inc.state.value, "updated") if inc else None
        return Outcome(**self.base, event=self.event, outcome=word or self.none_outcome,
                       detail=detail, incident_id=inc.id if inc else None, decision=self.decision,
                       ticket=self.ticket)

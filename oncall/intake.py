"""Processing stored ticket events: lifecycle → decision → incident.

Webhooks and pollers only store tickets (the inbox); this module turns each stored
event into what it means, once. Processing is idempotent: a crash between opening
an incident and marking the event processed replays the event, and opening an
incident for a ticket that already has one only updates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall import logs
from oncall.config.snapshot import Snapshot
from oncall.errors import OncallError
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.rules import Decision, TicketEvent, decide
from oncall.sources.lifecycle import Event, TicketState, classify
from oncall.store.inbox import Inbox, InboxItem
from oncall.tickets import parse_ticket

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
    outcome: str  # short word for metrics: paged, updated, no_page, cancelled, ignored, invalid
    detail: str
    incident_id: int | None = None
    decision: Decision | None = None


class Intake:
    def __init__(self, inbox: Inbox, service: IncidentService, snapshot: Callable[[], Snapshot],
                 *, on_outcome: Callable[[Outcome], None] | None = None,
                 checkpoint: Callable[[str], None] = lambda _phase: None) -> None:
        self.checkpoint = checkpoint
        self.inbox = inbox
        self.service = service
        self.snapshot = snapshot
        self.on_outcome = on_outcome or (lambda _o: None)

    def process_pending(self, now: datetime, limit: int = 200) -> list[Outcome]:
        """Process every stored, unprocessed event (oldest first)."""
        done: list[Outcome] = []
        while batch := self.process_batch(now, limit):
            done += batch
        return done

    def process_batch(self, now: datetime, limit: int = 50) -> list[Outcome]:
        """Process at most ``limit`` stored events (oldest first); empty when none is left.

        The daemon alternates batches with the escalation runner, so pages go out while a
        burst of tickets is still arriving instead of after it."""
        done: list[Outcome] = []
        # Events of this batch are marked processed together at its end (one transaction);
        # until then a later event of the same ticket compares with the earlier one here.
        items = self.inbox.unprocessed(limit)
        if not items:
            return done
        seen = self.inbox.last_states({(i.source, i.ticket_id) for i in items}, before_id=items[0].id)
        for item in items:
            outcome = self.process(item, now, previous_json=seen.get((item.source, item.ticket_id)),
                                   previous_known=True)
            if outcome.outcome != "invalid":
                seen[(item.source, item.ticket_id)] = item.ticket_json
            done.append(outcome)
        self.inbox.mark_many([(o.item_id, f"{o.outcome}: {o.detail}"[:1000]) for o in done], now)
        for outcome in done:
            self.on_outcome(outcome)
        return done

    def process(self, item: InboxItem, now: datetime, *, previous_json: dict[str, Any] | None = None,
                previous_known: bool = False) -> Outcome:
        """Process one stored event. ``previous_json`` is the ticket's last processed version
        when the caller already looked it up (``previous_known``)."""
        base: dict[str, Any] = {"item_id": item.id, "source": item.source, "ticket_id": item.ticket_id}
        try:
            ticket = parse_ticket(item.ticket_json)
            previous = TicketState.from_json(
                previous_json if previous_known
                else self.inbox.last_ticket_state(item.source, item.ticket_id, before_id=item.id))
        except OncallError as exc:  # stored by an older version, or edited by hand
            return Outcome(**base, event="invalid", outcome="invalid", detail=str(exc))
        event = classify(previous, ticket)
        bound = log.bind(source=item.source, ticket_id=item.ticket_id, ticket_event=event.value)
        if event is Event.CLOSED:
            inc = self.service.cancel_for_ticket(item.source, item.ticket_id, f"ticket {ticket.status}", now)
            bound.info("ticket.closed", incident_id=inc.id if inc else None)
            return Outcome(**base, event=event, outcome="cancelled" if inc else "ignored",
                           detail=f"ticket {ticket.status}", incident_id=inc.id if inc else None)
        if not event.needs_evaluation:
            return Outcome(**base, event=event, outcome="ignored", detail=f"{event} event needs no decision")
        snapshot = self.snapshot()
        decision = decide(ticket, _AS_RULE_EVENT[event], snapshot, now)
        if decision.page:
            assert decision.escalation_policy is not None
            try:
                inc = self.service.open_or_update(TicketSummary.from_ticket(ticket), decision.escalation_policy, now)
            except OncallError as exc:
                bound.error("intake.open_failed", error=str(exc))
                return Outcome(**base, event=event, outcome="error", detail=str(exc), decision=decision)
            self.checkpoint("incident_opened")
            bound.info("ticket.page", incident_id=inc.id, policy=decision.escalation_policy, rule=decision.rule)
            return Outcome(**base, event=event, outcome="paged", detail=f"rule {decision.rule}",
                           incident_id=inc.id, decision=decision)
        if event is Event.PRIORITY_LOWERED:
            inc = self.service.cancel_for_ticket(
                item.source, item.ticket_id,
                f"ticket lowered to {ticket.priority}/{ticket.severity or '-'}: rule {decision.rule or 'none'} "
                "does not page", now)
            bound.info("ticket.lowered", incident_id=inc.id if inc else None)
            return Outcome(**base, event=event, outcome="cancelled" if inc else "no_page",
                           detail=f"rule {decision.rule}", incident_id=inc.id if inc else None, decision=decision)
        bound.info("ticket.no_page", rule=decision.rule)
        return Outcome(**base, event=event, outcome="no_page", detail=f"rule {decision.rule or 'none'}",
                       decision=decision)

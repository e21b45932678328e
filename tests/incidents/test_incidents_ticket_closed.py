"""What the ticket's own lifecycle does to its incident: solved or closed in the helpdesk resolves
it, acknowledged or not; lowered below the paging rule cancels a triggered one and leaves an
acknowledged one with its owner (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from support.harness import Paging

from oncall.escalation.engine import transition
from oncall.escalation.state import IncidentStatus, Record, Resolve, new_state
from oncall.incidents.model import TicketSummary

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def ticket(n: int = 1) -> TicketSummary:
    return TicketSummary(source="generic", ticket_id=f"T-{n}", priority="urgent",
                         customer="acme", subject="Checkout failing")


@pytest.fixture
def p(db: Engine) -> Paging:
    return Paging(db)


def test_the_engine_resolves_a_triggered_incident() -> None:
    state, actions = transition(new_state(7, T0), Resolve(actor="ticket", via="zendesk",
                                                          reason="ticket solved in the helpdesk"), T0 + MIN)
    assert IncidentStatus.RESOLVED == state.status
    assert [Record(kind="resolved", actor="ticket", channel="zendesk", detail="ticket solved in the helpdesk")] \
        == actions


@pytest.mark.parametrize("word", ["solved", "closed"])
def test_a_ticket_solved_or_closed_before_anybody_acknowledged_resolves_its_incident(p: Paging, word: str) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    done = p.service.cancel_for_ticket("generic", "T-1", f"ticket {word} in the helpdesk", T0 + MIN, solved=True)
    assert done is not None and ("resolved", T0 + MIN) == (done.state.value, done.resolved_at)
    last = p.service.audit(inc.id)[-1]
    assert ("resolved", "ticket", "generic", f"ticket {word} in the helpdesk") == (
        last.kind, last.actor, last.channel, last.reason)
    assert None is done.acknowledged_by


def test_a_ticket_solved_after_an_acknowledgement_resolves_its_incident(p: Paging) -> None:
    inc = p.service.open_or_update(ticket(), "primary", T0)
    p.service.ack(inc.id, "ann", T0)
    done = p.service.cancel_for_ticket("generic", "T-1", "ticket solved in the helpdesk", T0 + MIN, solved=True)
    assert done is not None and ("resolved", "ann") == (done.state.value, done.acknowledged_by)


def test_a_resolved_triggered_incident_pages_nobody_any_more(p: Paging) -> None:
    p.service.open_or_update(ticket(), "primary", T0)
    p.runner.run_due(T0)
    sent = len(p.transport.sent)
    p.service.cancel_for_ticket("generic", "T-1", "ticket solved in the helpdesk", T0 + MIN, solved=True)
    for minutes in (5, 15, 45, 120):
        p.runner.run_due(T0 + minutes * MIN)
    assert sent == len(p.transport.sent)


def test_a_lowered_ticket_still_cancels_a_triggered_incident_and_keeps_an_acknowledged_one(p: Paging) -> None:
    a = p.service.open_or_update(ticket(1), "primary", T0)
    b = p.service.open_or_update(ticket(2), "primary", T0)
    p.service.ack(b.id, "ann", T0)
    lowered = "ticket lowered to low/-: rule none does not page"
    cancelled = p.service.cancel_for_ticket("generic", "T-1", lowered, T0 + MIN)
    kept = p.service.cancel_for_ticket("generic", "T-2", lowered, T0 + MIN)
    assert cancelled is not None and "cancelled" == cancelled.state.value
    assert kept is not None and "acknowledged" == kept.state.value
    assert ("cancelled", lowered) == (p.service.audit(a.id)[-1].kind, p.service.audit(a.id)[-1].reason)

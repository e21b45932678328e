"""The hand-over's words (pure): the chat digest is one line per ticket, most urgent first, with
why it did not page (a page called off when its priority was lowered says so), a page at the
opening, and the respond-by in the desk's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from oncall.desks.business_time import DeskState, DeskStatus
from oncall.handover.model import WaitingTicket, by_urgency, handover_text, why_no_longer_paged
from oncall.rules import Decision, TicketEvent
from oncall.tickets import Priority, Severity, Status

NY = ZoneInfo("America/New_York")
OPENING = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def waiting(ticket_id: str, priority: Priority, reason: str, respond_by: datetime | None = None,
            severity: Severity | None = None) -> WaitingTicket:
    return WaitingTicket(source="zendesk", ticket_id=ticket_id, desk="east", priority=priority, severity=severity,
                         customer="acme", subject="Mail down", status=Status.OPEN, reason=reason, rule=None,
                         respond_by=respond_by, handover_at=OPENING, page_policy=None,
                         received_at=datetime(2026, 11, 28, 8, 0, tzinfo=UTC))


def test_the_chat_digest_has_one_line_per_ticket_most_urgent_first() -> None:
    tickets = by_urgency([
        waiting("1", Priority.NORMAL, "desk closed; no paging rule"),
        waiting("2", Priority.URGENT, "priority lowered to urgent/sev3 after paging; desk closed; rule 'x' "
                                      "does not page", respond_by=datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
                severity=Severity.SEV3)])
    text = handover_text("East", OPENING, NY, tickets, customers={"acme": "Acme Hosting"},
                         paged={("zendesk", "1"): "day-desk"})
    assert [text.subject,
            "URGENT/sev3 zendesk #2 Acme Hosting: Mail down — priority lowered to urgent/sev3 after paging; "
            "desk closed; rule 'x' does not page; respond by Mon 2026-11-30 10:00 EST",
            "NORMAL zendesk #1 Acme Hosting: Mail down — desk closed; no paging rule; PAGED through day-desk; "
            "no response target"] == text.chat.splitlines()


def test_a_page_called_off_by_a_lowered_priority_says_so() -> None:
    decision = Decision(page=False, reasons=(), desk="east", entitled=True, escalation_policy=None,
                        desk_status=DeskStatus(state=DeskState.CLOSED, holiday=None, local=OPENING.astimezone(NY)),
                        rule="business-hours", respond_by=None, response_target=None, next_business_open=OPENING,
                        event=TicketEvent.UPDATED, at=OPENING)
    assert "priority lowered to low/sev4 after paging; desk closed; rule 'business-hours' does not page" == \
        why_no_longer_paged(Priority.LOW, Severity.SEV4, decision)

"""When a ticket that does not page is handed over: its desk's next opening, across DST
changes, holidays, long weekends and emergency-only days (examples/eastern-emergency)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from oncall.config.loader import load
from oncall.config.snapshot import Snapshot
from oncall.rules import TicketEvent, decide, format_decision
from oncall.tickets import parse_ticket

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@cache
def snapshot() -> Snapshot:
    return load(EXAMPLES / "eastern-emergency", now=datetime.fromisoformat("2026-11-25T12:00:00+00:00"))


def ticket(**fields: Any) -> Any:
    base = {"id": "T-1", "source": "generic", "subject": "Mail is slow", "status": "new",
            "created_at": "2026-01-01T00:00:00Z", "customer": "acme", "priority": "normal"}
    base.update(fields)
    return parse_ticket(base)


@dataclass(frozen=True)
class Case:
    at: str
    handover_at: str | None
    priority: str = "normal"
    customer: str = "acme"


CASES = {
    "friday evening before Labor Day: Tuesday 08:00": Case("2026-09-04T18:00:00-04:00", "2026-09-08T08:00:00-04:00"),
    "Labor Day itself: Tuesday 08:00": Case("2026-09-07T10:00:00-04:00", "2026-09-08T08:00:00-04:00"),
    "wednesday evening before Thanksgiving: Friday 08:00":
        Case("2026-11-25T19:00:00-05:00", "2026-11-27T08:00:00-05:00"),
    "Christmas Eve night: Monday after Christmas": Case("2026-12-24T22:00:00-05:00", "2026-12-28T08:00:00-05:00"),
    "DST ends Sunday 1 November: Monday 08:00 EST": Case("2026-10-31T01:30:00-04:00", "2026-11-02T08:00:00-05:00"),
    "DST begins Sunday 8 March: Monday 08:00 EDT": Case("2026-03-08T01:30:00-05:00", "2026-03-09T08:00:00-04:00"),
    "weeknight after closing: next morning": Case("2026-11-24T16:00:00-05:00", "2026-11-25T08:00:00-05:00"),
    "reseller's urgent ticket at night (not entitled)": Case("2026-11-24T23:00:00-05:00",
                                                              "2026-11-25T08:00:00-05:00", "urgent", "resold"),
    "open desk: nothing to hand over": Case("2026-11-24T10:00:00-05:00", None),
    "paged at night: nothing to hand over": Case("2026-11-24T23:00:00-05:00", None, "urgent"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_ticket_that_does_not_page_is_handed_over_at_the_next_opening(case: Case) -> None:
    d = decide(ticket(priority=case.priority, customer=case.customer), TicketEvent.CREATED, snapshot(),
               datetime.fromisoformat(case.at))
    expected = datetime.fromisoformat(case.handover_at) if case.handover_at else None
    assert (expected, case.handover_at) == (d.handover_at, d.to_json()["handover_at"])


def test_explain_says_when_the_ticket_is_handed_over() -> None:
    d = decide(ticket(), TicketEvent.CREATED, snapshot(), datetime.fromisoformat("2026-09-04T18:00:00-04:00"))
    assert "  handed over: 2026-09-08T08:00:00-04:00 (in the morning hand-over)" in format_decision(d).splitlines()


def test_a_closed_ticket_is_not_handed_over() -> None:
    d = decide(ticket(status="solved"), TicketEvent.CREATED, snapshot(),
               datetime.fromisoformat("2026-09-04T18:00:00-04:00"))
    assert d.handover_at is None

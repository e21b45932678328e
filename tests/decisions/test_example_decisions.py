"""Scenario tests: each example configuration decides as its published policy says.

Each row: example, ticket fields, the instant it arrives, and the expected decision.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from oncall.config.loader import load
from oncall.config.snapshot import Snapshot
from oncall.rules import TicketEvent, decide
from oncall.tickets import parse_ticket

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOAD_AT = datetime.fromisoformat("2026-11-25T12:00:00+00:00")


@cache
def snapshot(name: str) -> Snapshot:
    return load(EXAMPLES / name, now=LOAD_AT)


def ticket(**fields: Any) -> Any:
    base = {"id": "T-1", "source": "generic", "subject": "Production down", "status": "new",
            "created_at": "2026-11-25T00:00:00Z", "environment": "production"}
    base.update(fields)
    return parse_ticket(base)


# (example, ticket fields, at, page, policy, business_hours, entitled, respond_by, holiday)
CASES = [
    # --- weekday-pacific: Mon–Fri 07:00–17:00 America/Los_Angeles
    ("weekday-pacific", dict(customer="acme", priority="urgent"), "2026-11-28T03:00:00-08:00",
     True, "after-hours", False, True, "2026-11-30T09:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="high"), "2026-11-28T03:00:00-08:00",
     True, "after-hours", False, True, "2026-11-30T15:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="urgent"), "2026-11-25T10:00:00-08:00",
     False, None, True, True, "2026-11-25T12:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="high"), "2026-11-24T16:00:00-08:00",
     False, None, True, True, "2026-11-25T14:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="low"), "2026-11-27T16:00:00-08:00",
     False, None, True, True, "2026-12-04T16:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="Normal"), "2026-11-28T03:00:00-08:00",
     False, None, False, True, "2026-12-01T17:00:00-08:00", None),
    # expired maintenance agreement
    ("weekday-pacific", dict(customer="umbrella", priority="urgent"), "2026-11-28T03:00:00-08:00",
     False, None, False, False, "2026-11-30T09:00:00-08:00", None),
    # non-production outage
    ("weekday-pacific", dict(customer="acme", priority="urgent", environment="staging"),
     "2026-11-28T03:00:00-08:00", False, None, False, True, "2026-11-30T09:00:00-08:00", None),
    # exactly at opening (inclusive) and closing (exclusive)
    ("weekday-pacific", dict(customer="acme", priority="urgent"), "2026-11-30T07:00:00-08:00",
     False, None, True, True, "2026-11-30T09:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="urgent"), "2026-11-30T17:00:00-08:00",
     True, "after-hours", False, True, "2026-12-01T09:00:00-08:00", None),
    ("weekday-pacific", dict(customer="acme", priority="urgent"), "2026-11-30T16:59:59-08:00",
     False, None, True, True, "2026-12-01T08:59:59-08:00", None),
    # "Level 1 - Urgent" vocabulary
    ("weekday-pacific", dict(customer="acme", priority="Level 1 - Urgent"), "2026-11-29T22:00:00-08:00",
     True, "after-hours", False, True, "2026-11-30T09:00:00-08:00", None),
    # --- utc-partner: Mon–Fri 05:00–13:00 UTC, response in working hours
    ("utc-partner", dict(customer="partner-paas", severity="Level 1", requester="noc@partner-paas.example"),
     "2026-11-28T02:00:00+00:00", True, "partner-noc", False, True, "2026-11-30T07:00:00+00:00", None),
    ("utc-partner", dict(customer="partner-onprem", severity="Level 1", requester="it@partner-onprem.example"),
     "2026-11-28T02:00:00+00:00", False, None, False, False, "2026-11-30T08:00:00+00:00", None),
    # end user of a partner: not considered at all
    ("utc-partner", dict(customer="partner-paas", severity="sev1", requester="driver@fleet.example"),
     "2026-11-28T02:00:00+00:00", False, None, False, False, None, None),
    ("utc-partner", dict(customer="partner-paas", severity="S1", requester="noc@partner-paas.example"),
     "2026-11-25T10:00:00+00:00", False, None, True, True, "2026-11-25T12:00:00+00:00", None),
    ("utc-partner", dict(customer="partner-paas", severity="sev2", requester="noc@partner-paas.example"),
     "2026-11-25T12:00:00+00:00", False, None, True, True, "2026-11-26T08:00:00+00:00", None),
    ("utc-partner", dict(customer="partner-onprem", severity="sev3", requester="IT@partner-onprem.example"),
     "2026-11-25T12:00:00+00:00", False, None, True, False, "2026-11-26T12:00:00+00:00", None),
    ("utc-partner", dict(customer="partner-paas", severity="sev1", requester="noc@partner-paas.example"),
     "2026-11-25T13:00:00+00:00", True, "partner-noc", False, True, "2026-11-26T07:00:00+00:00", None),
    # --- eastern-emergency: Mon–Fri 08:00–16:00 America/New_York, six holidays, direct customers
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-11-28T03:00:00-05:00",
     True, "emergency", False, True, "2026-11-28T04:00:00-05:00", None),
    ("eastern-emergency", dict(customer="resold", priority="urgent"), "2026-11-28T03:00:00-05:00",
     False, None, False, False, None, None),
    ("eastern-emergency", dict(customer="acme", priority="high"), "2026-11-26T10:00:00-05:00",
     True, "emergency", False, True, "2026-11-26T11:00:00-05:00", "Thanksgiving Day"),
    ("eastern-emergency", dict(customer="acme", priority="high"), "2026-10-12T10:00:00-04:00",
     False, None, True, True, None, None),
    ("eastern-emergency", dict(customer="acme", priority="normal"), "2026-11-28T03:00:00-05:00",
     False, None, False, True, None, None),
    # Independence Day 2026 is a Saturday; the policy closes on July 4 itself, Friday is a normal day
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-07-03T10:00:00-04:00",
     False, None, True, True, None, None),
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-07-04T10:00:00-04:00",
     True, "emergency", False, True, "2026-07-04T11:00:00-04:00", "Independence Day"),
    # DST: the day after fall-back and the morning after spring-forward
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-11-02T08:00:00-05:00",
     False, None, True, True, None, None),
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-11-02T07:59:00-05:00",
     True, "emergency", False, True, "2026-11-02T08:59:00-05:00", None),
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2027-03-15T07:59:00-04:00",
     True, "emergency", False, True, "2027-03-15T08:59:00-04:00", None),
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2027-03-15T08:00:00-04:00",
     False, None, True, True, None, None),
    ("eastern-emergency", dict(customer="acme", priority="urgent"), "2026-11-01T01:30:00-05:00",
     True, "emergency", False, True, "2026-11-01T02:30:00-05:00", None),
    # --- extended-support: SEV-1 production outages outside the serving desk's hours
    ("extended-support", dict(customer="acme", severity="SEV-1", category="Critical production system outage",
                              requester="ops@acme.example"),
     "2026-11-28T03:00:00-05:00", True, "sev1", False, True, None, None),
    ("extended-support", dict(customer="acme", severity="SEV-1", category="Critical production system outage",
                              requester="intern@acme.example"),
     "2026-11-28T03:00:00-05:00", False, None, False, False, None, None),
    ("extended-support", dict(customer="globex", severity="sev1", category="Critical production system outage",
                              requester="it@globex.example"),
     "2026-11-28T03:00:00+00:00", False, None, False, False, None, None),
    ("extended-support", dict(customer="initech", severity="sev1", category="Critical production system outage",
                              requester="ops@initech.example"),
     "2026-11-28T03:00:00+11:00", False, None, False, False, None, None),
    ("extended-support", dict(customer="acme", severity="sev1", category="Critical production system outage",
                              requester="sre@acme.example", environment="non-production"),
     "2026-11-28T03:00:00-05:00", False, None, False, True, None, None),
    ("extended-support", dict(customer="acme", severity="sev1", category="Critical production system outage",
                              requester="ops@acme.example"),
     "2026-11-25T10:00:00-05:00", False, None, True, True, None, None),
    ("extended-support", dict(customer="acme", severity="sev2", category="Critical production system outage",
                              requester="ops@acme.example"),
     "2026-11-28T03:00:00-05:00", False, None, False, True, None, None),
    ("extended-support", dict(customer="acme", severity="sev1", category="Question",
                              requester="ops@acme.example"),
     "2026-11-28T03:00:00-05:00", False, None, False, True, None, None),
    ("extended-support", dict(customer="acme", severity="sev1", category="critical production system outage",
                              requester="ops@acme.example"),
     "2026-11-26T10:00:00-05:00", True, "sev1", False, True, None, "Thanksgiving Day"),
    ("extended-support", dict(customer="acme", severity="sev1", category="Critical production system outage",
                              requester="ops@acme.example"),
     "2026-12-24T10:00:00-05:00", True, "sev1", False, True, None, "Company day: Christmas Eve"),
    ("extended-support", dict(customer="globex", severity="sev1", category="Critical production system outage",
                              requester="it@globex.example"),
     "2026-12-28T10:00:00+00:00", False, None, False, False, None, "Boxing Day (observed)"),
]


@pytest.mark.parametrize(
    ("example", "fields", "at", "page", "policy", "business_hours", "entitled", "respond_by", "holiday"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_example_decides_as_its_policy_says(
    example: str, fields: dict[str, Any], at: str, page: bool, policy: str | None,
    business_hours: bool, entitled: bool, respond_by: str | None, holiday: str | None,
) -> None:
    now = datetime.fromisoformat(at)
    d = decide(ticket(**fields), TicketEvent.CREATED, snapshot(example), now)
    assert (page, policy, business_hours, entitled, holiday) == (
        d.page, d.escalation_policy, d.business_hours, d.entitled, d.holiday), d.reasons
    assert respond_by == (d.respond_by.isoformat() if d.respond_by else None), d.reasons


def test_next_business_open_skips_weekend_and_observed_holiday() -> None:
    """globex (London) on Sat 26 Dec 2026: Boxing Day observed Mon 28 → opens Tue 29 Dec 09:00."""
    d = decide(ticket(customer="globex", severity="sev1", requester="it@globex.example"),
               TicketEvent.CREATED, snapshot("extended-support"),
               datetime.fromisoformat("2026-12-26T12:00:00+00:00"))
    assert "2026-12-29T09:00:00+00:00" == d.next_business_open.isoformat()


def test_reasons_name_the_deciding_rule_and_fact() -> None:
    d = decide(ticket(customer="umbrella", priority="urgent"), TicketEvent.CREATED,
               snapshot("weekday-pacific"), datetime.fromisoformat("2026-11-28T03:00:00-08:00"))
    text = "\n".join(d.reasons)
    assert "rule 'after-hours-production-emergency' does not apply: entitled is false" in text
    assert "expired 2026-06-30" in text
    assert "rule 'waits-for-business-hours' matched: do not page" in text


def test_closed_ticket_never_pages() -> None:
    d = decide(ticket(customer="acme", priority="urgent", status="solved"), TicketEvent.UPDATED,
               snapshot("weekday-pacific"), datetime.fromisoformat("2026-11-28T03:00:00-08:00"))
    assert d.page is False
    assert any("ticket is solved" in r for r in d.reasons)


def test_unknown_customer_is_not_entitled() -> None:
    d = decide(ticket(customer="nobody", priority="urgent"), TicketEvent.CREATED,
               snapshot("weekday-pacific"), datetime.fromisoformat("2026-11-28T03:00:00-08:00"))
    assert (False, False) == (d.page, d.entitled)
    assert any("customer 'nobody' is not configured" in r for r in d.reasons)


def test_decide_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(ticket(customer="acme"), TicketEvent.CREATED, snapshot("weekday-pacific"),
               datetime(2026, 11, 28, 3, 0))

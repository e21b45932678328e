"""Labels a helpdesk admin added (custom statuses, priorities, options) never refuse or drop a
ticket: it is read with a fallback, the raw value is kept, and pollers skip nothing silently."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from oncall.sources.freshdesk import FreshdeskPoller, parse_freshdesk, ticket_from_freshdesk
from oncall.sources.generic import parse_generic
from oncall.sources.jira import parse_jira
from oncall.sources.pollers import UnreadableTicket
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.sources.web import ticket_routes
from oncall.sources.zendesk import ZendeskPoller, parse_zendesk
from oncall.testing.fake_helpdesk_store import MemoryCursors, MemorySink
from oncall.testing.fake_helpdesks import FakeFreshdesk, FakeZendesk, freshdesk_headers
from oncall.testing.helpdesk_payloads import (
    freshdesk_api_ticket,
    freshdesk_webhook_body,
    generic_body,
    jira_webhook_body,
    zendesk_api_ticket,
    zendesk_webhook_body,
)
from oncall.tickets import Priority, Status

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SECRET = "s3cret-value"


def mapping(source: str, **data: Any) -> SourceMapping:
    return SourceMapping.model_validate({"id": source, **data})


@dataclass(frozen=True)
class Case:
    parse: Any
    body: bytes
    field: str
    expected: object
    kept: str


CASES = [
    pytest.param(Case(parse_freshdesk, freshdesk_webhook_body(status=6), "status", Status.OPEN, "6"),
                 id="freshdesk-custom-status-6"),
    pytest.param(Case(parse_freshdesk, freshdesk_webhook_body(status="Awaiting Vendor"), "status",
                      Status.OPEN, "Awaiting Vendor"), id="freshdesk-custom-status-name"),
    pytest.param(Case(parse_zendesk, zendesk_webhook_body(created_at=NOW, status="Awaiting vendor"),
                      "status", Status.OPEN, "Awaiting vendor"), id="zendesk-custom-status-label"),
    pytest.param(Case(parse_zendesk, zendesk_webhook_body(created_at=NOW, priority="Emergency"),
                      "priority", Priority.NORMAL, "Emergency"), id="zendesk-unknown-priority"),
    pytest.param(Case(parse_jira, jira_webhook_body(created_at=NOW, status="Triage", status_category="?"),
                      "status", Status.OPEN, "Triage"), id="jira-status-without-category"),
    pytest.param(Case(parse_jira, jira_webhook_body(created_at=NOW, priority="Emergency"),
                      "priority", Priority.NORMAL, "Emergency"), id="jira-custom-priority"),
    pytest.param(Case(parse_generic, generic_body(created_at=NOW, status=6), "status", Status.OPEN, "6"),
                 id="generic-status-number"),
    pytest.param(Case(parse_generic, generic_body(created_at=NOW, severity="S-A"), "severity", None, "S-A"),
                 id="generic-unknown-severity"),
]


@pytest.mark.parametrize("case", CASES)
def test_unknown_label_is_read_with_fallback_and_kept(case: Case) -> None:
    ticket = case.parse(case.body, received_at=NOW).ticket
    assert (case.expected, {case.field: case.kept}) == (getattr(ticket, case.field), ticket.unmapped)


@pytest.mark.parametrize(("parse", "body", "source"), [
    pytest.param(parse_freshdesk, freshdesk_webhook_body(status=6), "freshdesk", id="freshdesk-number"),
    pytest.param(parse_generic, generic_body(created_at=NOW, status=6), "generic", id="generic-number"),
    pytest.param(parse_zendesk, zendesk_webhook_body(created_at=NOW, status="6"), "zendesk", id="zendesk"),
])
def test_value_maps_entry_for_a_custom_status_is_honoured(parse: Any, body: bytes, source: str) -> None:
    m = mapping(source, value_maps={"status": {"6": "pending"}})
    ticket = parse(body, source=source, mapping=m, received_at=NOW).ticket
    assert (Status.PENDING, {}) == (ticket.status, ticket.unmapped)


def test_freshdesk_api_ticket_with_custom_status_is_read_as_open() -> None:
    raw = freshdesk_api_ticket(7, created_at=NOW, updated_at=NOW, status=6)
    ticket = ticket_from_freshdesk(raw, where="0.")
    assert (Status.OPEN, Priority.URGENT, {"status": "6"}) == (ticket.status, ticket.priority, ticket.unmapped)


def test_jira_status_category_still_decides_before_the_fallback() -> None:
    body = jira_webhook_body(created_at=NOW, status="Escalated to vendor", status_category="done")
    ticket = parse_jira(body, received_at=NOW).ticket
    assert (Status.SOLVED, {}) == (ticket.status, ticket.unmapped)


@pytest.mark.parametrize(("table", "message"), [
    ({"status": {"6": "bogus"}}, "value_maps.status: '6' maps to 'bogus', which is not a status oncall knows"),
    ({"priority": {"p0": "asap"}}, "value_maps.priority: 'p0' maps to 'asap'"),
    ({"severity": {"s-a": "sev9"}}, "value_maps.severity: 's-a' maps to 'sev9'"),
    ({"environment": {"uat": "moon"}}, "value_maps.environment: 'uat' maps to 'moon'"),
])
def test_value_maps_target_oncall_does_not_know_is_a_configuration_error(table: dict[str, Any],
                                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mapping("freshdesk", value_maps=table)


# --- the webhook ----------------------------------------------------------------------------

def post(app: Starlette, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://oncall.test") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


def test_freshdesk_webhook_with_custom_status_6_is_accepted_and_stored() -> None:
    sink = MemorySink()
    app = Starlette(routes=ticket_routes(sink, {"freshdesk": SourceSettings(secret=SECRET)}, {},
                                         clock=lambda: NOW))
    body = json.dumps({"ticket": {"id": 77, "subject": "Down", "priority": 4, "status": 6}}).encode()
    r = post(app, "/webhooks/tickets/freshdesk", body, freshdesk_headers(SECRET))
    assert (202, "accepted") == (r.status_code, r.json()["status"])
    [ticket] = sink.tickets
    assert (Status.OPEN, Priority.URGENT, {"status": "6"}) == (ticket.status, ticket.priority, ticket.unmapped)


# --- pollers --------------------------------------------------------------------------------

@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


class Reports:
    def __init__(self) -> None:
        self.unreadable: list[UnreadableTicket] = []

    def __call__(self, ticket: UnreadableTicket) -> None:
        self.unreadable.append(ticket)


def freshdesk_poller(fake: FakeFreshdesk, http: httpx.Client, sink: MemorySink,
                     reports: Reports) -> FreshdeskPoller:
    settings = SourceSettings.model_validate({"kind": "freshdesk", "base_url": fake.url,
                                              "api_key": fake.api_key, "poll_interval": "2m"})
    return FreshdeskPoller(source="freshdesk", settings=settings, client=http, sink=sink,
                           cursors=MemoryCursors(), on_unreadable=reports)


def test_freshdesk_poller_delivers_a_ticket_with_a_custom_status(http: httpx.Client) -> None:
    sink, reports = MemorySink(), Reports()
    with FakeFreshdesk() as fake:
        fake.put_ticket(freshdesk_api_ticket(1, created_at=NOW, updated_at=NOW, status=6))
        result = freshdesk_poller(fake, http, sink, reports).poll_once(NOW + timedelta(minutes=1))
    assert (True, 1, []) == (result.ok, result.tickets_accepted, reports.unreadable)
    assert ({"status": "6"}, Status.OPEN) == (sink.tickets[0].unmapped, sink.tickets[0].status)


def test_freshdesk_poller_reports_a_ticket_it_cannot_read_and_goes_on(http: httpx.Client) -> None:
    sink, reports = MemorySink(), Reports()
    with FakeFreshdesk() as fake:
        broken = freshdesk_api_ticket(2, created_at=NOW, updated_at=NOW)
        broken["created_at"] = "yesterday"
        fake.put_ticket(broken)
        fake.put_ticket(freshdesk_api_ticket(3, created_at=NOW, updated_at=NOW + timedelta(seconds=1)))
        result = freshdesk_poller(fake, http, sink, reports).poll_once(NOW + timedelta(minutes=1))
    assert (True, ["3"]) == (result.ok, [t.id for t in sink.tickets])
    [report] = reports.unreadable
    assert ("freshdesk", "2", "0.created_at") == (report.source, report.ticket_id, report.field)
    assert "not a timestamp" in report.reason


def test_zendesk_poller_reports_an_entry_without_id_and_one_that_is_not_an_object(
        http: httpx.Client) -> None:
    sink, reports = MemorySink(), Reports()
    with FakeZendesk(page_size=10) as fake:
        no_id = zendesk_api_ticket(1, created_at=NOW)
        del no_id["id"]
        fake.put_export_entry(no_id, at=NOW)
        fake.put_export_entry("garbage", at=NOW)
        fake.put_ticket(zendesk_api_ticket(2, created_at=NOW))
        settings = SourceSettings.model_validate({"base_url": fake.url, "email": fake.email,
                                                  "api_token": fake.api_token, "poll_interval": "1m"})
        poller = ZendeskPoller(source="zendesk", settings=settings, client=http, sink=sink,
                               cursors=MemoryCursors(), on_unreadable=reports)
        result = poller.poll_once(NOW + timedelta(minutes=1))
    assert (True, ["2"]) == (result.ok, [t.id for t in sink.tickets])
    assert [("tickets.0.id", None), ("tickets.1", None)] == [(r.field, r.ticket_id) for r in reports.unreadable]


def test_a_failing_report_does_not_stall_the_poller(http: httpx.Client) -> None:
    def broken(_: UnreadableTicket) -> None:
        raise RuntimeError("database is gone")

    sink = MemorySink()
    with FakeFreshdesk() as fake:
        bad = freshdesk_api_ticket(2, created_at=NOW, updated_at=NOW)
        fake.put_ticket({**bad, "subject": ["not", "text"]})
        fake.put_ticket(freshdesk_api_ticket(3, created_at=NOW, updated_at=NOW))
        settings = SourceSettings.model_validate({"kind": "freshdesk", "base_url": fake.url,
                                                  "api_key": fake.api_key, "poll_interval": "2m"})
        poller = FreshdeskPoller(source="freshdesk", settings=settings, client=http, sink=sink,
                                 cursors=MemoryCursors(), on_unreadable=broken)
        result = poller.poll_once(NOW + timedelta(minutes=1))
    assert (True, ["3"]) == (result.ok, [t.id for t in sink.tickets])

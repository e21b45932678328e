"""The real daemon over real sockets: a Zendesk event webhook (ids looked up on the fake
Zendesk) and a Freshdesk ticket with a custom status both page; the admins hear once about
the status oncall does not know."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from e2e_process import PHONES, DaemonProcess, assert_nothing_secret_logged, wait_until

from oncall.testing.fake_helpdesks import FakeZendesk, freshdesk_headers, zendesk_headers
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.helpdesk_payloads import zendesk_event_body

pytestmark = pytest.mark.e2e

ZENDESK_SECRET = "zd-e2e-signing-secret"
FRESHDESK_SECRET = "fd-e2e-shared-secret"


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.add_organization(360001, "Fast Company Inc.", tags=("cust_fast",))
        fake.add_user(601, "ops@fast.example")
        yield fake


def test_zendesk_event_and_freshdesk_custom_status_page(daemon: DaemonProcess, fake: FakeTwilio,
                                                       zendesk: FakeZendesk, config_dir: Path) -> None:
    (config_dir / "sources.yaml").write_text(
        "sources:\n  - id: zendesk\n    customer_from: [organization_tag:cust_, organization]\n"
        "  - id: freshdesk\n    customer_from: organization\n")
    daemon.start(ONCALL_SOURCES__ZENDESK__SECRET=ZENDESK_SECRET, ONCALL_SOURCES__ZENDESK__BASE_URL=zendesk.url,
                 ONCALL_SOURCES__ZENDESK__EMAIL=zendesk.email, ONCALL_SOURCES__ZENDESK__API_TOKEN=zendesk.api_token,
                 ONCALL_SOURCES__FRESHDESK__SECRET=FRESHDESK_SECRET)
    now = datetime.now(UTC)
    event = zendesk_event_body("ticket.created", 35436, at=now)
    answer = httpx.post(daemon.url + "/webhooks/tickets/zendesk", content=event, timeout=10.0,
                        headers=zendesk_headers(ZENDESK_SECRET, event, now))
    assert 202 == answer.status_code, answer.text
    custom = json.dumps({"ticket": {"id": 77, "subject": "Checkout down", "priority": 4, "status": 6,
                                    "company": "fast"}}).encode()
    answer = httpx.post(daemon.url + "/webhooks/tickets/freshdesk", content=custom, timeout=10.0,
                        headers=freshdesk_headers(FRESHDESK_SECRET))
    assert 202 == answer.status_code, answer.text
    wait_until("both tickets to page", lambda: len(daemon.incidents()) == 2)
    assert {("zendesk", "35436", "fast"), ("freshdesk", "77", "fast")} == {
        (i["source"], i["ticket_id"], i["customer"]) for i in daemon.incidents()}
    admin = wait_until("the admin alert", lambda: [m for m in fake.messages
                                                   if m.to == PHONES["gina"] and "admin alert" in m.body])
    assert 1 == len(admin) and "status '6'" in admin[0].body
    assert 1 == daemon.metric('oncall_unmapped_values_total{field="status",source="freshdesk"}')
    shown = json.loads(daemon.cli("incidents", "show", str(next(
        i["id"] for i in daemon.incidents() if i["source"] == "zendesk")), "--json").stdout)
    reasons = json.dumps(shown)
    assert "organization 360001 resolved via Zendesk API" in reasons
    assert 0 == daemon.stop()
    assert_nothing_secret_logged(daemon)

"""Replies to the customer end to end: the real daemon, the fake Twilio and the fake Zendesk
(write-back with public replies and public acknowledgement replies), a desk that opens two hours
from now. An after-hours page acknowledged by SMS puts a public reply on the ticket saying an
engineer is on it and when the page went out; a ticket from a customer without after-hours
cover is told when the desk opens and the response target."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import DaemonProcess, wait_until
from support import configs

from oncall.customer_replies import when
from oncall.testing.fake_helpdesks import FakeZendesk, zendesk_headers
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.helpdesk_payloads import zendesk_api_ticket, zendesk_webhook_body
from oncall.testing.twilio_doubles import FROM_NUMBER

pytestmark = pytest.mark.e2e

ZENDESK_SECRET = "zd-e2e-replies-secret"
TARGET = timedelta(minutes=30)
POLICIES = """\
escalation_policies:
  - id: fast
    steps:
      - {targets: [{schedule: emergency}], contact: sms, delay: 10m}
notifications:
  admins: [gina]
"""


def opening_later() -> datetime:
    """Two hours from now, to the minute: the desk is closed now, whatever the wall time."""
    return (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)


@pytest.fixture
def opening() -> datetime:
    return opening_later()


@pytest.fixture
def config_dir(tmp_path: Path, opening: datetime) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    closes = opening + timedelta(hours=1)
    until = "24:00" if closes.time() == datetime.min.time() else f"{closes:%H:%M}"
    (directory / "desk.yaml").write_text(f"""\
desks:
  - id: east
    name: East
    timezone: UTC
    hours:
      daily: "{opening:%H:%M}-{until}"
entitlement:
  channels: [direct]
plans:
  - id: fast-24x7
    after_hours: true
customers:
  - {{id: fast, name: Fast Co, channel: direct, plan: fast-24x7}}
  - {{id: quiet, name: Quiet Co, channel: reseller}}
rules:
  - name: fast-pages
    when: {{plan: fast-24x7, priority: urgent}}
    page: true
    escalation_policy: fast
  - name: otherwise
    page: false
response_targets:
  - name: urgent
    when: {{priority: urgent}}
    first_response: {TARGET.total_seconds() // 60:.0f}m
    clock: business
sources:
  - id: zendesk
    customer_from: organization
""")
    (directory / "oncall.yaml").write_text(configs.PEOPLE + POLICIES)
    return directory


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        yield fake


def start(daemon: DaemonProcess, zendesk: FakeZendesk) -> None:
    daemon.start(ONCALL_SOURCES__ZENDESK__SECRET=ZENDESK_SECRET, ONCALL_SOURCES__ZENDESK__BASE_URL=zendesk.url,
                 ONCALL_SOURCES__ZENDESK__EMAIL=zendesk.email, ONCALL_SOURCES__ZENDESK__API_TOKEN=zendesk.api_token,
                 ONCALL_SOURCES__ZENDESK__WRITE_BACK="true", ONCALL_SOURCES__ZENDESK__PUBLIC_REPLIES="true",
                 ONCALL_SOURCES__ZENDESK__PUBLIC_ACK_REPLIES="true", ONCALL_WRITEBACK_SECONDS="0.3")


def file_ticket(daemon: DaemonProcess, zendesk: FakeZendesk, ticket_id: int, organization: str) -> None:
    """The ticket exists in the fake Zendesk (where replies are posted) and reaches oncall by a
    signed trigger webhook."""
    now = datetime.now(UTC)
    zendesk.put_ticket(zendesk_api_ticket(ticket_id, created_at=now))
    body = zendesk_webhook_body(ticket_id, created_at=now, organization=organization, tags=())
    answer = httpx.post(daemon.url + "/webhooks/tickets/zendesk", content=body, timeout=10.0,
                        headers=zendesk_headers(ZENDESK_SECRET, body, now))
    assert 202 == answer.status_code, answer.text


def public_replies(zendesk: FakeZendesk, ticket_id: int) -> list[str]:
    return [str(c["body"]) for c in list(zendesk.comments.get(ticket_id, [])) if c.get("public") is True]


def test_an_acknowledged_after_hours_page_tells_the_customer_an_engineer_is_on_it(
        daemon: DaemonProcess, fake: FakeTwilio, zendesk: FakeZendesk) -> None:
    start(daemon, zendesk)
    file_ticket(daemon, zendesk, 1042, "fast")
    [page] = fake.wait_for_messages(1, timeout=10)
    code = re.search(r"Reply (\d+)a ack", page.body)
    assert code is not None, page.body
    reply = fake.send_sms_reply(daemon.url, from_=page.to, to=FROM_NUMBER, body=f"{code.group(1)}a")
    assert 200 == reply.status_code and "acknowledged by" in reply.text, reply.text

    [text] = wait_until("the public reply", lambda: public_replies(zendesk, 1042))
    [inc] = daemon.incidents()
    paged_at = datetime.fromisoformat(inc["created_at"]).astimezone(UTC)
    acked_at = datetime.fromisoformat(daemon.api(f"/api/incidents/{inc['id']}")["acknowledged_at"]).astimezone(UTC)
    assert (f"An engineer is working on your request: our on-call engineer was paged at {when(paged_at)} "
            f"and acknowledged the page at {when(acked_at)}.") == text
    notes: list[dict[str, Any]] = wait_until("the internal notes", lambda: [
        c for c in list(zendesk.comments[1042]) if c.get("public") is False and "acknowledged" in str(c["body"])])
    assert 1 == len(notes)
    assert 0 == daemon.stop()


def test_a_ticket_not_covered_after_hours_is_told_when_the_desk_opens(
        daemon: DaemonProcess, fake: FakeTwilio, zendesk: FakeZendesk, opening: datetime) -> None:
    start(daemon, zendesk)
    file_ticket(daemon, zendesk, 1043, "quiet")
    [text] = wait_until("the public reply", lambda: public_replies(zendesk, 1043))
    assert ("Thank you for your request. It arrived outside the support hours of our East desk, and your plan "
            "does not include after-hours help, so it will be handled when the desk opens on "
            f"{when(opening)}. We aim to respond by {when(opening + TARGET)}.") == text
    assert [] == fake.messages, "nobody was paged"
    assert 0 == daemon.stop()

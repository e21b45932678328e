"""Response clocks end to end: the real daemon, the fake Twilio, signed helpdesk webhooks, a desk
open around the clock and a target of 5 s on the calendar clock (warned at 75 %, 3.75 s). A ticket
nobody answers warns the person on duty once and its miss is recorded (``oncall tickets
--at-risk``, ``/metrics``); a public agent reply in a Zendesk event webhook stops the clock, and
the customer's public reply starts the next-response clock from that message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import PHONES, DaemonProcess, ticket, wait_until
from support import configs

from oncall.testing.fake_helpdesks import zendesk_headers
from oncall.testing.fake_twilio import FakeTwilio, SentMessage
from oncall.testing.helpdesk_payloads import zendesk_event_body

pytestmark = pytest.mark.e2e

TARGET = timedelta(seconds=5)
WARN = TARGET * 0.75
ZENDESK_SECRET = "zd-e2e-clocks-secret"
DESK = f"""\
desks:
  - id: east
    name: East
    timezone: UTC
    hours:
      daily: "00:00-24:00"
    handover: {{schedule: emergency}}
entitlement:
  channels: [direct]
customers:
  - {{id: acme, name: Acme Hosting, channel: direct}}
rules:
  - {{name: never, page: false}}
response_targets:
  - name: urgent
    when: {{priority: urgent}}
    first_response: {TARGET.total_seconds():g}s
    next_response: {TARGET.total_seconds():g}s
    clock: calendar
sources:
  - id: zendesk
    responded_when: [agent_reply]
    value_maps:
      customer: {{"360001": acme}}
"""
POLICIES = """\
escalation_policies:
  - id: unused
    steps:
      - {targets: [{schedule: emergency}], contact: sms, delay: 10m}
notifications:
  admins: [gina]
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "desk.yaml").write_text(DESK)
    (directory / "oncall.yaml").write_text(configs.PEOPLE + POLICIES)
    return directory


def start(daemon: DaemonProcess) -> None:
    daemon.start(ONCALL_RESPONSE_CLOCK_SECONDS="0.3", ONCALL_SOURCES__ZENDESK__SECRET=ZENDESK_SECRET)


def on_duty_phone(daemon: DaemonProcess) -> str:
    who = daemon.cli("who", "emergency", "--json")
    assert 0 == who.returncode, who.stderr
    [person] = json.loads(who.stdout)["emergency"]
    return PHONES[person]


def clocks(daemon: DaemonProcess, *flags: str) -> list[dict[str, Any]]:
    listed = daemon.cli("tickets", "--json", *flags)
    assert 0 == listed.returncode, listed.stderr
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def warnings_about(fake: FakeTwilio, ticket_id: str) -> list[SentMessage]:
    return [m for m in fake.messages if f" #{ticket_id} " in m.body and "has no" in m.body]


def test_a_ticket_without_a_response_warns_the_person_on_duty_once_and_its_miss_is_recorded(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    start(daemon)
    created = datetime.now(UTC)
    body = ticket("T-1", "acme", status="new", created_at=created.isoformat(), updated_at=created.isoformat())
    assert 202 == daemon.post_ticket(body).status_code

    [warning] = fake.wait_for_messages(1, timeout=WARN.total_seconds() + 10)
    assert datetime.now(UTC) >= created + WARN, "warned before 75 % of the target was used"
    assert on_duty_phone(daemon) == warning.to
    assert warning.body.startswith("oncall: URGENT ticket generic #T-1 (Acme Hosting) has no first response yet: "
                                   "due "), warning.body
    assert warning.body.endswith("(target 'urgent')"), warning.body

    misses = 'oncall_response_misses_total{desk="east",priority="urgent"}'
    wait_until("the miss to be counted", lambda: daemon.metric(misses) == 1, timeout=10)
    assert datetime.now(UTC) >= created + TARGET
    assert 1 == daemon.metric('oncall_response_warnings_total{desk="east",priority="urgent"}')

    at_risk = daemon.cli("tickets", "--at-risk")
    assert 0 == at_risk.returncode, at_risk.stderr
    [line] = at_risk.stdout.splitlines()
    assert line.startswith("generic/T-1 ") and "first response" in line and line.endswith("MISSED"), line
    [listed] = clocks(daemon, "--at-risk")
    assert ("T-1", "first", True, True) == (listed["ticket_id"], listed["clock"], listed["at_risk"], listed["missed"])
    assert listed["warned_at"] is not None
    assert [warning.sid] == [m.sid for m in fake.messages], "warned once"
    assert 0 == daemon.stop()


def post_zendesk(daemon: DaemonProcess, event: str, ticket_id: int, at: datetime, *, status: str = "OPEN",
                 created_at: datetime, comment: dict[str, Any] | None = None) -> None:
    change = {"comment": {"id": f"c-{ticket_id}-{int(at.timestamp())}", "body": "Looking into it",
                          "is_public": True, **comment}} if comment is not None else None
    body = zendesk_event_body(event, ticket_id, at=at, created_at=created_at, status=status, change=change,
                              event_id=f"evt-{event}-{ticket_id}-{at.timestamp():.0f}")
    answer = httpx.post(daemon.url + "/webhooks/tickets/zendesk", content=body, timeout=10.0,
                        headers=zendesk_headers(ZENDESK_SECRET, body, datetime.now(UTC)))
    assert 202 == answer.status_code, answer.text
    assert "accepted" == answer.json()["status"], answer.text


def next_second(after: datetime) -> datetime:
    """The current instant, once the clock has passed ``after``'s whole second (Zendesk's event
    times have whole seconds, and a later event must carry a later time)."""
    wait_until("the next second", lambda: datetime.now(UTC).replace(microsecond=0) > after, timeout=3)
    return datetime.now(UTC).replace(microsecond=0)


def test_an_agent_reply_stops_the_clock_and_a_customer_reply_starts_the_next_response_clock(
        daemon: DaemonProcess, fake: FakeTwilio) -> None:
    start(daemon)
    created = datetime.now(UTC).replace(microsecond=0)
    for ticket_id in (35436, 35437):  # 35437 nobody answers: its warning shows the duty ran
        post_zendesk(daemon, "ticket.created", ticket_id, created, status="NEW", created_at=created)
    replied = next_second(created)
    post_zendesk(daemon, "ticket.comment_added", 35436, replied, created_at=created,
                 comment={"author": {"id": "900", "is_staff": True}})

    wait_until("the unanswered ticket's warning", lambda: warnings_about(fake, "35437"),
               timeout=WARN.total_seconds() + 10)
    assert [] == warnings_about(fake, "35436"), "the answered ticket was warned about"
    assert ["35437"] == [c["ticket_id"] for c in clocks(daemon)], "the answered ticket's clock still runs"

    wrote = next_second(replied)
    post_zendesk(daemon, "ticket.comment_added", 35436, wrote, created_at=created,
                 comment={"author": {"id": "601", "is_staff": False}})
    running = wait_until("the next-response clock", lambda: [c for c in clocks(daemon) if c["ticket_id"] == "35436"])
    assert [("next", wrote, wrote + TARGET)] == [
        (c["clock"], datetime.fromisoformat(c["started_at"]), datetime.fromisoformat(c["due_at"])) for c in running]

    [warning] = wait_until("the next-response warning", lambda: warnings_about(fake, "35436"),
                           timeout=WARN.total_seconds() + 10)
    assert datetime.now(UTC) >= wrote + WARN
    assert "ticket zendesk #35436 (Acme Hosting) has no next response yet" in warning.body, warning.body
    assert 0 == daemon.stop()

"""A Zendesk event names its organisation by id, looked up in Zendesk's API when the ticket is
decided: the response clock runs on the desk of the customer that id is resolved to (as the
paging decision does), not on the default desk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from daemon_rig import NY, PEOPLE, MakeRig, Rig, write_config
from sqlalchemy import select

from oncall.store.tables import response_clocks
from oncall.store.types import as_utc
from oncall.testing.fake_helpdesks import FakeZendesk, zendesk_headers
from oncall.testing.helpdesk_payloads import zendesk_event_body

SECRET = "zd-signing-secret"
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=NY)
DESKS = """\
desks:
  - id: east
    timezone: America/New_York
    hours: {mon-fri: "08:00-16:00"}
  - id: west
    timezone: America/Los_Angeles
    hours: {mon-fri: "08:00-16:00"}
entitlement:
  channels: [direct]
customers:
  - {id: acme, name: Acme Hosting, channel: direct, desk: west}
rules:
  - {name: never, page: false}
response_targets:
  - name: urgent
    when: {priority: urgent}
    first_response: 2h
    clock: business
"""
BY_TAG = "sources:\n  - id: zendesk\n    customer_from: [organization_tag:cust_, organization]\n"


def test_a_zendesk_event_tickets_clock_runs_on_its_customers_desk(make_rig: MakeRig, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config-desks", desk=DESKS, people=PEOPLE)
    (config / "sources.yaml").write_text(BY_TAG)
    with FakeZendesk() as zendesk:
        zendesk.add_organization(360001, "Acme Hosting", tags=("cust_acme",))
        zendesk.add_user(601, "ops@acme.example")
        rig = make_rig(TUESDAY, config=config, sources={"zendesk": {
            "secret": SECRET, "base_url": zendesk.url, "email": zendesk.email, "api_token": zendesk.api_token}})
        clock_of_a_zendesk_event(rig)


def clock_of_a_zendesk_event(rig: Rig) -> None:
    body = zendesk_event_body("ticket.created", at=rig.clock.now(), organization_id="360001")
    assert 202 == rig.request("POST", "/webhooks/tickets/zendesk", content=body,
                              headers=zendesk_headers(SECRET, body, rig.clock.now())).status_code
    rig.work()
    rig.run("response-clocks")
    with rig.daemon.engine.connect() as conn:
        [(desk, customer, due_at)] = conn.execute(select(
            response_clocks.c.desk, response_clocks.c.customer, response_clocks.c.due_at)).all()
    assert ("west", "acme") == (desk, customer)
    # 06:00 in Los Angeles: the west desk opens at 08:00, so the 2 h are due at 10:00 there
    assert datetime(2026, 11, 24, 18, 0, tzinfo=UTC) == as_utc(due_at)

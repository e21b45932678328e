"""Values a helpdesk admin added (Freshdesk custom statuses…) through the whole daemon: the
ticket pages, the value is counted, and the admins hear about it once — across restarts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from daemon_rig import MakeRig, Rig, write_config

from oncall.interfaces import Channel
from oncall.testing.fake_helpdesks import FakeFreshdesk, freshdesk_headers
from oncall.testing.helpdesk_payloads import freshdesk_api_ticket

SECRET = "fd-shared-secret"
SOURCES = {"freshdesk": {"secret": SECRET}}


def freshdesk_body(ticket_id: int, status: object = 6, priority: object = 4) -> bytes:
    return json.dumps({"ticket": {"id": ticket_id, "subject": "Checkout down", "priority": priority,
                                  "status": status, "company": "acme"}}).encode()


def post(rig: Rig, body: bytes) -> int:
    return rig.request("POST", "/webhooks/tickets/freshdesk", content=body,
                       headers=freshdesk_headers(SECRET)).status_code


def admin_alerts(rig: Rig) -> list[str]:
    return [m.text for m in rig.to("gina") if "admin alert" in m.text]


def metric(rig: Rig, line: str) -> bool:
    return line in rig.request("GET", "/metrics").text


def test_webhook_with_custom_status_6_is_accepted_and_pages(make_rig: MakeRig) -> None:
    rig = make_rig(sources=SOURCES)
    assert 202 == post(rig, freshdesk_body(77))
    rig.work()
    [inc] = rig.daemon.service.list()
    assert ("freshdesk", "77", "triggered") == (inc.source, inc.ticket_id, inc.state.value)
    assert [rig.on_call()] == [m.person_id for m in rig.transport.sent if m.channel is Channel.SMS
                               and m.incident_ids == (inc.id,)]


def test_unmapped_value_is_noted_in_the_incident_audit_log(make_rig: MakeRig) -> None:
    rig = make_rig(sources=SOURCES)
    post(rig, freshdesk_body(77))
    rig.work()
    [inc] = rig.daemon.service.list()
    notes = [a.reason for a in rig.daemon.service.audit(inc.id) if a.kind == "ticket_read"]
    assert ["status '6' is not a known status; treated as open (add value_maps.status to map it)"] == notes


def test_unmapped_value_is_counted_each_time(make_rig: MakeRig) -> None:
    rig = make_rig(sources=SOURCES)
    for ticket_id in (77, 78):
        post(rig, freshdesk_body(ticket_id))
    rig.work()
    assert metric(rig, 'oncall_unmapped_values_total{field="status",source="freshdesk"} 2.0')


def test_admins_hear_of_an_unmapped_value_once_even_after_a_restart(make_rig: MakeRig) -> None:
    rig = make_rig(sources=SOURCES)
    post(rig, freshdesk_body(77))
    post(rig, freshdesk_body(78))
    rig.work()
    [alert] = admin_alerts(rig)
    assert "status '6'" in alert and "freshdesk" in alert and "value_maps.status" in alert
    again = make_rig(sources=SOURCES)  # same database: a restart
    post(again, freshdesk_body(79))
    again.work()
    assert [] == admin_alerts(again)
    post(again, freshdesk_body(80, status=7))  # another value is another report
    again.work()
    assert 1 == len(admin_alerts(again))


def test_value_maps_entry_maps_the_custom_status(make_rig: MakeRig, tmp_path: Path) -> None:
    config = write_config(tmp_path / "mapped")
    (config / "sources.yaml").write_text('sources:\n  - id: freshdesk\n    value_maps:\n'
                                         '      status: {"6": pending}\n')
    rig = make_rig(config=config, sources=SOURCES)
    post(rig, freshdesk_body(77))
    rig.work()
    [stored] = rig.daemon.inbox.last_states({("freshdesk", "77")}, before_id=10**9).values()
    assert ("pending", {}) == (stored["status"], stored["unmapped"])
    assert [] == admin_alerts(rig)
    assert not metric(rig, "oncall_unmapped_values_total{")


@pytest.fixture
def freshdesk() -> Iterator[FakeFreshdesk]:
    with FakeFreshdesk() as fake:
        fake.add_contact(3001, "ops@acme.example")
        yield fake


def polling(freshdesk: FakeFreshdesk) -> dict[str, object]:
    return {"freshdesk": {"base_url": freshdesk.url, "api_key": freshdesk.api_key, "poll_interval": "2m"}}


def test_poller_pages_a_ticket_with_a_custom_status(make_rig: MakeRig, tmp_path: Path,
                                                    freshdesk: FakeFreshdesk) -> None:
    config = write_config(tmp_path / "mapped")
    (config / "sources.yaml").write_text('sources:\n  - id: freshdesk\n    value_maps:\n'
                                         '      customer: {"9001": acme}\n')
    rig = make_rig(config=config, sources=polling(freshdesk))
    now = rig.clock.now()
    freshdesk.put_ticket(freshdesk_api_ticket(5, created_at=now, updated_at=now, status=6))
    rig.clock.advance(timedelta(minutes=1))
    assert 1 == rig.daemon.pollers["freshdesk"].poll_once(rig.clock.now()).tickets_accepted
    rig.work()
    [inc] = rig.daemon.service.list()
    assert ("freshdesk", "5", "triggered") == (inc.source, inc.ticket_id, inc.state.value)
    assert 1 == len(admin_alerts(rig))


def test_poller_reports_a_ticket_it_cannot_read(make_rig: MakeRig, freshdesk: FakeFreshdesk) -> None:
    rig = make_rig(sources=polling(freshdesk))
    now = rig.clock.now()
    broken = freshdesk_api_ticket(5, created_at=now, updated_at=now)
    freshdesk.put_ticket({**broken, "created_at": "last tuesday"})
    rig.clock.advance(timedelta(minutes=1))
    rig.daemon.pollers["freshdesk"].poll_once(rig.clock.now())
    rig.daemon.pollers["freshdesk"].poll_once(rig.clock.now() + timedelta(minutes=2))  # read again
    [alert] = admin_alerts(rig)
    assert "ticket 5 could not be read" in alert and "created_at" in alert
    assert metric(rig, 'oncall_tickets_unreadable_total{source="freshdesk"} 2.0')

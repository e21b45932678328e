"""Zendesk event webhooks through the daemon: stored first, ids looked up when deciding (fake
Zendesk on 127.0.0.1), paged, and the audit log saying how each id was resolved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_rig import MakeRig, Rig, write_config

from oncall.testing.fake_helpdesks import FakeZendesk, zendesk_headers
from oncall.testing.helpdesk_payloads import zendesk_event_body

SECRET = "zd-signing-secret"


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.add_organization(360001, "Acme Hosting", tags=("cust_acme",))
        fake.add_user(601, "ops@acme.example")
        yield fake


def config(tmp_path: Path, sources_yaml: str) -> Path:
    directory = write_config(tmp_path / "config-zendesk")
    (directory / "sources.yaml").write_text(sources_yaml)
    return directory


BY_TAG = "sources:\n  - id: zendesk\n    customer_from: [organization_tag:cust_, organization]\n"
BY_ID = "sources:\n  - id: zendesk\n    value_maps:\n      customer: {\"360001\": acme}\n"


def credentials(fake: FakeZendesk) -> dict[str, object]:
    return {"zendesk": {"secret": SECRET, "base_url": fake.url, "email": fake.email,
                        "api_token": fake.api_token}}


def post_event(rig: Rig, event: str = "ticket.created", **fields: object) -> int:
    body = zendesk_event_body(event, at=rig.clock.now(), **fields)  # type: ignore[arg-type]
    return rig.request("POST", "/webhooks/tickets/zendesk", content=body,
                       headers=zendesk_headers(SECRET, body, rig.clock.now())).status_code


def read_notes(rig: Rig, incident_id: int) -> list[str | None]:
    return [a.reason for a in rig.daemon.service.audit(incident_id) if a.kind == "ticket_read"]


def test_event_pages_with_names_from_the_zendesk_api(make_rig: MakeRig, tmp_path: Path,
                                                     zendesk: FakeZendesk) -> None:
    rig = make_rig(config=config(tmp_path, BY_TAG), sources=credentials(zendesk))
    assert 202 == post_event(rig)
    assert [] == [r for r in zendesk.requests if r.method == "GET"]  # nothing asked before the 202
    rig.work()
    [inc] = rig.daemon.service.list()
    assert ("zendesk", "35436", "acme", "triggered") == (inc.source, inc.ticket_id, inc.customer, inc.state.value)
    assert ["organization 360001 resolved via Zendesk API → Acme Hosting",
            "requester 601 resolved via Zendesk API → ops@acme.example"] == read_notes(rig, inc.id)


def test_event_is_kept_and_paged_through_value_maps_while_zendesk_is_down(
        make_rig: MakeRig, tmp_path: Path, zendesk: FakeZendesk) -> None:
    zendesk.down = True
    rig = make_rig(config=config(tmp_path, BY_ID), sources=credentials(zendesk))
    assert 202 == post_event(rig)
    rig.work()
    [inc] = rig.daemon.service.list()
    assert ("acme", "triggered") == (inc.customer, inc.state.value)
    notes = read_notes(rig, inc.id)
    assert "organization 360001 resolved via value_maps.customer → acme" == notes[0]
    assert str(notes[1]).startswith("requester 601 unresolved (Zendesk API unavailable (HTTP 503")


def test_without_credentials_or_value_maps_the_customer_is_unknown(make_rig: MakeRig) -> None:
    rig = make_rig(sources={"zendesk": {"secret": SECRET}})
    assert 202 == post_event(rig)
    [outcome] = rig.daemon.intake.process_pending(rig.clock.now())
    assert ("no_page", False) == (outcome.outcome, outcome.decision and outcome.decision.entitled)
    assert [] == rig.daemon.service.list()


def test_priority_raised_by_an_event_pages(make_rig: MakeRig, tmp_path: Path, zendesk: FakeZendesk) -> None:
    from datetime import timedelta

    rig = make_rig(config=config(tmp_path, BY_TAG), sources=credentials(zendesk))
    post_event(rig, priority="NORMAL")
    rig.work()
    assert [] == rig.daemon.service.list()
    rig.clock.advance(timedelta(minutes=2))
    post_event(rig, "ticket.priority_changed", priority="URGENT",
               created_at=rig.clock.now() - timedelta(minutes=2),
               change={"current": "URGENT", "previous": "NORMAL"})
    rig.work()
    [inc] = rig.daemon.service.list()
    assert "triggered" == inc.state.value


def test_comment_events_are_acknowledged_and_not_stored(make_rig: MakeRig) -> None:
    rig = make_rig(sources={"zendesk": {"secret": SECRET}})
    assert 202 == post_event(rig, "ticket.comment_added")
    assert [] == rig.daemon.inbox.unprocessed()

"""Zendesk event-subscription webhooks (``zen:event-type:ticket.*``): the documented shape,
the same signature and endpoint as trigger webhooks, and ids turned into names at decision
time — through the Zendesk API (fake, real HTTP on 127.0.0.1), value_maps, or unresolved."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from oncall.errors import TicketError
from oncall.sources.payload import IgnoredEvent
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.sources.web import ticket_routes
from oncall.sources.zendesk import parse_zendesk
from oncall.sources.zendesk_lookup import EventResolver, ZendeskLookups
from oncall.testing.fake_helpdesk_store import MemorySink
from oncall.testing.fake_helpdesks import FakeZendesk, zendesk_headers
from oncall.testing.helpdesk_payloads import zendesk_event_body
from oncall.tickets import Priority, Status, Ticket

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
SECRET = "zd-signing-secret"


def mapping(**data: Any) -> SourceMapping:
    return SourceMapping.model_validate({"id": "zendesk", **data})


def parse(body: bytes, m: SourceMapping | None = None) -> Ticket:
    return parse_zendesk(body, mapping=m, received_at=NOW).ticket


# --- reading the event ------------------------------------------------------------------------

def test_ticket_created_event_is_read_from_its_detail() -> None:
    body = zendesk_event_body("ticket.created", 35436, at=NOW, priority="URGENT", status="NEW",
                              tags=["env_prod"], event_id="01HNX-1")
    event = parse_zendesk(body, mapping=mapping(environment_from="tag:env_"), received_at=NOW)
    t = event.ticket
    assert ("35436", "zendesk", Priority.URGENT, Status.NEW, NOW, ("env_prod",)) == (
        t.id, t.source, t.priority, t.status, t.updated_at, t.tags)
    assert ("production", "id:01HNX-1") == (t.environment.value, event.event_key)


@pytest.mark.parametrize(("event", "status", "expected"), [
    pytest.param("ticket.status_changed", "SOLVED", Status.SOLVED, id="status-changed"),
    pytest.param("ticket.priority_changed", "OPEN", Status.OPEN, id="priority-changed"),
    pytest.param("ticket.status_changed", "HOLD", Status.PENDING, id="hold"),
    pytest.param("ticket.soft_deleted", "OPEN", Status.CLOSED, id="deleted-stops-paging"),
    pytest.param("ticket.marked_as_spam", "OPEN", Status.CLOSED, id="spam-stops-paging"),
    pytest.param("ticket.merged", "OPEN", Status.CLOSED, id="merged-stops-paging"),
    pytest.param("ticket.some_change_zendesk_adds_later", "OPEN", Status.OPEN, id="future-event-type"),
])
def test_ticket_events_that_can_change_paging_are_stored(event: str, status: str, expected: Status) -> None:
    assert expected == parse(zendesk_event_body(event, at=NOW, status=status)).status


@pytest.mark.parametrize("event", ["ticket.comment_added", "ticket.attachment_linked_to_comment",
                                   "ticket.agent_assignment_changed", "user.created",
                                   "organization.name_changed"])
def test_events_that_cannot_change_paging_are_acknowledged_not_stored(event: str) -> None:
    with pytest.raises(IgnoredEvent):
        parse(zendesk_event_body(event, at=NOW))


def test_organization_id_is_mapped_by_value_maps_without_credentials() -> None:
    t = parse(zendesk_event_body(at=NOW, organization_id="360001"),
              mapping(value_maps={"customer": {"360001": "acme"}}))
    assert ("acme", None) == (t.customer, t.requester)
    assert "organization 360001 resolved via value_maps.customer → acme" in t.notes()


def test_custom_status_id_in_value_maps_decides_the_status() -> None:
    t = parse(zendesk_event_body("ticket.custom_status_changed", at=NOW, status="OPEN", custom_status="9001"),
              mapping(value_maps={"status": {"9001": "pending"}}))
    assert Status.PENDING == t.status


def test_ticket_id_from_the_envelope_subject_when_detail_has_none() -> None:
    data = json.loads(zendesk_event_body(at=NOW))
    del data["detail"]["id"]
    assert "35436" == parse(json.dumps(data).encode()).id


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d.pop("detail"), "detail"),
    (lambda d: d["detail"].update(status=None), "detail.status"),
    (lambda d: d["detail"].update(updated_at="yesterday"), "detail.updated_at"),
])
def test_malformed_event_names_the_field(change: Any, field: str) -> None:
    data = json.loads(zendesk_event_body(at=NOW))
    change(data)
    with pytest.raises(TicketError) as info:
        parse(json.dumps(data).encode())
    assert field == info.value.field


# --- the endpoint -----------------------------------------------------------------------------

def post(sink: MemorySink, body: bytes, headers: dict[str, str]) -> httpx.Response:
    app = Starlette(routes=ticket_routes(sink, {"zendesk": SourceSettings(secret=SECRET)}, {},
                                         clock=lambda: NOW))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://oncall.test") as client:
            return await client.post("/webhooks/tickets/zendesk", content=body, headers=headers)

    return asyncio.run(go())


def test_signed_event_is_accepted_on_the_zendesk_endpoint_and_retries_are_duplicates() -> None:
    sink, body = MemorySink(), zendesk_event_body(at=NOW, event_id="01HNX-2")
    first = post(sink, body, zendesk_headers(SECRET, body, NOW))
    again = post(sink, body, zendesk_headers(SECRET, body, NOW + timedelta(seconds=30)))
    assert [(202, "accepted"), (202, "duplicate")] == [(r.status_code, r.json()["status"]) for r in (first, again)]
    assert ["35436"] == [t.id for t in sink.tickets]


def test_comment_event_is_acknowledged_and_stores_nothing() -> None:
    sink, body = MemorySink(), zendesk_event_body("ticket.comment_added", at=NOW)
    r = post(sink, body, zendesk_headers(SECRET, body, NOW))
    assert (202, "ignored", []) == (r.status_code, r.json()["status"], sink.tickets)


def test_event_with_a_forged_signature_is_refused() -> None:
    sink, body = MemorySink(), zendesk_event_body(at=NOW)
    r = post(sink, body, zendesk_headers("not-the-secret", body, NOW))
    assert (401, []) == (r.status_code, sink.tickets)


# --- names from the Zendesk API ---------------------------------------------------------------

@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        fake.add_organization(360001, "Acme Hosting", tags=("cust_acme",))
        fake.add_user(601, "ops@acme.example")
        fake.add_custom_status(9001, "Awaiting vendor", "open")
        yield fake


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def resolver(fake: FakeZendesk, http: httpx.Client, m: SourceMapping,
             **settings: Any) -> EventResolver:
    conf = SourceSettings.model_validate({"base_url": fake.url, "email": fake.email,
                                          "api_token": fake.api_token, **settings})
    return EventResolver({"zendesk": conf}, lambda: {"zendesk": m}, http)


def lookups_made(fake: FakeZendesk) -> list[str]:
    return [r.path for r in fake.requests if r.method == "GET"]


def test_ids_resolved_via_the_zendesk_api(zendesk: FakeZendesk, http: httpx.Client) -> None:
    m = mapping(customer_from=["organization_tag:cust_", "organization"])
    stored = parse(zendesk_event_body(at=NOW, custom_status="9001"), m)
    t = resolver(zendesk, http, m)(stored, NOW)
    assert ("acme", "ops@acme.example", Status.OPEN) == (t.customer, t.requester, t.status)
    assert ["organization 360001 resolved via Zendesk API → Acme Hosting",
            "requester 601 resolved via Zendesk API → ops@acme.example",
            "custom status 9001 resolved via Zendesk API → Awaiting vendor (category open; read as "
            "status open unless value_maps.status maps the id)"] == t.notes()


def test_answers_are_cached_until_the_ttl(zendesk: FakeZendesk, http: httpx.Client) -> None:
    m = mapping()
    resolve = resolver(zendesk, http, m)
    stored = parse(zendesk_event_body(at=NOW), m)
    resolve(stored, NOW)
    resolve(stored, NOW + timedelta(minutes=9))
    assert 2 == len(lookups_made(zendesk))  # organization + user, once
    resolve(stored, NOW + timedelta(minutes=11))
    assert 4 == len(lookups_made(zendesk))


def test_api_down_falls_back_to_value_maps_and_is_left_alone_for_a_while(
        zendesk: FakeZendesk, http: httpx.Client) -> None:
    m = mapping(value_maps={"customer": {"360001": "acme"}})
    resolve = resolver(zendesk, http, m)
    zendesk.down = True
    stored = parse(zendesk_event_body(at=NOW), m)
    t = resolve(stored, NOW)
    assert ("acme", None) == (t.customer, t.requester)
    assert "organization 360001 resolved via value_maps.customer → acme" in t.notes()
    assert t.notes()[1].startswith("requester 601 unresolved (Zendesk API unavailable (HTTP 503")
    resolve(parse(zendesk_event_body(ticket_id=2, at=NOW, requester_id="602"), m), NOW + timedelta(seconds=30))
    assert 1 == len(lookups_made(zendesk))  # cooling down: the second ticket did not wait on Zendesk
    zendesk.down = False
    assert "ops@acme.example" == resolve(stored, NOW + timedelta(minutes=2)).requester


def test_api_unreachable_leaves_the_ids_unresolved_and_says_why(http: httpx.Client) -> None:
    with FakeZendesk() as fake:
        url = fake.url
    m = mapping()
    conf = SourceSettings.model_validate({"base_url": url, "email": "bot@example.com", "api_token": "t"})
    t = EventResolver({"zendesk": conf}, lambda: {"zendesk": m}, http)(parse(zendesk_event_body(at=NOW), m), NOW)
    assert (None, None) == (t.customer, t.requester)
    assert t.notes()[0].startswith("organization 360001 unresolved (Zendesk API unavailable (ConnectError")
    assert t.notes()[0].endswith("add value_maps.customer to map the id)")


def test_unknown_id_is_unresolved_not_found(zendesk: FakeZendesk, http: httpx.Client) -> None:
    m = mapping()
    t = resolver(zendesk, http, m)(parse(zendesk_event_body(at=NOW, organization_id="424242"), m), NOW)
    assert t.notes()[0].startswith("organization 424242 unresolved (organization 424242 not found in Zendesk")


def test_without_credentials_the_notes_say_so(http: httpx.Client) -> None:
    m = mapping()
    t = EventResolver({"zendesk": SourceSettings(secret="x")}, lambda: {"zendesk": m},
                      http)(parse(zendesk_event_body(at=NOW), m), NOW)
    assert "requester 601 unresolved (no Zendesk API credentials configured)" in t.notes()


def test_trigger_tickets_pass_the_resolver_unchanged(zendesk: FakeZendesk, http: httpx.Client) -> None:
    from oncall.testing.helpdesk_payloads import zendesk_webhook_body

    t = parse(zendesk_webhook_body(created_at=NOW))
    assert t is resolver(zendesk, http, mapping())(t, NOW)
    assert [] == lookups_made(zendesk)


def test_ids_that_are_not_numbers_never_reach_a_url(zendesk: FakeZendesk, http: httpx.Client) -> None:
    lookups = ZendeskLookups(base_url=zendesk.url, email=zendesk.email, api_token=zendesk.api_token, client=http)
    found = lookups.lookup("organization", "../../tickets/1", NOW)
    assert (None, []) == (found.value, lookups_made(zendesk))


# --- hostile event bodies (property) ----------------------------------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
_detail_keys = st.sampled_from(["id", "subject", "priority", "status", "custom_status", "organization_id",
                                "requester_id", "tags", "created_at", "updated_at", "via", "type"])
_envelope_keys = st.sampled_from(["type", "id", "time", "subject", "detail", "event", "account_id"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(detail_key=_detail_keys, detail_value=_values, envelope_key=_envelope_keys, envelope_value=_values,
       event=st.sampled_from(["ticket.created", "ticket.status_changed", "ticket.soft_deleted", "user.created"]))
def test_one_wrong_field_in_an_event_is_a_ticket_error_or_accepted(
        detail_key: str, detail_value: object, envelope_key: str, envelope_value: object, event: str) -> None:
    """Never another exception (which the endpoint would answer with a bare 400): a stored
    ticket is valid, storable JSON and its lookups re-read the same."""
    data = json.loads(zendesk_event_body(event, at=NOW))
    data["detail"][detail_key] = detail_value
    broken_envelope = {**data, envelope_key: envelope_value}
    for body in (data, broken_envelope):
        try:
            t = parse_zendesk(json.dumps(body).encode(), received_at=NOW).ticket
        except (TicketError, IgnoredEvent):
            continue
        assert t.id and t.created_at.tzinfo is not None
        assert t == Ticket.model_validate(json.loads(json.dumps(t.to_json())))


@pytest.mark.parametrize(("author", "expected"), [
    pytest.param({"id": "777", "is_staff": True}, "agent", id="staff-says-agent"),
    pytest.param({"id": "601", "is_staff": False}, "customer", id="staff-says-customer"),
    pytest.param({"id": "777"}, "agent", id="not-the-requester-is-an-agent"),
    pytest.param({"id": "601"}, "customer", id="the-requester-is-the-customer"),
])
def test_a_public_comment_is_stored_as_a_reply_for_the_response_clocks(author: dict[str, object],
                                                                         expected: str) -> None:
    t = parse(zendesk_event_body("ticket.comment_added", at=NOW, requester_id="601",
                                 change={"comment": {"id": "1", "body": "…", "is_public": True, "author": author}}))
    assert {"agent": (NOW, None), "customer": (None, NOW)}[expected] == (t.agent_replied_at, t.customer_replied_at)


def test_a_private_comment_is_ignored() -> None:
    with pytest.raises(IgnoredEvent):
        parse(zendesk_event_body("ticket.comment_added", at=NOW, change={
            "comment": {"id": "1", "body": "…", "is_public": False, "author": {"id": "777", "is_staff": True}}}))

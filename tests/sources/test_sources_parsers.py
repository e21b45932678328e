"""Vendor parsers: field mapping, event keys, and hostile bodies (property tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncall.errors import TicketError
from oncall.sources.freshdesk import parse_freshdesk, ticket_from_freshdesk
from oncall.sources.generic import parse_generic
from oncall.sources.jira import parse_jira
from oncall.sources.payload import IgnoredEvent
from oncall.sources.settings import SourceMapping
from oncall.sources.zendesk import parse_zendesk, ticket_from_zendesk
from oncall.testing.helpdesk_payloads import (
    freshdesk_api_ticket,
    freshdesk_webhook_body,
    generic_body,
    jira_webhook_body,
    zendesk_api_ticket,
    zendesk_webhook_body,
)
from oncall.tickets import Environment, Priority, Severity, Status

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
PARSERS = [parse_generic, parse_zendesk, parse_freshdesk, parse_jira]


def mapping(**data: Any) -> SourceMapping:
    return SourceMapping.model_validate({"id": "x", **data})


# --- event keys ---------------------------------------------------------------------------

def test_event_key_is_stable_across_key_order_and_whitespace() -> None:
    a = parse_zendesk(zendesk_webhook_body(created_at=NOW)).event_key
    reordered = json.dumps(json.loads(zendesk_webhook_body(created_at=NOW)), indent=2,
                           sort_keys=True).encode()
    assert a == parse_zendesk(reordered).event_key
    assert a.startswith("sha256:")


def test_event_key_differs_per_update() -> None:
    one = parse_zendesk(zendesk_webhook_body(created_at=NOW, updated_at=NOW))
    two = parse_zendesk(zendesk_webhook_body(created_at=NOW, updated_at=NOW + timedelta(1)))
    assert one.event_key != two.event_key


def test_generic_event_id_in_body_wins_and_is_not_an_extra() -> None:
    event = parse_generic(generic_body(created_at=NOW, event_id="evt-9"))
    assert "id:evt-9" == event.event_key
    assert "event_id" not in event.ticket.extras


# --- Zendesk ------------------------------------------------------------------------------

@pytest.mark.parametrize(("placeholder", "expected"), [
    ("Urgent", Priority.URGENT), ("High", Priority.HIGH), ("Normal", Priority.NORMAL),
    ("Low", Priority.LOW), ("-", Priority.NORMAL), ("", Priority.NORMAL)])
def test_zendesk_priority_placeholders(placeholder: str, expected: Priority) -> None:
    t = parse_zendesk(zendesk_webhook_body(created_at=NOW, priority=placeholder)).ticket
    assert expected == t.priority


@pytest.mark.parametrize(("placeholder", "expected"), [
    ("New", Status.NEW), ("Open", Status.OPEN), ("Pending", Status.PENDING),
    ("On-hold", Status.PENDING), ("Solved", Status.SOLVED), ("Closed", Status.CLOSED)])
def test_zendesk_status_placeholders(placeholder: str, expected: Status) -> None:
    assert expected == parse_zendesk(zendesk_webhook_body(created_at=NOW,
                                                          status=placeholder)).ticket.status


def test_zendesk_default_mapping_uses_organization() -> None:
    t = parse_zendesk(zendesk_webhook_body(created_at=NOW, organization="Acme Corp")).ticket
    assert ("Acme Corp", None, Environment.UNKNOWN) == (t.customer, t.severity, t.environment)


def test_zendesk_requester_domain_when_no_organization() -> None:
    t = parse_zendesk(zendesk_webhook_body(created_at=NOW, organization="",
                                           requester="Ops@Globex.example")).ticket
    assert "globex.example" == t.customer


def test_unparseable_severity_is_kept_as_unmapped_not_refused() -> None:
    m = mapping(severity_from="custom_field:55")
    t = parse_zendesk(zendesk_webhook_body(created_at=NOW, custom_fields={"55": "banana"}),
                      mapping=m).ticket
    assert None is t.severity
    assert {"severity": "banana"} == t.unmapped


def test_value_maps_translate_status_and_priority() -> None:
    m = mapping(value_maps={"status": {"awaiting dev": "open"}, "priority": {"p0": "urgent"}})
    t = parse_zendesk(zendesk_webhook_body(created_at=NOW, status="Awaiting Dev",
                                           priority="P0"), mapping=m).ticket
    assert (Status.OPEN, Priority.URGENT) == (t.status, t.priority)


def test_zendesk_api_ticket_resolves_sideloads_and_custom_field_list() -> None:
    raw = zendesk_api_ticket(5, created_at=NOW, priority=None,
                             custom_fields={360001: "sev_2"})
    m = mapping(severity_from="custom_field:360001")
    t = ticket_from_zendesk(raw, mapping=m, organizations={501: {"name": "Acme"}},
                            users={601: {"email": "a@acme.example"}})
    assert ("5", Priority.NORMAL, "Acme", "a@acme.example", Severity.SEV2) == (
        t.id, t.priority, t.customer, t.requester, t.severity)


# --- Freshdesk ----------------------------------------------------------------------------

@pytest.mark.parametrize(("priority", "status", "expected"), [
    (1, 2, (Priority.LOW, Status.OPEN)), (2, 3, (Priority.NORMAL, Status.PENDING)),
    (3, 4, (Priority.HIGH, Status.SOLVED)), (4, 5, (Priority.URGENT, Status.CLOSED)),
    ("Urgent", "Resolved", (Priority.URGENT, Status.SOLVED)),
    ("Medium", "Open", (Priority.NORMAL, Status.OPEN))])
def test_freshdesk_numbers_and_words(priority: object, status: object,
                                     expected: tuple[Priority, Status]) -> None:
    t = parse_freshdesk(freshdesk_webhook_body(priority=priority,  # type: ignore[arg-type]
                                               status=status),  # type: ignore[arg-type]
                        received_at=NOW).ticket
    assert expected == (t.priority, t.status)


def test_freshdesk_tags_comma_separated() -> None:
    t = parse_freshdesk(freshdesk_webhook_body(tags="vip, production,eu"),
                        received_at=NOW).ticket
    assert ("vip", "production", "eu") == t.tags


def test_freshdesk_simple_content() -> None:
    body = json.dumps({"freshdesk_webhook": {
        "ticket_id": 9, "ticket_subject": "Down", "ticket_priority": "Urgent",
        "ticket_status": "Open", "ticket_company_name": "Acme",
        "ticket_cf_severity": "sev1"}}).encode()
    t = parse_freshdesk(body, mapping=mapping(severity_from="custom_field:cf_severity"),
                        received_at=NOW).ticket
    assert ("9", Priority.URGENT, "Acme", Severity.SEV1) == (
        t.id, t.priority, t.customer, t.severity)


def test_freshdesk_without_timestamps_needs_received_at() -> None:
    with pytest.raises(TicketError) as err:
        parse_freshdesk(freshdesk_webhook_body())
    assert "ticket.created_at" == err.value.field


def test_freshdesk_api_ticket_company_id_through_value_map() -> None:
    raw = freshdesk_api_ticket(3, created_at=NOW, updated_at=NOW, company_id=9001)
    t = ticket_from_freshdesk(raw, mapping=mapping(value_maps={"customer": {"9001": "acme"}}))
    assert "acme" == t.customer


# --- Jira ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "category", "expected"), [
    ("Waiting for support", "indeterminate", Status.WAITING_FOR_SUPPORT),
    ("Waiting for customer", "indeterminate", Status.PENDING),
    ("Resolved", "done", Status.SOLVED),
    ("Escalated", "indeterminate", Status.OPEN),  # unknown name → category
    ("Canceled", "done", Status.SOLVED),
    ("Triage", "new", Status.NEW)])
def test_jira_status_and_category_fallback(name: str, category: str, expected: Status) -> None:
    body = jira_webhook_body(created_at=NOW, status=name, status_category=category)
    assert expected == parse_jira(body).ticket.status


@pytest.mark.parametrize(("name", "expected"), [
    ("Highest", Priority.URGENT), ("High", Priority.HIGH), ("Medium", Priority.NORMAL),
    ("Low", Priority.LOW), ("Lowest", Priority.INFORMATION), ("Blocker", Priority.URGENT),
    ("Major", Priority.HIGH), ("Trivial", Priority.INFORMATION)])
def test_jira_priorities(name: str, expected: Priority) -> None:
    assert expected == parse_jira(jira_webhook_body(created_at=NOW, priority=name)).ticket.priority


def test_jira_changelog_kept_and_timestamps_parsed() -> None:
    body = jira_webhook_body(created_at=NOW, updated_at=NOW + timedelta(minutes=5),
                             event="jira:issue_updated",
                             changes=[("priority", "Medium", "Highest")])
    t = parse_jira(body).ticket
    assert [{"field": "priority", "from": "Medium", "to": "Highest"}] == t.extras["changes"]
    assert (NOW, NOW + timedelta(minutes=5)) == (t.created_at, t.updated_at)
    assert "jira:issue_updated" == t.extras["jira_event"]


def test_jira_missing_key_names_field() -> None:
    data = json.loads(jira_webhook_body(created_at=NOW))
    del data["issue"]["key"]
    with pytest.raises(TicketError) as err:
        parse_jira(json.dumps(data).encode())
    assert "issue.key" == err.value.field


def test_jira_other_event_ignored() -> None:
    with pytest.raises(IgnoredEvent):
        parse_jira(jira_webhook_body(created_at=NOW, event="comment_deleted"))


# --- hostile bodies -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
ticket_keys = st.sampled_from(["id", "subject", "priority", "status", "created_at",
                               "updated_at", "organization", "requester", "tags",
                               "custom_fields", "company", "severity", "customer",
                               "environment", "key", "fields", "summary", "labels",
                               "webhookEvent", "changelog"])
plausible = st.dictionaries(ticket_keys, json_values, max_size=10)
bodies = st.one_of(
    st.binary(max_size=300),
    plausible.map(lambda d: json.dumps(d).encode()),
    plausible.map(lambda d: json.dumps({"ticket": d}).encode()),
    plausible.map(lambda d: json.dumps({"freshdesk_webhook": d}).encode()),
    st.tuples(plausible, plausible).map(lambda p: json.dumps(
        {"webhookEvent": "jira:issue_updated", "issue": {**p[0], "fields": p[1]}}).encode()),
)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_parsers_raise_only_ticket_error(parse: Any, body: bytes) -> None:
    try:
        event = parse(body, received_at=NOW)
    except (TicketError, IgnoredEvent):
        return
    assert event.ticket.id
    assert event.ticket.created_at.tzinfo is not None
    json.dumps(event.ticket.to_json())  # storable as JSON


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=100, deadline=None)
@given(field=ticket_keys, value=json_values)
def test_one_wrong_typed_field_in_valid_ticket(parse: Any, field: str, value: object) -> None:
    """Start from a valid body for the vendor and break one field."""
    valid = {
        parse_generic: generic_body(created_at=NOW),
        parse_zendesk: zendesk_webhook_body(created_at=NOW),
        parse_freshdesk: freshdesk_webhook_body(),
        parse_jira: jira_webhook_body(created_at=NOW),
    }[parse]
    data = json.loads(valid)
    target = data.get("ticket") or data.get("issue", {}).get("fields") or data
    target[field] = value
    try:
        parse(json.dumps(data).encode(), received_at=NOW)
    except (TicketError, IgnoredEvent):
        pass


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("body", [
    b"{" * 100_000,
    b'{"a":' * 40 + b"1" + b"}" * 40,
    b'{"id": ' + b"9" * 5000 + b"}",
    "{\"id\": \"caf\u00e9\"}".encode("latin-1"),
    "{\"id\": \"x\"}".encode("utf-16"),
    b"",
    b"null",
], ids=["unclosed-deep", "deep-40", "huge-int", "latin1", "utf16", "empty", "null"])
def test_hostile_bodies(parse: Any, body: bytes) -> None:
    with pytest.raises(TicketError) as err:
        parse(body, received_at=NOW)
    assert "body" == err.value.field

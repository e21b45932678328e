"""The webhook intake end to end through a Starlette app, per vendor format."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from oncall.sources.health import SourceHealth
from oncall.sources.settings import SourceMapping, SourceSettings
from oncall.sources.web import ticket_routes
from oncall.testing.fake_helpdesk_store import MemorySink
from oncall.testing.fake_helpdesks import (
    freshdesk_headers,
    generic_headers,
    jira_headers,
    zendesk_headers,
)
from oncall.testing.helpdesk_payloads import (
    freshdesk_webhook_body,
    generic_body,
    jira_webhook_body,
    zendesk_webhook_body,
)
from oncall.tickets import Environment, Priority, Severity, Status

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SECRET = "s3cret-value"

SETTINGS = {
    "generic": SourceSettings(secret=SECRET),
    "zendesk": SourceSettings(secret=SECRET, max_body_bytes=20_000),
    "freshdesk": SourceSettings(secret=SECRET),
    "jira": SourceSettings(secret=SECRET),
    "nosecret": SourceSettings(),
    "legacy": SourceSettings(insecure=True),
}
MAPPINGS = {
    "zendesk": SourceMapping.model_validate({
        "id": "zendesk", "customer_from": ["organization_tag:cust_", "organization"],
        "severity_from": "custom_field:360001", "environment_from": "tag:env_",
        "value_maps": {"severity": {"sev_1_outage": "sev1"}}}),
    "freshdesk": SourceMapping.model_validate({
        "id": "freshdesk", "severity_from": "custom_field:cf_severity",
        "environment_from": "custom_field:cf_environment"}),
    "jira": SourceMapping.model_validate({
        "id": "jira", "customer_from": "custom_field:customfield_10002",
        "severity_from": ["custom_field:customfield_10040", "priority"]}),
}


class Harness:
    def __init__(self) -> None:
        self.sink = MemorySink()
        self.draining = False
        self.woken = 0
        self.now = NOW
        self.health = SourceHealth({"zendesk": timedelta(minutes=30)}, started_at=NOW)

        def wake() -> None:
            self.woken += 1

        self.app = Starlette(routes=ticket_routes(
            self.sink, SETTINGS, MAPPINGS, clock=lambda: self.now, on_accepted=wake,
            draining=lambda: self.draining, health=self.health))

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            # raise_app_exceptions=False: a 500 must show up as a status, not a crash
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://oncall.test") as client:
                return await client.request(method, path, content=body, headers=headers)

        return asyncio.run(go())


@pytest.fixture
def h() -> Harness:
    return Harness()


def post(h: Harness, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return h.request("POST", f"/webhooks/tickets/{source}", body, headers)


def test_generic_ticket_is_stored_then_acknowledged(h: Harness) -> None:
    body = generic_body("T-1", created_at=NOW, severity="SEV-1", customer="acme",
                        environment="prod", tags=["checkout"], region="eu")
    r = post(h, "generic", body, generic_headers(SECRET, body))
    assert 202 == r.status_code
    assert "accepted" == r.json()["status"]
    [stored] = h.sink.accepted
    assert ("generic", r.json()["event_key"]) == (stored.source, stored.event_key)
    t = stored.ticket
    assert (t.id, t.priority, t.severity, t.customer, t.environment) == (
        "T-1", Priority.URGENT, Severity.SEV1, "acme", Environment.PRODUCTION)
    assert {"region": "eu"} == t.extras
    assert 1 == h.woken


def test_zendesk_trigger_body_maps_customer_severity_environment(h: Harness) -> None:
    body = zendesk_webhook_body(1042, created_at=NOW - timedelta(minutes=3), updated_at=NOW,
                                status="On-hold", tags=("cust_acme", "env_prod"),
                                custom_fields={"360001": "sev_1_outage"})
    r = post(h, "zendesk", body, zendesk_headers(SECRET, body, NOW))
    assert 202 == r.status_code, r.text
    t = h.sink.tickets[0]
    assert ("1042", "zendesk", Priority.URGENT, Status.PENDING) == (
        t.id, t.source, t.priority, t.status)
    assert ("acme", Severity.SEV1, Environment.PRODUCTION) == (
        t.customer, t.severity, t.environment)
    assert "ops@acme.example" == t.requester
    assert NOW == t.updated_at


def test_freshdesk_automation_body_with_shared_secret(h: Harness) -> None:
    body = freshdesk_webhook_body(77, priority=4, status=2,
                                  custom_fields={"cf_severity": "Severity 2",
                                                 "cf_environment": "Staging"})
    r = post(h, "freshdesk", body, freshdesk_headers(SECRET))
    assert 202 == r.status_code, r.text
    t = h.sink.tickets[0]
    assert (Priority.URGENT, Status.OPEN, "Acme Corp") == (t.priority, t.status, t.customer)
    assert (Severity.SEV2, Environment.NON_PRODUCTION) == (t.severity, t.environment)
    assert NOW == t.created_at  # no timestamp placeholders: stamped on receipt


def test_jira_issue_created_and_delivery_id_as_event_key(h: Harness) -> None:
    body = jira_webhook_body("SUP-42", created_at=NOW, custom_fields={
        "customfield_10002": [{"id": 3, "name": "Acme Corp"}],
        "customfield_10040": None})
    r = post(h, "jira", body, jira_headers(SECRET, body, delivery_id="d-123"))
    assert 202 == r.status_code, r.text
    assert "id:d-123" == r.json()["event_key"]
    t = h.sink.tickets[0]
    assert ("SUP-42", Priority.URGENT, Status.WAITING_FOR_SUPPORT) == (t.id, t.priority, t.status)
    assert ("Acme Corp", Severity.SEV1) == (t.customer, t.severity)  # severity from priority


def test_jira_untracked_event_is_ignored_not_stored(h: Harness) -> None:
    body = jira_webhook_body(created_at=NOW, event="jira:issue_deleted")
    r = post(h, "jira", body, jira_headers(SECRET, body))
    assert (202, "ignored") == (r.status_code, r.json()["status"])
    assert [] == h.sink.accepted


def test_retry_of_same_event_is_duplicate_not_second_accept(h: Harness) -> None:
    body = zendesk_webhook_body(1, created_at=NOW)
    first = post(h, "zendesk", body, zendesk_headers(SECRET, body, NOW))
    h.now = NOW + timedelta(minutes=1)  # the retry is signed afresh by Zendesk
    second = post(h, "zendesk", body, zendesk_headers(SECRET, body, h.now))
    assert ["accepted", "duplicate"] == [first.json()["status"], second.json()["status"]]
    assert first.json()["event_key"] == second.json()["event_key"]
    assert 1 == len(h.sink.accepted)
    assert 1 == h.woken


@pytest.mark.parametrize(("source", "headers"), [
    ("generic", {}),
    ("generic", {"X-Oncall-Signature": "sha256=" + "0" * 64}),
    ("generic", {"X-Oncall-Signature": "md5=abc"}),
    ("zendesk", {}),
    ("zendesk", {"X-Zendesk-Webhook-Signature": "AAAA",
                 "X-Zendesk-Webhook-Signature-Timestamp": "2026-11-25T03:00:00Z"}),
    ("freshdesk", {"X-Oncall-Secret": "guess"}),
    ("jira", {"X-Hub-Signature": "sha256=zz"}),
], ids=["generic-missing", "generic-wrong", "generic-scheme", "zendesk-missing",
        "zendesk-wrong", "freshdesk-wrong", "jira-not-hex"])
def test_bad_signature_is_401_and_nothing_stored(h: Harness, source: str,
                                                 headers: dict[str, str]) -> None:
    body = generic_body(created_at=NOW)
    r = post(h, source, body, headers)
    assert 401 == r.status_code
    assert "error" in r.json()
    assert [] == h.sink.accepted


@pytest.mark.parametrize("skew", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_stale_zendesk_timestamp_refused(h: Harness, skew: timedelta) -> None:
    body = zendesk_webhook_body(created_at=NOW)
    r = post(h, "zendesk", body, zendesk_headers(SECRET, body, NOW + skew))
    assert 401 == r.status_code
    assert "stale" in r.json()["error"]


def test_zendesk_signature_over_other_body_refused(h: Harness) -> None:
    body = zendesk_webhook_body(created_at=NOW)
    tampered = body.replace(b"Urgent", b"Low   ")
    r = post(h, "zendesk", tampered, zendesk_headers(SECRET, body, NOW))
    assert 401 == r.status_code


def test_unknown_source_404(h: Harness) -> None:
    assert 404 == post(h, "servicenow", b"{}", {}).status_code


def test_source_without_secret_refused_with_clear_error(h: Harness) -> None:
    r = post(h, "nosecret", generic_body(created_at=NOW), {})
    assert 403 == r.status_code
    assert "ONCALL_SOURCES__NOSECRET__SECRET" in r.json()["error"]


def test_insecure_source_accepts_unsigned(h: Harness) -> None:
    r = post(h, "legacy", generic_body(created_at=NOW), {})
    assert (202, "legacy") == (r.status_code, h.sink.tickets[0].source)


def test_body_over_limit_413(h: Harness) -> None:
    body = zendesk_webhook_body(created_at=NOW, subject="x" * 30_000)
    r = post(h, "zendesk", body, zendesk_headers(SECRET, body, NOW))
    assert 413 == r.status_code


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"),
    (b"\xff\xfe{}", "body"),
    (b"[1, 2]", "body"),
    (b"[" * 5000 + b"]" * 5000, "body"),
    (json.dumps({"ticket": {"id": "1"}}).encode(), "ticket.status"),
    (json.dumps({"ticket": {"id": {"x": 1}, "status": "open"}}).encode(), "ticket.id"),
    (json.dumps({"ticket": {"id": 1, "status": "open", "priority": ["urgent"]}}).encode(),
     "ticket.priority"),
    (json.dumps({"ticket": {"id": 1, "status": "open", "created_at": "yesterday"}}).encode(),
     "ticket.created_at"),
    (json.dumps({"ticket": {"id": 1, "status": "open",
                            "created_at": "2026-11-25T03:00:00"}}).encode(),
     "ticket.created_at"),
    (json.dumps({"ticket": "1042"}).encode(), "ticket"),
    (b'{"ticket": {"id": "\\ud800", "status": "open"}}', "body"),
    (b'{"ticket": {"id": 1, "status": "open", "tags": NaN}}', "body"),
], ids=["not-json", "bad-utf8", "array", "deep", "no-status", "id-object", "bad-priority",
        "bad-time", "naive-time", "ticket-string", "lone-surrogate", "nan"])
def test_malformed_zendesk_body_400_names_field(h: Harness, body: bytes, field: str) -> None:
    r = post(h, "zendesk", body, zendesk_headers(SECRET, body, NOW))
    assert 400 == r.status_code, r.text
    assert field == r.json()["field"]
    assert [] == h.sink.accepted


def test_generic_missing_created_at_names_field(h: Harness) -> None:
    body = json.dumps({"id": "T-9", "priority": "urgent"}).encode()
    r = post(h, "generic", body, generic_headers(SECRET, body))
    assert (400, "created_at") == (r.status_code, r.json()["field"])


def test_sink_failure_is_503_so_helpdesk_retries(h: Harness) -> None:
    h.sink.fail = RuntimeError("database is locked")
    body = generic_body(created_at=NOW)
    r = post(h, "generic", body, generic_headers(SECRET, body))
    assert 503 == r.status_code
    assert "Retry-After" in r.headers
    h.sink.fail = None
    assert 202 == post(h, "generic", body, generic_headers(SECRET, body)).status_code


def test_draining_is_503(h: Harness) -> None:
    h.draining = True
    body = generic_body(created_at=NOW)
    assert 503 == post(h, "generic", body, generic_headers(SECRET, body)).status_code
    assert [] == h.sink.accepted


def test_authenticated_traffic_keeps_source_from_silence(h: Harness) -> None:
    body = zendesk_webhook_body(created_at=NOW)
    h.now = NOW + timedelta(minutes=20)
    post(h, "zendesk", body, zendesk_headers(SECRET, body, h.now))
    assert [] == h.health.silent_sources(NOW + timedelta(minutes=45))
    assert [("zendesk", h.now)] == h.health.silent_sources(NOW + timedelta(minutes=50))


def test_get_is_not_allowed(h: Harness) -> None:
    assert 405 == h.request("GET", "/webhooks/tickets/generic").status_code


_fuzz_harness = Harness()
_signers = {
    "generic": lambda b: generic_headers(SECRET, b),
    "zendesk": lambda b: zendesk_headers(SECRET, b, NOW),
    "freshdesk": lambda b: freshdesk_headers(SECRET),
    "jira": lambda b: jira_headers(SECRET, b),
}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=20)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["ticket", "issue", "id", "status", "created_at",
                                     "webhookEvent", "freshdesk_webhook"]), _json,
                    max_size=5).map(lambda d: json.dumps(d).encode()))


@pytest.mark.parametrize("source", sorted(_signers))
@settings(max_examples=60, deadline=None)
@given(body=_bodies)
def test_signed_garbage_is_4xx_never_500(source: str, body: bytes) -> None:
    r = post(_fuzz_harness, source, body, _signers[source](body))
    assert r.status_code in (202, 400), (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"

"""The daemon's HTTP surface through its ASGI app: webhooks, API, calendar feeds, health, metrics."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from daemon_rig import MakeRig, Rig

from oncall.sources.signatures import sign_generic
from oncall.web.api import feed_token

TOKEN = "api-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(api_token=TOKEN, sources={"generic": {"secret": "s3cret", "silence_after": "30m"}})


def ticket_body(rig: Rig, ticket_id: str = "T-1") -> bytes:
    return json.dumps({"id": ticket_id, "source": "generic", "subject": "Production down", "priority": "urgent",
                       "status": "new", "created_at": rig.clock.now().isoformat(), "customer": "acme"}).encode()


def post_ticket(rig: Rig, body: bytes, secret: str = "s3cret") -> int:
    response = rig.request("POST", "/webhooks/tickets/generic", content=body,
                           headers={"X-Oncall-Signature": sign_generic(secret, body),
                                    "Content-Type": "application/json"})
    return response.status_code


def opened(rig: Rig) -> int:
    assert 202 == post_ticket(rig, ticket_body(rig))
    rig.work()
    [inc] = rig.daemon.service.list()
    return inc.id


# ---- webhooks -------------------------------------------------------------------------------

def test_signed_webhook_is_stored_then_paged(rig: Rig) -> None:
    assert 202 == post_ticket(rig, ticket_body(rig))
    assert [] == rig.transport.sent  # stored, not yet processed
    rig.work()
    assert 1 == len(rig.transport.sent)


def test_webhook_with_wrong_signature_is_401_and_stores_nothing(rig: Rig) -> None:
    assert 401 == post_ticket(rig, ticket_body(rig), secret="wrong")
    assert [] == rig.daemon.inbox.unprocessed()


def test_webhook_retry_is_a_duplicate(rig: Rig) -> None:
    body = ticket_body(rig)
    assert 202 == post_ticket(rig, body)
    assert 202 == post_ticket(rig, body)
    rig.work()
    assert 1 == len(rig.daemon.service.list())


def test_draining_daemon_answers_503_so_helpdesks_retry(rig: Rig) -> None:
    rig.daemon.draining = True
    assert 503 == post_ticket(rig, ticket_body(rig))
    assert [] == rig.daemon.inbox.unprocessed()


# ---- API ---------------------------------------------------------------------------------------

def test_api_is_off_without_a_configured_token(make_rig: MakeRig) -> None:
    rig = make_rig()
    assert 403 == rig.request("GET", "/api/incidents", headers=AUTH).status_code


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}])
def test_api_with_wrong_or_missing_token_is_401(rig: Rig, headers: dict[str, str]) -> None:
    assert 401 == rig.request("GET", "/api/incidents", headers=headers).status_code


def test_api_list_and_show(rig: Rig) -> None:
    ident = opened(rig)
    listed = rig.request("GET", "/api/incidents?open=1", headers=AUTH).json()
    assert [ident] == [i["id"] for i in listed]
    assert {"id", "source", "ticket_id", "state", "acknowledged_by", "created_at"} <= set(listed[0])
    shown = rig.request("GET", f"/api/incidents/{ident}", headers=AUTH).json()
    assert "triggered" == shown["state"]
    assert "triggered" in [a["kind"] for a in shown["audit"]]


def test_api_ack(rig: Rig) -> None:
    ident = opened(rig)
    who = rig.on_call()
    response = rig.request("POST", f"/api/incidents/{ident}/ack", headers=AUTH, json={"as": who})
    assert 200 == response.status_code
    assert ("acknowledged", who) == (response.json()["state"], response.json()["acknowledged_by"])
    again = rig.request("POST", f"/api/incidents/{ident}/ack", headers=AUTH, json={"as": who})
    assert 409 == again.status_code


def test_api_ack_without_as_is_422(rig: Rig) -> None:
    ident = opened(rig)
    assert 422 == rig.request("POST", f"/api/incidents/{ident}/ack", headers=AUTH, json={}).status_code
    assert "triggered" == rig.daemon.service.get(ident).state.value


def test_api_ack_as_unknown_person_is_refused(rig: Rig) -> None:
    ident = opened(rig)
    response = rig.request("POST", f"/api/incidents/{ident}/ack", headers=AUTH, json={"as": "mallory"})
    assert 422 == response.status_code
    error = response.json()["error"]
    assert error.startswith("field 'as': unknown person 'mallory'") and "--as" not in error
    assert "triggered" == rig.daemon.service.get(ident).state.value


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/incidents/99"),
                                              ("POST", "/api/incidents/99/ack"),
                                              ("POST", "/api/incidents/99/resolve")])
def test_api_unknown_incident_is_404(rig: Rig, method: str, path: str) -> None:
    response = rig.request(method, path, headers=AUTH, json={"as": "erin"})
    assert 404 == response.status_code


def test_api_non_numeric_id_is_400(rig: Rig) -> None:
    assert 400 == rig.request("GET", "/api/incidents/abc", headers=AUTH).status_code


# ---- calendar feeds ------------------------------------------------------------------------------

def test_schedule_feed_with_the_right_token(rig: Rig) -> None:
    token = feed_token(TOKEN, "schedule", "emergency")
    response = rig.request("GET", f"/calendars/schedule/emergency.ics?token={token}")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in response.text and "BEGIN:VEVENT" in response.text


def test_person_feed_with_the_right_token(rig: Rig) -> None:
    token = feed_token(TOKEN, "person", "erin")
    response = rig.request("GET", f"/calendars/person/erin.ics?token={token}")
    assert 200 == response.status_code and "BEGIN:VEVENT" in response.text


@pytest.mark.parametrize("token", ["", "0" * 32, feed_token(TOKEN, "person", "erin"),
                                   feed_token("other-token", "schedule", "emergency")])
def test_feed_with_a_wrong_token_is_refused(rig: Rig, token: str) -> None:
    response = rig.request("GET", f"/calendars/schedule/emergency.ics?token={token}")
    assert 404 == response.status_code
    assert "VCALENDAR" not in response.text


# ---- health and metrics ------------------------------------------------------------------------

def test_readyz_is_ready_then_503_when_a_source_falls_silent(rig: Rig) -> None:
    first = rig.request("GET", "/readyz")
    assert (200, True) == (first.status_code, first.json()["ready"])
    rig.clock.advance(timedelta(minutes=31))
    silent = rig.request("GET", "/readyz")
    assert 503 == silent.status_code
    assert not silent.json()["checks"]["sources"]["ok"]
    assert "generic silent" in silent.json()["checks"]["sources"]["detail"]


def test_traffic_keeps_the_source_healthy(rig: Rig) -> None:
    rig.clock.advance(timedelta(minutes=20))
    post_ticket(rig, ticket_body(rig))
    rig.clock.advance(timedelta(minutes=20))
    assert 200 == rig.request("GET", "/readyz").status_code


def test_readyz_is_503_while_draining(rig: Rig) -> None:
    rig.daemon.draining = True
    response = rig.request("GET", "/readyz")
    assert 503 == response.status_code
    assert not response.json()["checks"]["intake"]["ok"]


def test_healthz(rig: Rig) -> None:
    assert {"status": "ok"} == rig.request("GET", "/healthz").json()


def test_metrics_count_tickets_by_source_and_outcome(rig: Rig) -> None:
    opened(rig)
    body = json.dumps({"id": "T-2", "source": "generic", "subject": "question", "priority": "low",
                       "status": "new", "created_at": rig.clock.now().isoformat(), "customer": "acme"}).encode()
    post_ticket(rig, body)
    rig.work()
    response = rig.request("GET", "/metrics")
    assert 200 == response.status_code and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'oncall_tickets_received_total{outcome="paged",source="generic"} 1.0' in text
    assert 'oncall_tickets_received_total{outcome="no_page",source="generic"} 1.0' in text
    for name in ("oncall_pages_sent_total", "oncall_reload_failures_total", "oncall_open_incidents",
                 "oncall_time_to_acknowledge_seconds_bucket", "oncall_escalations_total"):
        assert name in text


def test_silent_source_alerts_admins_once(rig: Rig) -> None:
    rig.clock.advance(timedelta(minutes=31))
    rig.run("silence")
    rig.clock.advance(timedelta(minutes=1))
    rig.run("silence")
    alerts = [m for m in rig.to("gina") if "silent" in m.text]
    assert 1 == len(alerts)

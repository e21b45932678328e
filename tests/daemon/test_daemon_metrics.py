"""/metrics as an SRE reads it: each family moves when its event happens, scraped from the
daemon's app on an injected clock; the scrape passes ``promtool check metrics``, and every
metric the shipped alerting rules and dashboard use is in it."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from daemon_rig import PHONES, MakeRig, Rig
from prometheus_client import Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from oncall import __version__
from oncall.errors import PermanentDeliveryError
from oncall.interfaces import Channel
from oncall.sources.signatures import sign_generic
from oncall.testing.fake_twilio import twilio_signature
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "oncall-alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "oncall-dashboard.json"
PUBLIC = "http://127.0.0.1:18080"
SECRET = "s3cret"
TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": FROM_NUMBER,
          "api_base_url": "http://127.0.0.1:9"}  # the transport is injected: never called
SOURCES = {"generic": {"secret": SECRET, "silence_after": "30m"}}
# Series Prometheus makes itself for every target; they are never in /metrics.
SYNTHETIC = {"up"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig(twilio=TWILIO, public_url=PUBLIC, sources=SOURCES)


def scrape_text(rig: Rig) -> str:
    response = rig.request("GET", "/metrics")
    assert 200 == response.status_code
    return response.text


def parse(text: str) -> Samples:
    found: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        found[(name, pairs)] = float(value)
    return found


def value(rig: Rig, name: str, **labels: str) -> float:
    """One sample's value now; 0 when the series does not exist (yet)."""
    return parse(scrape_text(rig)).get((name, frozenset(labels.items())), 0.0)


def post_ticket(rig: Rig, ticket_id: str, *, source: str = "generic", secret: str = SECRET) -> int:
    now = rig.clock.now().isoformat()
    body = json.dumps({"id": ticket_id, "source": "generic", "subject": "Production down", "priority": "urgent",
                       "status": "new", "created_at": now, "updated_at": now, "customer": "acme"}).encode()
    response = rig.request("POST", f"/webhooks/tickets/{source}", content=body, headers={
        "Content-Type": "application/json", "X-Oncall-Signature": sign_generic(secret, body)})
    return response.status_code


def twilio_post(rig: Rig, path: str, params: dict[str, str], *, forge: bool = False) -> int:
    signature = twilio_signature("not-the-token" if forge else AUTH_TOKEN, PUBLIC + path, params)
    return rig.request("POST", path, data=params, headers={"X-Twilio-Signature": signature}).status_code


def status_callback(rig: Rig, key: str, sid: str, status: str, code: str = "") -> int:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
    if code:
        params["ErrorCode"] = code
    return twilio_post(rig, f"/twilio/status?key={quote(key, safe='')}", params)


# ---- intake ----------------------------------------------------------------------------------

def test_webhook_requests_are_counted_by_source_and_status(rig: Rig) -> None:
    assert 202 == post_ticket(rig, "T-1")
    assert 401 == post_ticket(rig, "T-2", secret="wrong")
    assert 404 == post_ticket(rig, "T-3", source="no-such-desk")
    assert 1.0 == value(rig, "oncall_webhook_requests_total", source="generic", status="202")
    assert 1.0 == value(rig, "oncall_webhook_requests_total", source="generic", status="401")
    # A name nobody configured is not a label value (an attacker could make up millions).
    assert 1.0 == value(rig, "oncall_webhook_requests_total", source="unknown", status="404")


def test_refused_webhooks_are_counted_with_a_reason(rig: Rig) -> None:
    post_ticket(rig, "T-1", secret="wrong")
    post_ticket(rig, "T-2", source="no-such-desk")
    assert 1.0 == value(rig, "oncall_webhooks_rejected_total", endpoint="/webhooks/tickets/generic",
                        reason="signature")
    assert 1.0 == value(rig, "oncall_webhooks_rejected_total", endpoint="/webhooks/tickets/unknown",
                        reason="unknown_source")


def test_forged_twilio_requests_are_counted_as_rejected(rig: Rig) -> None:
    assert 403 == twilio_post(rig, "/twilio/sms", {"From": PHONES["erin"], "Body": "1a"}, forge=True)
    assert 1.0 == value(rig, "oncall_webhooks_rejected_total", endpoint="/twilio/sms", reason="signature")


def test_last_contact_per_source_is_a_unix_timestamp(rig: Rig) -> None:
    post_ticket(rig, "T-1")
    polled = rig.clock.now() + timedelta(seconds=30)
    rig.daemon.source_health.record_success("zendesk", polled)
    assert rig.clock.now().timestamp() == value(
        rig, "oncall_source_last_success_timestamp_seconds", source="generic", via="webhook")
    assert polled.timestamp() == value(rig, "oncall_source_last_success_timestamp_seconds",
                                       source="zendesk", via="poll")


def test_source_silent_past_its_silence_after(rig: Rig) -> None:
    post_ticket(rig, "T-1")
    rig.clock.advance(timedelta(minutes=29))
    assert 0.0 == value(rig, "oncall_source_silent", source="generic")
    rig.clock.advance(timedelta(minutes=2))
    assert 1.0 == value(rig, "oncall_source_silent", source="generic")


# ---- incidents and escalation ------------------------------------------------------------------

def test_unacknowledged_incidents_and_the_oldest_ones_age(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=4))
    rig.file("T-2")
    rig.work()
    rig.clock.advance(timedelta(minutes=6))
    assert 2.0 == value(rig, "oncall_unacknowledged_incidents")
    assert 600.0 == value(rig, "oncall_oldest_unacknowledged_incident_age_seconds")
    first = rig.daemon.service.list()[0]
    rig.daemon.service.ack(first.id, rig.on_call(), rig.clock.now())
    assert 1.0 == value(rig, "oncall_unacknowledged_incidents")
    assert 360.0 == value(rig, "oncall_oldest_unacknowledged_incident_age_seconds")
    assert 2.0 == value(rig, "oncall_open_incidents")


def test_no_unacknowledged_incident_reads_zero(rig: Rig) -> None:
    assert 0.0 == value(rig, "oncall_oldest_unacknowledged_incident_age_seconds")
    assert 0.0 == value(rig, "oncall_unacknowledged_incidents")


def test_step_lateness_is_the_delay_after_the_due_time(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()  # the first step, due at once
    rig.clock.advance(timedelta(minutes=7))  # the second step was due after 5 minutes
    rig.work()
    assert 2.0 == value(rig, "oncall_escalation_step_lateness_seconds_count")
    assert 120.0 == value(rig, "oncall_escalation_step_lateness_seconds_sum")
    assert 1.0 == value(rig, "oncall_escalation_step_lateness_seconds_bucket", le="0.01")
    assert 2.0 == value(rig, "oncall_escalation_step_lateness_seconds_bucket", le="120.0")


def test_time_to_acknowledge_is_observed(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(minutes=3))
    [incident] = rig.daemon.service.list()
    rig.daemon.service.ack(incident.id, rig.on_call(), rig.clock.now())
    rig.run("selfcheck")
    assert 1.0 == value(rig, "oncall_time_to_acknowledge_seconds_count")
    assert 180.0 == value(rig, "oncall_time_to_acknowledge_seconds_sum")


# ---- notifications -------------------------------------------------------------------------------

def test_pages_held_by_the_storm_limit_are_counted(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    rig.clock.advance(timedelta(seconds=30))  # within the default 2-minute SMS interval
    rig.file("T-2")
    rig.work()
    assert 1.0 == value(rig, "oncall_pages_held_total", channel="sms")


def test_hand_over_outcomes_are_counted(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="sent", error_code="none")
    assert 1.0 == value(rig, "oncall_pages_sent_total", channel="sms")


def test_refused_at_hand_over_is_counted_with_the_provider_code(rig: Rig) -> None:
    who = rig.on_call()
    rig.transport.fail = lambda m: (PermanentDeliveryError("unsubscribed", code=21610)
                                    if m.channel is Channel.SMS and m.person_id == who else None)
    rig.file("T-1")
    rig.work()
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="rejected", error_code="21610")
    assert 1.0 == value(rig, "oncall_pages_failed_total", channel="sms")


def test_failure_reported_by_the_status_callback_counts_as_failed(rig: Rig) -> None:
    """Twilio accepts the SMS, then reports it undelivered (30003): a failed page."""
    rig.file("T-1")
    rig.work()
    [first] = rig.to(rig.on_call())
    assert 0.0 == value(rig, "oncall_pages_failed_total", channel="sms")
    assert 200 == status_callback(rig, first.key, "FAKE000001", "undelivered", "30003")
    assert 1.0 == value(rig, "oncall_pages_failed_total", channel="sms")
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="undelivered", error_code="30003")


def test_a_repeated_status_callback_is_counted_once(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    [first] = rig.to(rig.on_call())
    for _ in range(3):
        status_callback(rig, first.key, "FAKE000001", "failed", "21610")
    assert 1.0 == value(rig, "oncall_pages_failed_total", channel="sms")
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="failed", error_code="21610")


def test_delivered_is_an_outcome_not_a_failure(rig: Rig) -> None:
    rig.file("T-1")
    rig.work()
    [first] = rig.to(rig.on_call())
    status_callback(rig, first.key, "FAKE000001", "sent")  # intermediate: not an outcome
    status_callback(rig, first.key, "FAKE000001", "delivered")
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="delivered", error_code="none")
    assert 1.0 == value(rig, "oncall_deliveries_total", channel="sms", outcome="sent", error_code="none")
    assert 0.0 == value(rig, "oncall_pages_failed_total", channel="sms")


def test_build_info_names_the_version(rig: Rig) -> None:
    assert 1.0 == value(rig, "oncall_build_info", version=__version__)


# ---- the whole exposition ---------------------------------------------------------------------

# The families this suite drives through real events (others belong to other suites).
DRIVEN = {
    "oncall_build_info", "oncall_tickets_received_total", "oncall_webhook_requests_total",
    "oncall_webhooks_rejected_total", "oncall_source_last_success_timestamp_seconds", "oncall_source_silent",
    "oncall_open_incidents", "oncall_unacknowledged_incidents", "oncall_oldest_unacknowledged_incident_age_seconds",
    "oncall_time_to_acknowledge_seconds", "oncall_escalations_total", "oncall_escalation_step_lateness_seconds",
    "oncall_pages_sent_total", "oncall_pages_failed_total", "oncall_pages_held_total", "oncall_deliveries_total",
    "oncall_reload_failures_total",
}


def exercise_everything(rig: Rig) -> str:
    """Drive every family in DRIVEN through the daemon, give any other family a sample, scrape."""
    post_ticket(rig, "T-1")
    post_ticket(rig, "T-2", secret="wrong")
    twilio_post(rig, "/twilio/sms", {"From": PHONES["erin"], "Body": "1a"}, forge=True)
    rig.daemon.source_health.record_success("generic", rig.clock.now())
    rig.work()
    [first] = rig.to(rig.on_call())
    rig.clock.advance(timedelta(seconds=30))
    rig.file("T-3")
    rig.work()  # the next SMS to the same person within the storm interval is held
    status_callback(rig, first.key, "FAKE000001", "undelivered", "30003")
    rig.clock.advance(timedelta(minutes=7))
    rig.work()
    incident = rig.daemon.service.list()[0]
    rig.daemon.service.ack(incident.id, rig.on_call(), rig.clock.now())
    rig.run("selfcheck")
    (rig.config / "oncall.yaml").write_text("people: [")
    assert not rig.daemon.reload("test")
    rig.clock.advance(timedelta(minutes=30))  # the generic source falls silent
    return scrape_text(rig)


def give_every_family_a_sample(rig: Rig) -> str:
    """exercise_everything, plus one sample for families driven elsewhere (so promtool sees all)."""
    text = exercise_everything(rig)
    sampled = {name for name, _ in parse(text)}
    for metric in vars(rig.daemon.metrics).values():
        if not isinstance(metric, MetricWrapperBase) or metric.describe()[0].name in {
                n.removesuffix("_total").removesuffix("_count") for n in sampled}:
            continue
        labels = metric._labelnames  # no public accessor; the names are only needed for a placeholder
        child = metric.labels(*["x"] * len(labels)) if labels else metric
        if isinstance(child, Histogram):
            child.observe(1)
        elif isinstance(child, Gauge):
            child.set(1)
        else:
            child.inc()
    return scrape_text(rig)


def family_names(text: str) -> set[str]:
    """Every name a query can use: sample names (with _bucket/_sum/_count) and family names."""
    names = {name for name, _ in parse(text)}
    names |= set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    return names


def test_every_family_moves_when_its_event_happens(rig: Rig) -> None:
    text = exercise_everything(rig)
    moved = {name for (name, _labels), v in parse(text).items() if v}
    assert set() == {d for d in DRIVEN if d not in moved and f"{d}_count" not in moved}


def test_scrape_passes_promtool_check_metrics(rig: Rig, promtool: str) -> None:
    text = give_every_family_a_sample(rig)
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    assert DRIVEN <= declared
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60, check=False)
    assert (0, "", "") == (checked.returncode, checked.stdout, checked.stderr)


def expressions_in_rules() -> list[str]:
    import yaml

    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def expressions_in_dashboard() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])] + variables


METRIC_RE = re.compile(r"\b(?:oncall_[a-z0-9_]+|up)\b(?!\s*\()")


@pytest.mark.parametrize("where", ["rules", "dashboard"])
def test_every_metric_the_ops_files_use_is_exposed(rig: Rig, where: str) -> None:
    exposed = family_names(give_every_family_a_sample(rig)) | SYNTHETIC
    expressions = expressions_in_rules() if where == "rules" else expressions_in_dashboard()
    used = {name for expr in expressions for name in METRIC_RE.findall(expr)}
    assert used, f"no metric found in the {where}"
    assert set() == used - exposed


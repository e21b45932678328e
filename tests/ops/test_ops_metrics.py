"""/metrics: Prometheus text exposition, every name prefixed ``oncall_``, each family with its type and labels."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from oncall.metrics import Metrics

EXPECTED = {
    # family name → (type, label names)
    "oncall_tickets_received": ("counter", {"source", "outcome"}),
    "oncall_pages_sent": ("counter", {"channel"}),
    "oncall_pages_failed": ("counter", {"channel"}),
    "oncall_time_to_acknowledge_seconds": ("histogram", set()),
    "oncall_escalations": ("counter", set()),
    "oncall_open_incidents": ("gauge", set()),
    "oncall_poll_errors": ("counter", {"source"}),
    "oncall_reload_failures": ("counter", set()),
    "oncall_webhook_requests": ("counter", {"source", "status"}),
    "oncall_webhooks_rejected": ("counter", {"endpoint", "reason"}),
    "oncall_deliveries": ("counter", {"channel", "outcome", "error_code"}),
    "oncall_pages_held": ("counter", {"channel"}),
    "oncall_escalation_step_lateness_seconds": ("histogram", set()),
    "oncall_source_last_success_timestamp_seconds": ("gauge", {"source", "via"}),
    "oncall_source_silent": ("gauge", {"source"}),
    "oncall_unacknowledged_incidents": ("gauge", set()),
    "oncall_oldest_unacknowledged_incident_age_seconds": ("gauge", set()),
    "oncall_build_info": ("gauge", {"version"}),
}


def exercised() -> Metrics:
    m = Metrics()
    m.tickets_received.labels(source="zendesk", outcome="paged").inc()
    m.tickets_received.labels(source="zendesk", outcome="ignored").inc(2)
    m.tickets_received.labels(source="generic", outcome="rejected").inc()
    m.pages_sent.labels(channel="sms").inc(3)
    m.pages_sent.labels(channel="voice").inc()
    m.pages_failed.labels(channel="sms").inc()
    m.time_to_ack.observe(45)
    m.time_to_ack.observe(400)
    m.escalations.inc()
    m.open_incidents.set(2)
    m.poll_errors.labels(source="freshdesk").inc()
    m.reload_failures.inc()
    m.reloads.inc()
    m.webhook_rejected.labels(endpoint="/webhooks/tickets/generic", reason="signature").inc()
    m.webhook_requests.labels(source="generic", status="202").inc()
    m.delivery("sms", "undelivered", 30003)
    m.delivery("voice", "sent")
    m.pages_held.labels(channel="sms").inc()
    m.step_lateness.observe(0.2)
    m.source_last_success.labels(source="zendesk", via="poll").set(1_796_000_000)
    m.source_silent.labels(source="zendesk").set(0)
    m.unacknowledged_incidents.set(1)
    m.oldest_unacknowledged_age.set(90)
    return m


def parse(m: Metrics) -> dict[str, Metric]:
    text = m.render().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(families: dict[str, Metric], name: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    raise AssertionError(f"no sample {name}{labels}")


def test_every_metric_is_prefixed_oncall() -> None:
    names = [family.name for family in exercised().registry.collect()]
    assert names
    assert [] == [n for n in names if not n.startswith("oncall_")]


def test_every_rendered_sample_is_prefixed_oncall() -> None:
    families = parse(exercised())
    assert [] == [s.name for f in families.values() for s in f.samples if not s.name.startswith("oncall_")]


def test_expected_families_with_types_and_labels() -> None:
    families = parse(exercised())
    for name, (kind, label_names) in EXPECTED.items():
        assert name in families, f"{name} missing from /metrics"
        family = families[name]
        assert kind == family.type, name
        seen = {k for s in family.samples for k in s.labels if k != "le"}
        assert label_names == seen, name


def test_families_are_declared_before_anything_happens() -> None:
    """A fresh daemon exposes every family (with HELP/TYPE) so dashboards and alerts bind."""
    families = parse(Metrics())
    assert set(EXPECTED) <= set(families)
    assert 0.0 == sample(families, "oncall_escalations_total")
    assert 0.0 == sample(families, "oncall_open_incidents")
    assert 0.0 == sample(families, "oncall_time_to_acknowledge_seconds_count")


def test_values_round_trip_through_the_text_format() -> None:
    families = parse(exercised())
    assert 1.0 == sample(families, "oncall_tickets_received_total", source="zendesk", outcome="paged")
    assert 2.0 == sample(families, "oncall_tickets_received_total", source="zendesk", outcome="ignored")
    assert 3.0 == sample(families, "oncall_pages_sent_total", channel="sms")
    assert 1.0 == sample(families, "oncall_pages_failed_total", channel="sms")
    assert 2.0 == sample(families, "oncall_open_incidents")
    assert 1.0 == sample(families, "oncall_poll_errors_total", source="freshdesk")
    assert 1.0 == sample(families, "oncall_reload_failures_total")
    assert 1.0 == sample(families, "oncall_escalations_total")


def test_time_to_acknowledge_histogram_buckets() -> None:
    families = parse(exercised())
    assert 2.0 == sample(families, "oncall_time_to_acknowledge_seconds_count")
    assert 445.0 == sample(families, "oncall_time_to_acknowledge_seconds_sum")
    assert 1.0 == sample(families, "oncall_time_to_acknowledge_seconds_bucket", le="60.0")
    assert 2.0 == sample(families, "oncall_time_to_acknowledge_seconds_bucket", le="600.0")
    assert 2.0 == sample(families, "oncall_time_to_acknowledge_seconds_bucket", le="+Inf")


def test_two_instances_do_not_share_state() -> None:
    a, b = Metrics(), Metrics()
    a.escalations.inc()
    assert 0.0 == sample(parse(b), "oncall_escalations_total")
    assert 1.0 == sample(parse(a), "oncall_escalations_total")


def test_render_is_prometheus_text_with_help_and_type() -> None:
    text = exercised().render().decode()
    assert "# HELP oncall_pages_sent_total" in text
    assert "# TYPE oncall_pages_sent_total counter" in text
    assert 'oncall_pages_sent_total{channel="sms"} 3.0' in text.splitlines()


def test_content_type_is_the_text_format() -> None:
    from oncall.metrics import CONTENT_TYPE

    assert CONTENT_TYPE.startswith("text/plain; version=")


def test_delivery_without_a_provider_code_is_labelled_none() -> None:
    families = parse(exercised())
    assert 1.0 == sample(families, "oncall_deliveries_total", channel="sms", outcome="undelivered",
                         error_code="30003")
    assert 1.0 == sample(families, "oncall_deliveries_total", channel="voice", outcome="sent", error_code="none")


def test_a_failing_refresher_does_not_break_the_scrape() -> None:
    m = Metrics()
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("database is locked")

    m.before_render(broken)
    m.before_render(lambda: calls.append("second"))
    m.before_render(lambda: m.open_incidents.set(3))
    assert 3.0 == sample(parse(m), "oncall_open_incidents")
    assert ["second"] == calls


def test_prometheus_naming_conventions() -> None:
    """Counters end in _total, durations and instants are in seconds, nothing in milliseconds."""
    families = parse(exercised())
    for name, family in families.items():
        if name.endswith("_created"):
            continue  # prometheus_client's creation-time companions of counters and histograms
        if family.type == "counter":
            assert any(s.name == name + "_total" for s in family.samples) or not family.samples, name
        assert not name.endswith(("_ms", "_milliseconds", "_minutes")), name
        if {"timestamp", "age", "lateness"} & set(name.split("_")):
            assert name.endswith("_seconds"), name


def test_every_family_is_in_the_readme_table(root: Path) -> None:
    """The README's metrics table names every family /metrics exposes."""
    readme = (root / "README.md").read_text()
    rows = set(re.findall(r"^\| `(oncall_\w+)` \|", readme, re.MULTILINE))
    exposed = set()
    for family in Metrics().registry.collect():
        exposed.add(family.name + "_total" if family.type == "counter" else family.name)
    assert set() == exposed - rows
    assert set() == rows - exposed

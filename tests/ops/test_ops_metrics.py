"""/metrics: Prometheus text exposition, every name prefixed ``oncall_``, the families issue 7 names."""

from __future__ import annotations

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

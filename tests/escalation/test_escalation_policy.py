"""Escalation policy configuration: parsing, defaults, cross-checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from pydantic import ValidationError

from oncall.escalation.messages import PageSubject, bundle_text, page_text
from oncall.escalation.policy import (
    ContactMode,
    EscalationPolicy,
    NotificationSettings,
    check_notifications,
    check_policies,
    policy_schedule_ids,
)
from oncall.interfaces import Channel
from oncall.notify.messages import gsm7_segments

EXAMPLE = """
escalation_policies:
  - id: primary
    name: Primary after-hours
    steps:
      - targets: [{schedule: primary}]
        contact: own
        delay: 15m
      - targets: [{schedule: secondary}, {person: bob}]
        contact: both
        delay: 10m
      - targets: [{schedule_members: primary}]
        contact: voice
        delay: 10m
    repeat: 2
    notify_admins_when_exhausted: true
notifications:
  admins: [alice]
  sms: {min_interval: 2m}
  voice: {min_interval: 5m}
  email: {min_interval: 1m}
"""


def load() -> tuple[tuple[EscalationPolicy, ...], NotificationSettings]:
    data = yaml.safe_load(EXAMPLE)
    return (tuple(EscalationPolicy.model_validate(p) for p in data["escalation_policies"]),
            NotificationSettings.model_validate(data["notifications"]))


def test_example_parses() -> None:
    (policy,), settings = load()
    assert 3 == len(policy.steps) and 3 == policy.rounds
    assert ContactMode.BOTH == policy.steps[1].contact
    assert timedelta(minutes=10) == policy.steps[2].delay
    assert timedelta(minutes=5) == settings.min_interval(Channel.VOICE)
    assert {"primary", "secondary"} == policy_schedule_ids([policy])


def test_policy_is_hashable_and_forever_parses() -> None:
    p = EscalationPolicy.model_validate({"id": "x", "steps": [{"targets": {"person": "a"}}],
                                         "repeat": "forever"})
    assert p.forever and p.rounds is None
    assert hash(p) == hash(p.model_copy())


@pytest.mark.parametrize(("data", "message"), [
    ({"id": "x", "steps": [{"targets": [{"person": "a", "schedule": "s"}]}]}, "exactly one"),
    ({"id": "x", "steps": [{"targets": [{}]}]}, "exactly one"),
    ({"id": "x", "steps": [{"targets": []}]}, "at least 1"),
    ({"id": "x", "steps": [{"targets": [{"person": "a"}], "contact": "pager"}]}, "contact"),
    ({"id": "x", "repeat": -1}, "repeat must be 0 or more"),
    ({"id": "x", "repeat": "always"}, "forever"),
    ({"id": "x", "steps": [{"targets": [{"person": "a"}], "delay": "soon"}]}, "not a duration"),
    ({"id": "x", "colour": "red"}, "Extra inputs"),
])
def test_bad_policies_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EscalationPolicy.model_validate(data)


def test_check_policies_finds_unknown_targets_empty_steps_duplicates() -> None:
    (policy,), _ = load()
    empty = EscalationPolicy(id="empty")
    findings = check_policies((policy, empty, policy), people_ids={"alice"},
                              schedule_ids={"primary"})
    messages = [(f.path, f.message) for f in findings]
    assert (("escalation_policies", 0, "steps", 1, "targets", 0, "schedule"),
            "policy 'primary' step 2 names unknown schedule 'secondary'") in messages
    assert (("escalation_policies", 0, "steps", 1, "targets", 1, "person"),
            "policy 'primary' step 2 names unknown person 'bob'") in messages
    assert (("escalation_policies", 1, "steps"), "escalation policy 'empty' has no steps") in (
        messages)
    assert any(p == ("escalation_policies", 2, "id") and "duplicate" in m for p, m in messages)


def test_clean_policies_have_no_findings() -> None:
    (policy,), settings = load()
    assert [] == check_policies([policy], people_ids={"bob", "alice"},
                                schedule_ids={"primary", "secondary"})
    assert [] == check_notifications(settings, people_ids={"alice"})
    assert ["unknown admin person 'alice'"] == [
        f.message for f in check_notifications(settings, people_ids=set())]


def test_page_texts_fit_an_sms() -> None:
    page = PageSubject(incident_id=481, short_code=3, priority="urgent", customer="acme",
                       subject="Production down " * 20, ticket_id="T-1001")
    text = page_text(page)
    assert len(text) <= 160
    assert text.startswith("URGENT #3 acme: Production down")
    assert text.endswith("(ticket T-1001). Reply 3a ack, 3e escalate")
    many = bundle_text([page] * 12)
    assert len(many) <= 160 and many.startswith("12 new urgent incidents, oldest #3: acme Production down")
    assert many.endswith("Reply AA to ack all")
    assert 1 == gsm7_segments(text) == gsm7_segments(many)


def test_a_call_reads_the_spoken_script_not_the_sms_wording() -> None:
    page = PageSubject(incident_id=7, short_code=1, priority="urgent", customer="Acme",
                       subject="production down", ticket_id="T-1")
    spoken = page_text(page, Channel.VOICE)
    assert spoken.startswith("Urgent ticket from Acme: production down.")
    assert "Press 4 to acknowledge, 5 to escalate, star to repeat" in spoken
    assert "Reply" not in spoken

"""preview_page: who a page would reach first, by which channel, and when the next step fires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from oncall.escalation.directory import Contact
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.preview import preview_page
from oncall.interfaces import Channel
from oncall.testing.paging import FakeDirectory, person

LA = ZoneInfo("America/Los_Angeles")
SMS, VOICE = Channel.SMS, Channel.VOICE
DIRECTORY = FakeDirectory(
    contacts={"ann": person("ann", SMS, VOICE, phone="+14155550101"),
              "bob": person("bob", VOICE, SMS, phone="+14155550102"),
              "cat": Contact(person_id="cat", phone="+14155550103", methods=()),  # nothing usable
              "adm": person("adm", SMS, VOICE, phone="+14155550104")},
    on_call_map={"primary": ("ann",), "empty": ()}, admin_ids=("adm",))


def policy(*steps: dict[str, object], repeat: object = 0) -> EscalationPolicy:
    return EscalationPolicy.model_validate({"id": "p", "steps": list(steps), "repeat": repeat})


@dataclass(frozen=True)
class Case:
    policy: EscalationPolicy
    now: datetime
    would_page: list[tuple[str, str, str]]
    next_step_at: str | None
    notes: list[str]


CASES = [
    pytest.param(Case(policy({"targets": [{"schedule": "primary"}], "contact": "own", "delay": "10m"}),
                      datetime(2026, 11, 28, 3, 0, tzinfo=LA), [("ann", "sms", "+1******0101")],
                      "2026-11-28T03:10:00-08:00", []), id="on-call-person-by-own-first-method"),
    pytest.param(Case(policy({"targets": [{"person": "bob"}], "contact": "both", "delay": "5m"}),
                      datetime(2026, 11, 28, 3, 0, tzinfo=LA),
                      [("bob", "sms", "+1******0102"), ("bob", "voice", "+1******0102")],
                      "2026-11-28T03:05:00-08:00", []), id="both-channels"),
    pytest.param(Case(policy({"targets": [{"schedule": "primary"}], "delay": "10m"}),
                      datetime(2026, 11, 1, 1, 55, tzinfo=LA), [("ann", "sms", "+1******0101")],
                      "2026-11-01T01:05:00-08:00", []),
                 id="delay-across-fall-back-is-real-time-shown-with-the-new-offset"),
    pytest.param(Case(policy({"targets": [{"schedule": "empty"}], "delay": "10m"},
                             {"targets": [{"person": "bob"}], "contact": "voice", "delay": "15m"}),
                      datetime(2026, 11, 28, 3, 0, tzinfo=LA), [("bob", "voice", "+1******0102")],
                      "2026-11-28T03:15:00-08:00", ["round 1 step 1: targets resolve to nobody"]),
                 id="step-with-nobody-on-call-is-skipped-at-once"),
    pytest.param(Case(policy({"targets": [{"person": "cat"}], "delay": "10m"}, repeat="forever"),
                      datetime(2026, 11, 28, 3, 0, tzinfo=LA), [], "2026-11-28T03:05:00-08:00",
                      ["round 1 step 1: no usable contact method",
                       "round 1 step 1: targets resolve to nobody reachable"]),
                 id="nobody-reachable-retries-in-five-minutes"),
    pytest.param(Case(policy({"targets": [{"schedule": "empty"}], "delay": "10m"}),
                      datetime(2026, 11, 28, 3, 0, tzinfo=LA), [], None,
                      ["round 1 step 1: targets resolve to nobody", "policy 'p' exhausted after 1 round(s)"]),
                 id="nobody-on-call-and-the-policy-ends"),
]


@pytest.mark.parametrize("case", CASES)
def test_preview_follows_the_engine(case: Case) -> None:
    found = preview_page(case.policy, DIRECTORY, case.now, LA)
    assert case.would_page == [(p.person, p.channel.value, p.to) for p in found.would_page]
    assert all(p.at == case.now for p in found.would_page)
    assert case.next_step_at == (found.next_step_at.isoformat() if found.next_step_at else None)
    assert case.notes == list(found.notes)


def test_nobody_is_said_plainly_with_the_admins_told() -> None:
    found = preview_page(policy({"targets": [{"schedule": "empty"}], "delay": "10m"}, repeat="forever"),
                         DIRECTORY, datetime(2026, 11, 28, 3, 0, tzinfo=LA), LA)
    assert ["  would page now: NOBODY",
            "    - round 1 step 1: targets resolve to nobody",
            "  admins told: adm by sms to +1******0104",
            "  next step: 2026-11-28T03:05:00-08:00, if nobody acknowledges"] == found.lines()

"""The engine tells admins by the channels of each alert's severity: a STOP never rings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from oncall.escalation.alerting import AdminAlertChannels
from oncall.escalation.engine import step
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.state import DeliveryFailed, IncidentState, Notify, Record, new_state
from oncall.interfaces import Channel
from oncall.testing.paging import FakeDirectory, person

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SMS, VOICE, EMAIL = Channel.SMS, Channel.VOICE, Channel.EMAIL
ONE_STEP = EscalationPolicy.model_validate(
    {"id": "p", "steps": [{"targets": [{"person": "ann"}], "contact": "sms", "delay": "5m"}]})


def stop_from_ann(d: FakeDirectory) -> list[object]:
    """Ann's SMS is refused because she texted STOP: the admins hear of it (a warning)."""
    state, _ = step(new_state(1, T0), ONE_STEP, d, T0)
    blocked = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="21610",
                             sms_blocked=True)
    _, actions = step(state, ONE_STEP, d, T0, [blocked])
    return list(actions)


def exhausted(d: FakeDirectory) -> list[object]:
    """Nobody acknowledged in the one round: paging failed (critical)."""
    state: IncidentState = new_state(1, T0)
    everything: list[object] = []
    for minutes in (0, 5):
        state, actions = step(state, ONE_STEP, d, T0 + timedelta(minutes=minutes))
        everything.extend(actions)
    return everything


def admin_channels(actions: list[object]) -> list[Channel]:
    return [a.channel for a in actions if isinstance(a, Notify) and a.person_id == "adm"]


@dataclass(frozen=True)
class Case:
    admin_methods: tuple[Channel, ...]
    chosen: AdminAlertChannels | None
    expected: list[Channel]


@pytest.mark.parametrize(("alert", "case"), [
    pytest.param(stop_from_ann, Case((VOICE, SMS), None, [SMS]), id="warning-by-sms-though-voice-comes-first"),
    pytest.param(stop_from_ann, Case((VOICE,), None, [SMS]), id="warning-by-sms-though-only-voice-is-listed"),
    pytest.param(stop_from_ann, Case((VOICE, SMS), AdminAlertChannels(warning=(EMAIL,)), [EMAIL]),
                 id="warning-by-the-admins-own-choice"),
    pytest.param(exhausted, Case((VOICE, SMS), None, [VOICE]), id="critical-by-own-contact-methods"),
    pytest.param(exhausted, Case((VOICE, SMS), AdminAlertChannels(critical=(SMS,)), [SMS]),
                 id="critical-by-the-admins-own-choice"),
])
def test_admin_notifications_follow_the_severity(alert: Callable[[FakeDirectory], list[object]],
                                                 case: Case) -> None:
    d = FakeDirectory(contacts={"ann": person("ann", SMS), "adm": person("adm", *case.admin_methods)},
                      admin_ids=("adm",), admin_alerts={"adm": case.chosen} if case.chosen else {})
    assert case.expected == admin_channels(alert(d))


def test_an_admin_without_a_channel_for_warnings_is_recorded_not_called() -> None:
    no_phone_for_sms = person("adm", VOICE, SMS)
    d = FakeDirectory(contacts={"ann": person("ann", SMS), "adm": no_phone_for_sms}, admin_ids=("adm",),
                      admin_alerts={"adm": AdminAlertChannels(warning=())})
    actions = stop_from_ann(d)
    assert [] == admin_channels(actions)
    assert ["admin adm has no usable channel for warning alerts"] == [
        a.detail for a in actions if isinstance(a, Record) and a.kind == "admin_unreachable"]

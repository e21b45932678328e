"""The pure escalation engine, driven on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.escalation.engine import EMPTY_ROUND_RETRY, plan_channels, step
from oncall.escalation.policy import ContactMode, EscalationPolicy
from oncall.escalation.state import (
    Ack,
    Cancel,
    DeliveryFailed,
    Escalate,
    Exhausted,
    IncidentState,
    IncidentStatus,
    Notify,
    Record,
    Resolve,
    WakeAt,
    new_state,
    state_from_json,
    state_to_json,
)
from oncall.interfaces import Channel
from oncall.testing.paging import FakeDirectory, person

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SMS, VOICE, EMAIL = Channel.SMS, Channel.VOICE, Channel.EMAIL


def policy(*steps: dict[str, object], repeat: object = 0, admins: bool = True) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {"id": "p", "steps": list(steps), "repeat": repeat,
         "notify_admins_when_exhausted": admins})


def directory(**on_call: tuple[str, ...]) -> FakeDirectory:
    return FakeDirectory(
        contacts={p: person(p) for p in ("ann", "bob", "cat", "dan", "adm")},
        on_call_map=on_call, members_map={"primary": ("ann", "bob")}, admin_ids=("adm",))


def notified(actions: list[object]) -> list[tuple[str, str]]:
    return [(a.person_id, a.channel.value) for a in actions if isinstance(a, Notify)]


def kinds(actions: list[object]) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Record)]


TWO_STEPS = policy({"targets": [{"schedule": "primary"}], "contact": "sms", "delay": "15m"},
                   {"targets": [{"person": "bob"}], "contact": "voice", "delay": "10m"})


def test_first_step_fires_immediately_and_waits_its_delay() -> None:
    state, actions = step(new_state(1, T0), TWO_STEPS, directory(primary=("ann",)), T0)
    assert [("ann", "sms")] == notified(actions)
    assert WakeAt(at=T0 + timedelta(minutes=15)) in actions
    assert (0, 0) == (state.round, state.step)


def test_nothing_happens_before_the_delay_elapses() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state2, actions = step(state, TWO_STEPS, d, T0 + timedelta(minutes=14, seconds=59))
    assert [] == notified(actions)
    assert state == state2


def test_second_step_fires_when_the_delay_elapses() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, actions = step(state, TWO_STEPS, d, T0 + timedelta(minutes=15))
    assert [("bob", "voice")] == notified(actions)
    assert (0, 1) == (state.round, state.step)


def test_empty_step_is_skipped_at_once_and_recorded() -> None:
    state, actions = step(new_state(1, T0), TWO_STEPS, directory(primary=()), T0)
    assert [("bob", "voice")] == notified(actions)
    assert "step_skipped" in kinds(actions)
    assert T0 + timedelta(minutes=10) == state.next_action_at


def test_on_call_is_resolved_at_the_instant_the_step_fires() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    switch = datetime(2026, 3, 29, 3, 0, tzinfo=berlin)  # DST day: shift change after the gap
    d = directory(primary=lambda t: ("ann",) if t < switch else ("cat",))  # type: ignore[arg-type]
    p = policy({"targets": [{"schedule": "primary"}], "contact": "sms", "delay": "30m"},
               repeat=1)
    start = datetime(2026, 3, 29, 1, 45, tzinfo=berlin)
    state, a1 = step(new_state(1, start), p, d, start)
    later = (start.astimezone(UTC) + timedelta(minutes=30)).astimezone(berlin)  # 03:15 CEST
    assert later == state.next_action_at  # 30 real minutes, not wall-clock minutes
    state, a2 = step(state, p, d, later)
    assert [("ann", "sms")] == notified(a1)
    assert [("cat", "sms")] == notified(a2)


def run_until(state: IncidentState, p: EscalationPolicy, d: FakeDirectory, end: datetime
              ) -> tuple[IncidentState, list[object]]:
    everything: list[object] = []
    now = state.next_action_at or T0
    while state.next_action_at is not None and state.next_action_at <= end:
        now = state.next_action_at
        state, actions = step(state, p, d, now)
        everything.extend(actions)
    return state, everything


@pytest.mark.parametrize(("repeat", "rounds"), [(0, 1), (1, 2), (3, 4)])
def test_repeat_n_gives_n_plus_one_rounds_then_exhausts(repeat: int, rounds: int) -> None:
    p = policy({"targets": [{"person": "ann"}], "contact": "sms", "delay": "5m"},
               {"targets": [{"person": "bob"}], "contact": "sms", "delay": "5m"}, repeat=repeat)
    state, actions = run_until(new_state(1, T0), p, directory(), T0 + timedelta(days=1))
    pages = [a for a in actions if isinstance(a, Notify) and a.purpose == "page"]
    assert rounds * 2 == len(pages)
    assert state.exhausted
    assert state.next_action_at is None
    assert IncidentStatus.TRIGGERED == state.status  # still open: someone can still ack


def test_exhaustion_notifies_admins() -> None:
    p = policy({"targets": [{"person": "ann"}], "contact": "sms", "delay": "5m"})
    _, actions = run_until(new_state(1, T0), p, directory(), T0 + timedelta(hours=1))
    admin = [a for a in actions if isinstance(a, Notify) and a.purpose == "exhausted"]
    assert ["adm"] == [a.person_id for a in admin]
    assert any(isinstance(a, Exhausted) for a in actions)


def test_exhaustion_without_admin_flag_notifies_nobody_extra() -> None:
    p = policy({"targets": [{"person": "ann"}], "contact": "sms", "delay": "5m"}, admins=False)
    _, actions = run_until(new_state(1, T0), p, directory(), T0 + timedelta(hours=1))
    assert ["ann"] == [a.person_id for a in actions if isinstance(a, Notify)]


def test_forever_keeps_paging() -> None:
    p = policy({"targets": [{"person": "ann"}], "contact": "sms", "delay": "10m"},
               repeat="forever")
    state, actions = run_until(new_state(1, T0), p, directory(), T0 + timedelta(hours=10))
    assert 61 == len(notified(actions))
    assert not state.exhausted


def test_forever_with_nobody_waits_instead_of_spinning() -> None:
    p = policy({"targets": [{"schedule": "empty"}], "delay": "10m"}, repeat="forever")
    state, actions = step(new_state(1, T0), p, directory(), T0)
    assert T0 + EMPTY_ROUND_RETRY == state.next_action_at
    assert ["adm"] == [a.person_id for a in actions if isinstance(a, Notify)]


def test_finite_policy_reaching_nobody_exhausts_at_once() -> None:
    p = policy({"targets": [{"schedule": "empty"}], "delay": "10m"}, repeat=2)
    state, actions = step(new_state(1, T0), p, directory(), T0)
    assert state.exhausted
    assert 3 == kinds(actions).count("step_skipped")


def test_own_contact_mode_walks_methods_in_order_on_failure() -> None:
    d = directory()
    d.contacts["ann"] = person("ann", VOICE, SMS, EMAIL)
    p = policy({"targets": [{"person": "ann"}], "contact": "own", "delay": "15m"})
    state, a1 = step(new_state(1, T0), p, d, T0)
    assert [("ann", "voice")] == notified(a1)
    later = T0 + timedelta(minutes=1)
    fail = DeliveryFailed(person_id="ann", channel=VOICE, round=0, step=0, reason="no-answer")
    state, a2 = step(state, p, d, later, [fail])
    assert [("ann", "sms")] == notified(a2)
    assert [2] == [a.attempt for a in a2 if isinstance(a, Notify)]
    assert T0 + timedelta(minutes=15) == state.next_action_at  # step delay unchanged
    fail2 = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="undelivered")
    state, a3 = step(state, p, d, later, [fail2])
    assert [("ann", "email")] == notified(a3)
    fail3 = DeliveryFailed(person_id="ann", channel=EMAIL, round=0, step=0, reason="bounced")
    _, a4 = step(state, p, d, later, [fail3])
    assert [] == notified(a4)
    assert "unreachable" in kinds(a4)


def test_stale_delivery_failure_from_an_earlier_step_changes_nothing() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, _ = step(state, TWO_STEPS, d, T0 + timedelta(minutes=15))
    old = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="failed")
    _, actions = step(state, TWO_STEPS, d, T0 + timedelta(minutes=16), [old])
    assert [] == notified(actions)


def test_both_mode_fails_over_only_when_both_channels_failed() -> None:
    d = directory()
    d.contacts["ann"] = person("ann", SMS, VOICE, EMAIL)
    p = policy({"targets": [{"person": "ann"}], "contact": "both", "delay": "15m"})
    state, a1 = step(new_state(1, T0), p, d, T0)
    assert [("ann", "sms"), ("ann", "voice")] == notified(a1)
    f = [DeliveryFailed(person_id="ann", channel=c, round=0, step=0, reason="x")
         for c in (SMS, VOICE)]
    state, a2 = step(state, p, d, T0, f[:1])
    assert [] == notified(a2)
    _, a3 = step(state, p, d, T0, f[1:])
    assert [("ann", "email")] == notified(a3)


def test_sms_blocked_person_is_called_and_admins_alerted() -> None:
    d = directory()
    d.contacts["ann"] = person("ann", SMS)
    p = policy({"targets": [{"person": "ann"}], "contact": "sms", "delay": "15m"})
    state, _ = step(new_state(1, T0), p, d, T0)
    blocked = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="21610",
                             sms_blocked=True)
    _, actions = step(state, p, d, T0, [blocked])
    assert ("ann", "voice") in notified(actions)
    assert ("adm", "sms") in notified(actions)


def test_plan_skips_channels_without_address() -> None:
    c = person("ann", SMS, EMAIL)
    c = type(c)(person_id="ann", phone=None, email="a@x.test", methods=(SMS, EMAIL))
    assert ((EMAIL,),) == plan_channels(c, ContactMode.OWN)


def test_ack_stops_everything() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, actions = step(state, TWO_STEPS, d, T0 + timedelta(minutes=1), [Ack(actor="ann")])
    assert IncidentStatus.ACKNOWLEDGED == state.status
    assert state.next_action_at is None
    assert not any(isinstance(a, WakeAt) for a in actions)
    _, later = step(state, TWO_STEPS, d, T0 + timedelta(hours=5))
    assert [] == notified(later)


def test_ack_then_late_delivery_failure_pages_nobody() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    fail = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="failed")
    _, actions = step(state, TWO_STEPS, d, T0, [Ack(actor="ann"), fail])
    assert [] == notified(actions)


def test_escalate_advances_to_next_step_now() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    now = T0 + timedelta(minutes=2)
    state, actions = step(state, TWO_STEPS, d, now, [Escalate(actor="ann")])
    assert [("bob", "voice")] == notified(actions)
    assert now + timedelta(minutes=10) == state.next_action_at


def test_escalate_after_ack_retriggers() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, _ = step(state, TWO_STEPS, d, T0, [Ack(actor="ann")])
    state, actions = step(state, TWO_STEPS, d, T0, [Escalate(actor="ann")])
    assert IncidentStatus.TRIGGERED == state.status
    assert [("bob", "voice")] == notified(actions)


def test_escalate_on_exhausted_policy_is_ignored() -> None:
    p = policy({"targets": [{"person": "ann"}], "delay": "5m"}, admins=False)
    state, _ = run_until(new_state(1, T0), p, directory(), T0 + timedelta(hours=1))
    _, actions = step(state, p, directory(), T0 + timedelta(hours=2), [Escalate(actor="ann")])
    assert "ignored" in kinds(actions)
    assert [] == notified(actions)


@pytest.mark.parametrize(("event", "status"), [
    (Resolve(actor="ann"), IncidentStatus.RESOLVED),
    (Cancel(reason="ticket solved"), IncidentStatus.CANCELLED),
])
def test_resolve_and_cancel_close_the_incident(event: object, status: IncidentStatus) -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, _ = step(state, TWO_STEPS, d, T0, [event])  # type: ignore[list-item]
    assert status == state.status
    assert state.next_action_at is None


def test_overdue_steps_fire_once_not_once_per_missed_delay() -> None:
    d = directory(primary=("ann",))
    state, _ = step(new_state(1, T0), TWO_STEPS, d, T0)
    state, actions = step(state, TWO_STEPS, d, T0 + timedelta(hours=3))  # daemon was down
    assert [("bob", "voice")] == notified(actions)
    assert T0 + timedelta(hours=3, minutes=10) == state.next_action_at


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        step(new_state(1, T0), TWO_STEPS, directory(), datetime(2026, 1, 1))


def test_state_json_round_trip_keeps_cursors_and_events() -> None:
    d = directory()
    d.contacts["ann"] = person("ann", VOICE, SMS)
    p = policy({"targets": [{"person": "ann"}], "contact": "own"})
    state, _ = step(new_state(7, T0), p, d, T0)
    state = state.queue(DeliveryFailed(person_id="ann", channel=VOICE, round=0, step=0,
                                       reason="busy"))
    state = state.queue(Escalate(actor="ann", via="sms"))
    assert T0 == state.wake_at(T0)
    assert state == state_from_json(state_to_json(state))

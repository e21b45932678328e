"""A policy's acknowledgement timeout, in the pure engine on an injected clock: an incident
acknowledged but not resolved in time is triggered again, pages whoever acknowledged first,
then escalates as usual."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.escalation.engine import step, transition
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.state import (
    Ack,
    Escalate,
    Event,
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
from oncall.testing.paging import FakeDirectory, person

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
MIN = timedelta(minutes=1)


def policy(ack_timeout: str | None = "30m", repeat: object = 0) -> EscalationPolicy:
    data: dict[str, object] = {"id": "p", "repeat": repeat, "steps": [
        {"targets": [{"schedule": "primary"}], "contact": "sms", "delay": "15m"},
        {"targets": [{"person": "bob"}], "contact": "voice", "delay": "10m"}]}
    if ack_timeout is not None:
        data["ack_timeout"] = ack_timeout
    return EscalationPolicy.model_validate(data)


DIRECTORY = FakeDirectory(contacts={p: person(p) for p in ("ann", "bob", "adm")},
                          on_call_map={"primary": ("ann",)}, admin_ids=("adm",))


def notified(actions: list[object]) -> list[tuple[str, str]]:
    return [(a.person_id, a.channel.value) for a in actions if isinstance(a, Notify)]


def kinds(actions: list[object]) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Record)]


def wakes(actions: list[object]) -> list[datetime]:
    return [a.at for a in actions if isinstance(a, WakeAt)]


@dataclass(frozen=True)
class Moment:
    """At ``after`` from the first page, apply ``events``; expect this status and these pages."""

    after: timedelta
    events: tuple[Event, ...]
    status: IncidentStatus
    pages: tuple[tuple[str, str], ...] = ()
    wake: timedelta | None = None  # the WakeAt, from the first page


ACK_ANN = (Ack(actor="ann", via="sms"),)
CASES = [
    pytest.param("30m", [
        Moment(5 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=35 * MIN),
        Moment(35 * MIN - timedelta(seconds=1), (), IncidentStatus.ACKNOWLEDGED, wake=35 * MIN),
        # ann by her own methods (sms first), then the current step's 15-minute delay
        Moment(35 * MIN, (), IncidentStatus.TRIGGERED, (("ann", "sms"),), wake=50 * MIN),
        Moment(50 * MIN, (), IncidentStatus.TRIGGERED, (("bob", "voice"),), wake=60 * MIN),
    ], id="returns-pages-the-acknowledger-then-escalates"),
    pytest.param(None, [
        Moment(5 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=None),
        Moment(600 * MIN, (), IncidentStatus.ACKNOWLEDGED, wake=None),
    ], id="no-timeout-an-acknowledgement-lasts"),
    pytest.param("30m", [
        Moment(5 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=35 * MIN),
        Moment(20 * MIN, (Resolve(actor="ann"),), IncidentStatus.RESOLVED, wake=None),
        Moment(35 * MIN, (), IncidentStatus.RESOLVED, wake=None),
    ], id="resolved-in-time-stays-resolved"),
    pytest.param("30m", [
        Moment(5 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=35 * MIN),
        Moment(35 * MIN, (), IncidentStatus.TRIGGERED, (("ann", "sms"),), wake=50 * MIN),
        Moment(40 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=70 * MIN),
        Moment(70 * MIN, (), IncidentStatus.TRIGGERED, (("ann", "sms"),), wake=85 * MIN),
    ], id="each-acknowledgement-starts-a-new-timeout"),
    pytest.param("30m", [
        Moment(5 * MIN, (Ack(actor="someone-on-the-web", via="web"),), IncidentStatus.ACKNOWLEDGED,
               wake=35 * MIN),
        Moment(35 * MIN, (), IncidentStatus.TRIGGERED, (("bob", "voice"),), wake=45 * MIN),
    ], id="an-acknowledger-who-cannot-be-paged-escalates-at-once"),
    pytest.param("30m", [
        Moment(5 * MIN, ACK_ANN, IncidentStatus.ACKNOWLEDGED, wake=35 * MIN),
        Moment(10 * MIN, (Escalate(actor="ann"),), IncidentStatus.TRIGGERED, (("bob", "voice"),),
               wake=20 * MIN),
    ], id="escalating-clears-the-timeout"),
]


@pytest.mark.parametrize(("timeout", "moments"), CASES)
def test_ack_timeout(timeout: str | None, moments: list[Moment]) -> None:
    p = policy(timeout)
    state, _ = step(new_state(1, T0), p, DIRECTORY, T0)
    for m in moments:
        state, actions = step(state, p, DIRECTORY, T0 + m.after, m.events)
        assert m.status == state.status, m
        assert list(m.pages) == notified(actions), m
        assert ([T0 + m.wake] if m.wake is not None else []) == wakes(actions), m


def test_the_return_is_recorded_with_who_acknowledged_and_the_timeout() -> None:
    p = policy("30m")
    state, _ = step(new_state(1, T0), p, DIRECTORY, T0)
    state, actions = step(state, p, DIRECTORY, T0 + 5 * MIN, ACK_ANN)
    [acked] = [a for a in actions if isinstance(a, Record) and a.kind == "acknowledged"]
    assert "ack timeout 30m: triggered again at 2026-11-26T02:35:00+00:00" in acked.detail
    state, actions = step(state, p, DIRECTORY, T0 + 35 * MIN)
    [back] = [a for a in actions if isinstance(a, Record) and a.kind == "ack_timeout"]
    assert ("acknowledged by ann but neither resolved nor the ticket solved within 30m: "
            "triggered again, paging ann first") == back.detail
    assert ["ack_timeout"] == kinds(actions)  # the acknowledger is paged; no step fires yet


@pytest.mark.parametrize(("ack_at", "expected"), [
    # 01:50 EDT on the fall-back night: 30 real minutes later is 01:20 EST (the second 01:20).
    pytest.param(datetime(2026, 11, 1, 1, 50, tzinfo=NY), datetime(2026, 11, 1, 1, 20, fold=1, tzinfo=NY),
                 id="fall-back"),
    # 01:50 EST on the spring-forward night: 30 real minutes later is 03:20 EDT.
    pytest.param(datetime(2026, 3, 8, 1, 50, tzinfo=NY), datetime(2026, 3, 8, 3, 20, tzinfo=NY),
                 id="spring-forward"),
])
def test_the_timeout_counts_real_time_across_a_dst_change(ack_at: datetime, expected: datetime) -> None:
    p = policy("30m")
    start = ack_at - 5 * MIN
    state, _ = step(new_state(1, start), p, DIRECTORY, start)
    state, actions = step(state, p, DIRECTORY, ack_at, ACK_ANN)
    assert [expected.astimezone(UTC)] == wakes(actions)
    assert timedelta(minutes=30) == expected.astimezone(UTC) - ack_at.astimezone(UTC)
    state, actions = step(state, p, DIRECTORY, expected - timedelta(seconds=1))
    assert IncidentStatus.ACKNOWLEDGED == state.status
    state, actions = step(state, p, DIRECTORY, expected)
    assert (IncidentStatus.TRIGGERED, [("ann", "sms")]) == (state.status, notified(actions))


def test_an_exhausted_policy_pages_the_acknowledger_and_ends_there() -> None:
    p = policy("30m")
    state, _ = step(new_state(1, T0), p, DIRECTORY, T0)
    state, _ = step(state, p, DIRECTORY, T0 + 15 * MIN)
    state, _ = step(state, p, DIRECTORY, T0 + 25 * MIN)  # exhausted
    assert state.exhausted
    state, _ = step(state, p, DIRECTORY, T0 + 26 * MIN, (Ack(actor="bob"),))
    state, actions = step(state, p, DIRECTORY, T0 + 56 * MIN)
    assert (IncidentStatus.TRIGGERED, [("bob", "sms")], []) == (state.status, notified(actions), wakes(actions))


def test_the_service_transition_takes_the_policys_timeout() -> None:
    state, _ = transition(IncidentState(incident_id=1), Ack(actor="ann"), T0,
                          ack_timeout=timedelta(minutes=30))
    assert (IncidentStatus.ACKNOWLEDGED, T0 + 30 * MIN, "ann") == (
        state.status, state.next_action_at, state.acked_by)
    assert state == state_from_json(state_to_json(state))


def test_a_zero_ack_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="ack_timeout must be longer than 0"):
        policy("0m")

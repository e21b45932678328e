"""People's own notification rules (``notify``) in the pure engine, on an injected clock: each
entry goes out at its offset from the moment a step pages the person, until somebody
acknowledges; later steps add people and never cut a chain short."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from oncall.escalation.engine import step
from oncall.escalation.policy import EscalationPolicy
from oncall.escalation.state import (
    Ack,
    Event,
    IncidentStatus,
    Notify,
    Record,
    WakeAt,
    new_state,
    state_from_json,
    state_to_json,
)
from oncall.interfaces import Channel
from oncall.testing.paging import FakeDirectory, person

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SMS, VOICE = Channel.SMS, Channel.VOICE
# sms at 0m, voice at 2m, voice at 5m repeated 3 more times every 5m.
ANN_CHAIN = ((SMS, 0 * MIN), (VOICE, 2 * MIN), (VOICE, 5 * MIN), (VOICE, 10 * MIN), (VOICE, 15 * MIN),
             (VOICE, 20 * MIN))


def directory(*, ann_blocked: bool = False) -> FakeDirectory:
    ann = replace(person("ann", sms_blocked=ann_blocked), chain=ANN_CHAIN)
    bob = replace(person("bob"), chain=((SMS, 0 * MIN), (VOICE, 1 * MIN)))
    return FakeDirectory(contacts={"ann": ann, "bob": bob, "cat": person("cat")},
                         on_call_map={"primary": ("ann",)}, admin_ids=("cat",))


def policy(contact: str = "own", repeat: object = 0) -> EscalationPolicy:
    return EscalationPolicy.model_validate({"id": "p", "repeat": repeat, "steps": [
        {"targets": [{"schedule": "primary"}], "contact": contact, "delay": "15m"},
        {"targets": [{"person": "bob"}, {"person": "cat"}], "contact": "own", "delay": "10m"}]})


def notified(actions: list[object]) -> list[tuple[str, str]]:
    return [(a.person_id, a.channel.value) for a in actions if isinstance(a, Notify)]


@dataclass(frozen=True)
class Moment:
    after: timedelta  # from the first page
    pages: tuple[tuple[str, str], ...]
    wake: timedelta | None  # the WakeAt, from the first page
    events: tuple[Event, ...] = ()


CASES = [
    pytest.param("own", [
        Moment(0 * MIN, (("ann", "sms"),), 2 * MIN),
        Moment(2 * MIN, (("ann", "voice"),), 5 * MIN),
        Moment(5 * MIN, (("ann", "voice"),), 10 * MIN),
        Moment(10 * MIN, (("ann", "voice"),), 15 * MIN),
        # step 2 adds bob (his own chain) and cat (today's behaviour); ann's chain goes on
        Moment(15 * MIN, (("cat", "sms"), ("ann", "voice"), ("bob", "sms")), 16 * MIN),
        Moment(16 * MIN, (("bob", "voice"),), 20 * MIN),
        Moment(20 * MIN, (("ann", "voice"),), 25 * MIN),
    ], id="the-chain-runs-and-a-later-step-adds-people"),
    pytest.param("own", [
        Moment(0 * MIN, (("ann", "sms"),), 2 * MIN),
        Moment(3 * MIN, (), None, (Ack(actor="ann"),)),
        Moment(30 * MIN, (), None),
    ], id="an-acknowledgement-ends-the-chain"),
    pytest.param("own", [
        Moment(0 * MIN, (("ann", "sms"),), 2 * MIN),
        Moment(12 * MIN, (("ann", "voice"),), 15 * MIN),  # 2m, 5m and 10m overdue: one call
    ], id="overdue-entries-go-out-once-per-channel"),
    pytest.param("voice", [
        Moment(0 * MIN, (("ann", "voice"),), 15 * MIN),
        Moment(2 * MIN, (), 15 * MIN),
    ], id="a-step-that-names-a-channel-forces-it"),
]


@pytest.mark.parametrize(("contact", "moments"), CASES)
def test_personal_chain(contact: str, moments: list[Moment]) -> None:
    p, d = policy(contact), directory()
    state = new_state(1, T0)
    for m in moments:
        state, actions = step(state, p, d, T0 + m.after, m.events)
        assert list(m.pages) == notified(actions), m
        assert ([WakeAt(at=T0 + m.wake)] if m.wake is not None else []) == [
            a for a in actions if isinstance(a, WakeAt)], m


def test_chain_entries_are_marked_personal_with_their_position() -> None:
    _state, actions = step(new_state(1, T0), policy(), directory(), T0)
    [page] = [a for a in actions if isinstance(a, Notify)]
    assert (True, 1, 0, 0) == (page.personal, page.attempt, page.round, page.step)


def test_a_running_chain_is_not_restarted_by_the_next_round() -> None:
    p, d = policy(repeat=1), directory()
    state, _ = step(new_state(1, T0), p, d, T0)
    state, _ = step(state, p, d, T0 + 15 * MIN)
    _state, actions = step(state, p, d, T0 + 25 * MIN)  # round 2 step 1 pages ann again
    assert [("ann", "chain_running")] == [(a.actor, a.kind) for a in actions
                                          if isinstance(a, Record) and a.kind == "chain_running"]
    # her 20-minute call (and bob's overdue one), no new first text
    assert [("ann", "voice"), ("bob", "voice")] == notified(actions)


def test_someone_who_texted_stop_is_called_for_their_sms_entries() -> None:
    _state, actions = step(new_state(1, T0), policy(), directory(ann_blocked=True), T0)
    assert [("ann", "voice")] == notified(actions)


def test_a_failed_chain_entry_does_not_cut_the_chain_short() -> None:
    from oncall.escalation.state import DeliveryFailed

    p, d = policy(), directory()
    state, _ = step(new_state(1, T0), p, d, T0)
    failed = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="undelivered")
    state, actions = step(state, p, d, T0 + MIN, (failed,))
    assert ([], IncidentStatus.TRIGGERED) == (notified(actions), state.status)
    _state, actions = step(state, p, d, T0 + 2 * MIN)
    assert [("ann", "voice")] == notified(actions)


def test_chains_survive_the_json_round_trip() -> None:
    state, _ = step(new_state(1, T0), policy(), directory(), T0)
    assert state.chains
    assert state == state_from_json(state_to_json(state))


def test_a_state_stored_before_chains_still_loads() -> None:
    """Version 1 (no chains, no acknowledger) as a release before this one wrote it."""
    stored = {"v": 1, "incident_id": 7, "status": "triggered", "round": 0, "step": 0,
              "next_action_at": "2026-11-26T02:15:00+00:00", "exhausted": False,
              "admins_alerted": False,
              "cursors": [{"person_id": "ann", "waves": [["sms"], ["voice"]], "wave": 0, "failed": []}],
              "events": [{"type": "ack", "actor": "ann", "via": "sms"}]}
    state = state_from_json(stored)
    assert ((), None, 7, T0 + 15 * MIN) == (state.chains, state.acked_by, state.incident_id, state.next_action_at)
    state, _ = step(state, policy(), directory(), T0 + MIN)
    assert IncidentStatus.ACKNOWLEDGED == state.status
    assert 2 == state_to_json(state)["v"]


def test_the_preview_lists_each_chain_entry_at_its_instant() -> None:
    from oncall.escalation.preview import preview_page

    late = replace(person("ann"), chain=((VOICE, 1 * MIN), (VOICE, 3 * MIN)))
    d = FakeDirectory(contacts={"ann": late}, on_call_map={"primary": ("ann",)})
    found = preview_page(policy(), d, T0, UTC)
    assert [("ann", "voice", T0 + MIN), ("ann", "voice", T0 + 3 * MIN)] == [
        (p.person, p.channel.value, p.at) for p in found.would_page]
    assert "  would page now: nobody yet (their own rules wait)" == found.lines()[0]
    assert found.lines()[1].startswith("  then, until somebody acknowledges: ann by voice to ")


def test_a_text_refused_by_stop_is_a_call_now_and_later_texts_are_calls() -> None:
    from oncall.escalation.state import DeliveryFailed

    texts = replace(person("ann"), chain=((SMS, 0 * MIN), (SMS, 5 * MIN)))
    d = FakeDirectory(contacts={"ann": texts}, on_call_map={"primary": ("ann",)})
    p = policy()
    state, _ = step(new_state(1, T0), p, d, T0)
    stop = DeliveryFailed(person_id="ann", channel=SMS, round=0, step=0, reason="opted out", sms_blocked=True)
    state, actions = step(state, p, d, T0 + MIN, (stop,))
    assert [("ann", "voice")] == notified(actions)
    _state, actions = step(state, p, d, T0 + 5 * MIN)
    assert [("ann", "voice")] == notified(actions)

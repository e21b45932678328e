"""Three instances on one PostgreSQL database under seeded SIGKILLs and SIGSTOPs, tickets
streaming in and engineers acknowledging through another instance: nothing lost, nothing
sent twice but recorded unknown-outcome resends, no page after an acknowledgement, never
two polls at once, every due step within the failover bound (see support/chaos.py and
support/chaos_oracle.py for the exact rules and the tolerance).

``CHAOS_SEEDS`` (default 3) runs of ``CHAOS_FAULTS`` (default 34) faults each: at least 100;
``CHAOS_FIRST_SEED`` (default 1) explores other seeds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from support.chaos import ChaosPlan, run_chaos
from support.chaos_oracle import (
    KILL,
    STOP,
    Ack,
    Bounds,
    DueStep,
    Fault,
    Page,
    PollSpan,
    allowance,
    check_lateness,
    overlapping_polls,
    pages_after_acks,
)
from support.databases import scratch_postgres_database
from support.reliab_zygote import Zygote

SEEDS = int(os.environ.get("CHAOS_SEEDS", "3"))
FAULTS = int(os.environ.get("CHAOS_FAULTS", "34"))
FIRST_SEED = int(os.environ.get("CHAOS_FIRST_SEED", "1"))
BOUNDS = Bounds(failover=3.0, react=1.0)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_three_instances_under_seeded_faults_keep_every_promise(
        zygote: Zygote, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At least 100 seeded faults over the runs; every run's ledger checks out."""
    problems: list[str] = []
    summaries: list[str] = []
    faults = 0
    for seed in range(FIRST_SEED, FIRST_SEED + SEEDS):
        plan = ChaosPlan(seed=seed, faults=FAULTS)
        with scratch_postgres_database("oncall_chaos") as url:
            result = run_chaos(plan, zygote, tmp_path / f"seed{seed}", url)
        faults += len(result.faults)
        summaries.append(result.summary())
        problems += [f"seed {seed}: {p}" for p in result.problems]
    with capsys.disabled():
        print("\nchaos: " + "\nchaos: ".join(summaries))
    assert FAULTS * SEEDS < 100 or faults >= 100
    assert [] == problems[:40], f"{len(problems)} problems"


# The oracle can fail: each rule, fed a record that breaks it.

def test_two_polls_at_once_are_reported() -> None:
    spans = [PollSpan(instance="i1", began=0.0, ended=0.3), PollSpan(instance="i2", began=0.2, ended=0.5),
             PollSpan(instance="i3", began=0.6, ended=0.9)]
    [problem] = overlapping_polls(spans)
    assert "i1" in problem and "i2" in problem


def test_back_to_back_polls_are_not_concurrent() -> None:
    assert [] == overlapping_polls([PollSpan(instance="i1", began=0.0, ended=0.3),
                                    PollSpan(instance="i2", began=0.3, ended=0.6)])


def _step(due: float, fired: float | None, exposed: float | None = None, claimed_by: str = "i1") -> DueStep:
    """A step due at ``due``; by default its message was claimed by i1 when a fault caught i1."""
    return DueStep(incident_id=1, ticket_id="T", round=0, step=1, exposed_from=due - 2 if exposed is None else exposed,
                   due=due, fired=fired, claimed_by=frozenset({claimed_by}))


def test_a_late_step_without_a_fault_is_reported() -> None:
    result = check_lateness([_step(10.0, 10.0 + BOUNDS.react + 0.1)], [], BOUNDS)
    assert 1 == len(result.problems)


def test_one_fault_allows_the_failover_bound_and_no_more() -> None:
    kill = Fault(instance="i1", kind=KILL, began=10.0 + BOUNDS.react, ended=12.0)  # just as it was taken
    assert [] == check_lateness([_step(10.0, 10.0 + BOUNDS.bound - 0.1)], [kill], BOUNDS).problems
    assert 1 == len(check_lateness([_step(10.0, 10.0 + BOUNDS.bound + 0.3)], [kill], BOUNDS).problems)


def test_a_kill_that_held_no_claim_on_the_step_releases_it_at_once() -> None:
    """Its connections close with it: another instance takes the step within a reaction."""
    kill = Fault(instance="i3", kind=KILL, began=10.5, ended=12.0)
    assert 10.5 + BOUNDS.react == allowance(_step(10.0, None), [kill], BOUNDS).deadline


def test_a_fault_after_the_step_was_taken_excuses_nothing() -> None:
    kill = Fault(instance="i1", kind=KILL, began=10.0 + BOUNDS.react + 0.5, ended=15.0)
    assert 1 == len(check_lateness([_step(10.0, 14.0)], [kill], BOUNDS).problems)


def test_a_short_freeze_holds_only_while_frozen() -> None:
    stop = Fault(instance="i2", kind=STOP, began=10.0, ended=10.5)
    assert 10.5 + BOUNDS.react == allowance(_step(10.0, None), [stop], BOUNDS).deadline


def test_a_freeze_longer_than_the_bound_excuses_only_the_bound() -> None:
    """It began before the step existed; its open transaction may hold the step up, for F at most."""
    stop = Fault(instance="i2", kind=STOP, began=7.5, ended=20.0)
    step = _step(10.0, 19.0, exposed=8.0)
    assert 7.5 + BOUNDS.failover + BOUNDS.react == allowance(step, [stop], BOUNDS).deadline
    assert 1 == len(check_lateness([step], [stop], BOUNDS).problems)


def test_a_chain_of_faults_is_followed() -> None:
    first = Fault(instance="i1", kind=KILL, began=10.0, ended=11.0)
    second = Fault(instance="i2", kind=STOP, began=13.5, ended=math.inf)
    found = allowance(_step(10.0, None), [first, second], BOUNDS)
    assert (first, second) == found.chain
    assert 13.5 + BOUNDS.failover + BOUNDS.react == found.deadline


def test_a_step_that_never_fired_is_reported() -> None:
    assert ["never reached Twilio"] == [p.split(", ")[-1] for p in
                                         check_lateness([_step(10.0, None)], [], BOUNDS).problems]


def test_a_page_after_an_acknowledgement_is_reported() -> None:
    ack = Ack(incident_id=7, person="erin", at=100.0, via=("i2",))
    page = Page(incident_id=7, arrived=100.0 + BOUNDS.react + 0.2, sender="i1", key="k")
    assert 1 == len(pages_after_acks([ack], [page], [], BOUNDS))


def test_a_page_claimed_before_the_ack_and_sent_on_waking_is_allowed() -> None:
    """Its sender was frozen across the acknowledgement and sent on waking, its claim valid."""
    ack = Ack(incident_id=7, person="erin", at=100.0, via=("i2",))
    page = Page(incident_id=7, arrived=102.2, sender="i1", key="k", statuses=frozenset({"sent"}))
    frozen = Fault(instance="i1", kind=STOP, began=99.5, ended=102.0)
    assert [] == pages_after_acks([ack], [page], [frozen], BOUNDS)
    late = Page(incident_id=7, arrived=102.0 + BOUNDS.react + 0.1, sender="i1", key="k")
    assert 1 == len(pages_after_acks([ack], [late], [frozen], BOUNDS))


def test_a_sender_woken_past_its_claim_must_not_record_the_page_sent() -> None:
    """Frozen longer than its claim, between its last check and the provider call: the page may
    go out (no protocol closes that gap), but its outcome write must be fenced off."""
    ack = Ack(incident_id=7, person="erin", at=100.0, via=("i2",))
    long = Fault(instance="i1", kind=STOP, began=98.0, ended=102.0)  # longer than F
    unknown = Page(incident_id=7, arrived=102.2, sender="i1", key="k", statuses=frozenset({"unknown"}))
    assert [] == pages_after_acks([ack], [unknown], [long], BOUNDS)
    sent = Page(incident_id=7, arrived=102.2, sender="i1", key="k", statuses=frozenset({"sent"}))
    assert 1 == len(pages_after_acks([ack], [sent], [long], BOUNDS))

"""SIGKILL of the real daemon in each phase, restart, and the ledger compared with
what must hold: no lost ticket, no lost acknowledgement, no skipped step, and a
duplicate only where the outcome was unknown (then at most one resend).

Each phase runs ``RELIABILITY_TRIALS`` (default 20) seeded trials; the seed varies
the number of tickets, acknowledgements and which pass of the checkpoint kills.
Trials run four at a time, each on its own database, port and fake Twilio.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.reliab_daemon import (
    PHONES,
    DaemonSpec,
    Launcher,
    ScriptLauncher,
    ZygoteLauncher,
    free_port,
    post_ticket,
    stop,
    ticket_body,
    wait_ready,
    write_config,
)
from support.reliab_ledger import SENT, UNKNOWN, check_sends, read_ledger, reader, twilio_keys
from support.reliab_trials import PHASES, Trial, plan, run_trial

from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN

TRIALS = int(os.environ.get("RELIABILITY_TRIALS", "20"))
PARALLEL = 4


def _run_all(trials: list[Trial], launcher: Launcher, tmp_path: Path,
             config: Path) -> list[str]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = list(pool.map(lambda t: run_trial(t, launcher, tmp_path / f"seed{t.seed}", config),
                             trials))
    return [f"{t.describe()}: {p}" for t in done for p in t.problems]


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("phase", PHASES)
def test_kill_in_phase_loses_nothing_and_duplicates_only_unknowns(
        phase: str, launcher: ZygoteLauncher, fast_config: Path, tmp_path: Path) -> None:
    """20 seeded SIGKILLs in ``phase``; every trial's ledger checks out."""
    trials = [plan(phase, seed) for seed in range(TRIALS)]
    assert [] == _run_all(trials, launcher, tmp_path, fast_config)


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_through_the_console_script(fast_config: Path, tmp_path: Path) -> None:
    """The same trial with ``oncall run`` started from its console script (no fork
    server), so the fork server cannot hide a start-up difference."""
    launcher = ScriptLauncher()
    try:
        trial = run_trial(plan("after_send", 7), launcher, tmp_path, fast_config)
    finally:
        launcher.close()
    assert [] == trial.problems


def test_a_trial_detects_a_lost_ticket(launcher: ZygoteLauncher, fast_config: Path,
                                       tmp_path: Path) -> None:
    """The checks can fail: a ticket that was never filed is reported as lost."""
    trial = plan("incident_opened", 3)
    trial.tickets.append("NEVER-FILED")
    trial.kill_at = 1
    filed = trial.tickets[:-1]
    trial.tickets = filed
    result = run_trial(trial, launcher, tmp_path, fast_config)
    assert [] == result.problems
    from support.reliab_ledger import check_tickets, read_ledger, reader

    engine = reader(f"sqlite:///{tmp_path / 'oncall.db'}")
    try:
        problems = check_tickets(read_ledger(engine), [*filed, "NEVER-FILED"])
    finally:
        engine.dispose()
    assert ["ticket NEVER-FILED: lost (never stored)", "ticket NEVER-FILED: 0 incidents, expected 1"] \
        == problems


@pytest.mark.slow
@pytest.mark.e2e
def test_a_page_and_its_resend_both_killed_fail_over_at_once(launcher: ZygoteLauncher,
                                                             tmp_path: Path) -> None:
    """Killed before its first SMS went out, then again before that SMS's one resend:
    the next start calls the person at once instead of waiting out the step (10 minutes
    here), and the SMS is not sent a third time."""
    config = write_config(tmp_path / "config", delay="10m")
    log = tmp_path / "daemon.log"
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, httpx.Client(timeout=10.0) as client:
        fake._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        spec = DaemonSpec(config=config, db_url=f"sqlite:///{tmp_path / 'oncall.db'}",
                          port=free_port(), twilio_base=fake.base_url)
        first = launcher.start(spec.env(fault="before_send:1"), log)
        wait_ready(spec.base_url, first)
        assert 202 == post_ticket(client, spec.base_url, ticket_body("TWICE-1"))
        assert -9 == first.wait(15.0)
        second = launcher.start(spec.env(fault="before_send:1"), log)  # dies at the resend
        assert -9 == second.wait(15.0)
        third = launcher.start(spec.env(), log)
        wait_ready(spec.base_url, third)
        call = fake.wait_for_calls(1, timeout=15.0)[0]
        assert 0 == stop(third)
        read = reader(spec.db_url)
        try:
            ledger = read_ledger(read)
        finally:
            read.dispose()
    assert [] == fake.messages
    original = ledger.rows[0].id
    assert [(UNKNOWN, "sms", None), (UNKNOWN, "sms", original), (SENT, "voice", None)] == [
        (r.status, r.channel, r.resend_of) for r in ledger.rows]
    assert PHONES[call.to] == ledger.rows[0].person_id
    assert [] == check_sends(ledger, twilio_keys([*fake.messages, *fake.calls]))

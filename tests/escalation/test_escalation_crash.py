"""Crash safety: the real service and runner run in a child process that SIGKILLs
itself at seeded random checkpoints and is restarted until the scenario completes.
The ledger is then checked against an uninterrupted reference run."""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support import crashworker, subprocess_env

from oncall.store.db import make_engine
from oncall.store.tables import incidents, notifications

FORK = multiprocessing.get_context("fork")


def ledger(db: Path) -> tuple[list[Any], dict[str, tuple[str, str | None]]]:
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(select(notifications, incidents.c.ticket_id).join(
            incidents, incidents.c.id == notifications.c.incident_id)
            .order_by(notifications.c.id)).all()
        states = {r.ticket_id: (r.state, r.acknowledged_by)
                  for r in conn.execute(select(incidents))}
    engine.dispose()
    return rows, states


def logical(rows: list[Any], skip: set[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """One entry per page the engine decided on (resends and dropped bundles aside)."""
    return Counter(
        (r.ticket_id, r.person_id, r.channel, r.round, r.step, r.attempt, r.purpose)
        for r in rows
        if r.resend_of is None and r.status != "suppressed"
        and (r.ticket_id, r.person_id, r.round, r.step) not in skip)


def handed_over(rows: list[Any], log: Path, skip: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """The logical pages that reached the transport at least once."""
    by_key: dict[str, list[Any]] = {}
    for r in rows:
        if r.message_key:
            by_key.setdefault(r.message_key, []).append(r)
    by_id = {r.id: r for r in rows}
    out = set()
    for entry in sends(log):
        for r in by_key[entry["key"]]:
            o = by_id[r.resend_of] if r.resend_of else r
            if (o.ticket_id, o.person_id, o.round, o.step) not in skip:
                out.add((o.ticket_id, o.person_id, o.channel, o.round, o.step, o.attempt))
    return out


def sends(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], dict[str, Any]]:
    d = tmp_path_factory.mktemp("reference")
    crashworker.run_scenario(d / "ref.db", d / "ref.log")
    rows, states = ledger(d / "ref.db")
    states["log"] = d / "ref.log"
    assert len(rows) > 20  # the scenario pages a lot: storms, failovers, exhaustion
    assert {r.status for r in rows} >= {"sent", "failed", "suppressed"}
    return rows, states


def run_with_kills(tmp: Path, seed: int) -> int:
    """Run the scenario to completion, killing the child at random checkpoints."""
    rng = random.Random(seed)
    kills = 0
    for _ in range(200):
        child = FORK.Process(target=crashworker.run_scenario,
                             args=(tmp / "crash.db", tmp / "crash.log", rng.randint(1, 25)))
        child.start()
        child.join(timeout=30)
        if child.exitcode == 0:
            return kills
        assert -signal.SIGKILL == child.exitcode, f"child died otherwise: {child.exitcode}"
        kills += 1
    raise AssertionError("scenario never completed")


def check_against_reference(tmp: Path, reference: tuple[list[Any], dict[str, Any]]) -> None:
    ref_rows, ref_states = reference
    ref_states = dict(ref_states)
    ref_log = ref_states.pop("log")
    rows, states = ledger(tmp / "crash.db")
    by_id = {r.id: r for r in rows}
    # Zero lost acknowledgements, and every incident ends as in the reference.
    assert ref_states == states
    # Duplicate sends only for rows whose outcome was unknown, at most one resend each.
    log = sends(tmp / "crash.log")
    assert len(log) == len({e["key"] for e in log}), "a message key was handed over twice"
    for r in rows:
        if r.resend_of is not None:
            original = by_id[r.resend_of]
            assert "unknown" == original.status
            assert original.resend_of is None, "a resend was resent"
    resent = Counter(r.resend_of for r in rows if r.resend_of is not None)
    assert all(n == 1 for n in resent.values())
    # Zero skipped steps: the same pages were decided as without crashes. A resend
    # whose outcome was unknown too leaves that person's step genuinely uncertain.
    uncertain = {(r.ticket_id, r.person_id, r.round, r.step) for r in rows
                 if r.resend_of is not None and r.status == "unknown"}
    assert logical(ref_rows, uncertain) == logical(rows, uncertain)
    # Every page decided was handed to the transport (a lost send is a skipped step).
    assert handed_over(ref_rows, ref_log, uncertain) == handed_over(rows, tmp / "crash.log",
                                                                     uncertain)
    # Nothing was sent that the ledger does not know about.
    keys = {r.message_key for r in rows if r.message_key}
    assert {e["key"] for e in log} <= keys


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_seeded_kills_lose_nothing(tmp_path: Path, seed: int,
                                   reference: tuple[list[Any], dict[str, Any]]) -> None:
    kills = run_with_kills(tmp_path, seed)
    print(f"seed {seed}: {kills} kills")
    assert kills >= 10  # 8 seeds: well over 100 kills in all
    check_against_reference(tmp_path, reference)


def test_kill_via_real_subprocess_then_resume(tmp_path: Path,
                                              reference: tuple[list[Any], dict[str, Any]]
                                              ) -> None:
    """The same, through ``python -m support.crashworker`` (fresh interpreter)."""
    argv = [sys.executable, "-m", "support.crashworker",
            str(tmp_path / "crash.db"), str(tmp_path / "crash.log")]
    for kill_at in (7, 40, 90):
        done = subprocess.run([*argv, "--kill-at", str(kill_at)], env=subprocess_env(), timeout=60, check=False)
        assert -signal.SIGKILL == done.returncode
    assert 0 == subprocess.run(argv, env=subprocess_env(), timeout=60, check=False).returncode
    check_against_reference(tmp_path, reference)

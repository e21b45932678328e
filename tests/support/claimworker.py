"""Workers for the several-instances tests: the real intake and escalation runner in
processes of their own over one PostgreSQL database, as several ``oncall run`` would run
them, with their interleaving forced at the code's checkpoints.

- :func:`run_worker` is an instance's worker loop (a batch of stored events, then the
  runner) until told to stop; every message it hands over is appended to its log, every
  event it decided to its ``.events`` file. :class:`Gates` hold it at chosen checkpoints.
- :func:`send_once` is one runner pass over the paging rig of :mod:`support.harness` that
  kills (SIGKILL) or freezes (SIGSTOP) its own process at a checkpoint, then writes its
  report: what a crashed or frozen instance leaves behind; :func:`decide_once` is one batch
  of stored events that freezes at a checkpoint.

Started with ``multiprocessing``'s fork context, so the gates (events and barriers) are
shared with the test; nothing in the parent touches a database before the fork.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from threading import BrokenBarrierError
from typing import Any

from oncall.config.loader import load
from oncall.directory import SnapshotDirectory
from oncall.escalation.runner import Runner
from oncall.incidents.service import IncidentService
from oncall.intake import Intake, Outcome
from oncall.store.db import make_engine
from oncall.store.inbox import Inbox
from oncall.testing.paging import RecordingTransport
from support.harness import Paging

GATE_TIMEOUT = 20.0  # seconds a gate waits for the other worker before giving up


@dataclass
class Gates:
    """Interleaving forced across two workers. ``hold_batch``: the first batch of stored events
    stays claimed (its transaction open, after its incidents were opened) until ``released``
    is set. ``holding`` is set while it is. ``claim_together``: both workers' runners reach
    their first claim of a message together (a barrier of two)."""

    hold_batch: bool = False
    holding: Event | None = None
    released: Event | None = None
    claim_together: Barrier | None = None
    _seen: set[str] = field(default_factory=set)

    def __call__(self, phase: str) -> None:
        first = phase not in self._seen
        self._seen.add(phase)
        if phase == "incident_opened" and first and self.hold_batch:
            assert self.holding is not None and self.released is not None
            self.holding.set()
            self.released.wait(GATE_TIMEOUT)
        if phase == "claiming" and first and self.claim_together is not None:
            try:
                self.claim_together.wait(GATE_TIMEOUT)
            except BrokenBarrierError:
                pass  # the other worker had nothing to claim: go on alone


def run_worker(url: str, config: Path, log: Path, stop: Event, gates: Gates, *, batch: int = 5,
               before_first: Callable[[], None] = lambda: None, after_first: Callable[[], None] = lambda: None,
               claim_for: timedelta = timedelta(seconds=30)) -> None:
    """One instance's worker: batches of stored events, each followed by the runner, until
    ``stop`` is set; ``before_first`` and ``after_first`` run around its first batch."""
    engine = make_engine(url)
    snapshot = load(config, now=datetime.now(UTC))
    directory = SnapshotDirectory(snapshot)
    decided = log.with_suffix(".events")

    def record(outcome: Outcome) -> None:
        with decided.open("a") as f:
            f.write(json.dumps({"id": outcome.item_id, "ticket": outcome.ticket_id, "outcome": outcome.outcome,
                                "incident": outcome.incident_id}) + "\n")

    service = IncidentService(engine, lambda: directory)
    intake = Intake(Inbox(engine), service, lambda: snapshot, on_outcome=record, checkpoint=gates)
    runner = Runner(engine, RecordingTransport(log_path=log), lambda: directory, lambda: snapshot.notifications,
                    checkpoint=gates, claim_for=claim_for)
    first = True
    while not stop.is_set():
        if first:
            before_first()
        now = datetime.now(UTC)
        intake.process_batch(now, batch)
        if first:
            after_first()
            first = False
        runner.run_due(now)
        stop.wait(0.02)
    engine.dispose()


def decide_once(url: str, config: Path, log: Path, *, freeze_at: str, claim_idle: timedelta) -> None:
    """One batch of stored events, freezing this process (SIGSTOP) at its first ``freeze_at``
    checkpoint; after a SIGCONT, what became of the batch is written to ``log``: the events
    it decided, or the error that ended it."""
    engine = make_engine(url)
    snapshot = load(config, now=datetime.now(UTC))
    directory = SnapshotDirectory(snapshot)
    frozen = False

    def checkpoint(name: str) -> None:
        nonlocal frozen
        if name == freeze_at and not frozen:
            frozen = True
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)

    intake = Intake(Inbox(engine, claim_idle=claim_idle), IncidentService(engine, lambda: directory),
                    lambda: snapshot, checkpoint=checkpoint)
    try:
        decided = [o.item_id for o in intake.process_batch(datetime.now(UTC), 50)]
        log.write_text(json.dumps({"decided": decided}))
    except Exception as exc:  # the batch's transaction was ended while frozen
        log.write_text(json.dumps({"error": type(exc).__name__}))
    engine.dispose()


def send_once(url: str, report: Path, *, phase: str, action: str, claim_for: timedelta,
              log: Path | None = None) -> None:
    """One runner pass at the real time over the paging rig that, at its first ``phase``
    checkpoint, kills (``action="kill"``) or freezes (``"stop"``) this process; its report
    is written to ``report`` if it gets that far (after a SIGCONT)."""
    rig = Paging(make_engine(url))
    if log is not None:
        rig.transport = RecordingTransport(log_path=log)
    done = False

    def checkpoint(name: str) -> None:
        nonlocal done
        if name == phase and not done:
            done = True
            # Sent to this very thread, so it stops (or dies) before its next step, not just soon:
            # the sends run in the runner's sender threads.
            signal.pthread_kill(threading.get_ident(), signal.SIGKILL if action == "kill" else signal.SIGSTOP)

    result = rig.new_runner(checkpoint=checkpoint, claim_for=claim_for).run_due(datetime.now(UTC))
    fields: dict[str, Any] = asdict(result)
    report.write_text(json.dumps({k: v for k, v in fields.items() if isinstance(v, int)}))
    rig.engine.dispose()

"""The morning hand-over cannot lose a ticket to a crash: the tickets a batch did not page are
kept in the batch's own work, before its events are marked processed — a worker dying right
after the batch finds them kept; one dying before the marks replays the batch, which keeps
them again, once. And the hand-over's bookkeeping never holds up the batch's pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from daemon_rig import NY, MakeRig, Rig, write_config
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from support.databases import scratch_postgres_database

from oncall.handover.store import Dropped, Kept, WaitingTickets
from oncall.intake import Outcome
from oncall.store.inbox import InboxClaim

MONDAY_OPENING = datetime(2026, 11, 30, 8, 0, tzinfo=NY)


class Crash(BaseException):
    """The worker dying: nothing after it runs."""


@pytest.fixture(params=["sqlite", "postgresql"])
def rig(request: pytest.FixtureRequest, make_rig: MakeRig, tmp_path: Path) -> Iterator[Rig]:
    """The batch is one transaction on both databases and the hand-over's rows are written in it."""
    config = write_config(tmp_path / "config-durable")
    if request.param == "sqlite":
        yield make_rig(config=config)
        return
    with scratch_postgres_database("oncall_handover_durable") as url:
        made = make_rig(config=config, database_url=url)
        yield made
        made.daemon.engine.dispose()


def waiting(rig: Rig) -> list[str]:
    return sorted(t.ticket_id for t in WaitingTickets(rig.daemon.engine).waiting())


def test_a_worker_dying_right_after_its_batch_has_kept_the_tickets_for_the_hand_over(rig: Rig) -> None:
    def die(_outcome: object) -> None:
        raise Crash

    rig.daemon.intake.on_outcome = die  # what ran after the batch's commit, where the hand-over was kept
    rig.file("T-1", priority="normal")
    rig.file("T-2", priority="low")
    with pytest.raises(Crash):
        rig.work()
    assert ["T-1", "T-2"] == waiting(rig)


def test_a_worker_dying_before_the_marks_replays_the_batch_and_keeps_each_ticket_once(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = InboxClaim.mark
    calls = {"n": 0}

    def mark_then_die(claim: InboxClaim, conn: Connection, outcomes: list[tuple[int, str]], at: datetime) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash
        marks(claim, conn, outcomes, at)

    monkeypatch.setattr(InboxClaim, "mark", mark_then_die)
    rig.file("T-1", priority="normal")
    with pytest.raises(Crash):
        rig.work()
    rig.work()  # the restarted worker: the events are still unprocessed
    assert ["T-1"] == waiting(rig)
    rig.clock.set(MONDAY_OPENING)
    assert 1 == rig.run("handover").done


def test_a_failing_hand_over_write_is_counted_and_the_batch_still_pages(rig: Rig,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("INSERT INTO waiting_tickets", {}, Exception("disk I/O error"))

    monkeypatch.setattr(WaitingTickets, "keep", broken)
    rig.file("T-1", priority="normal")
    rig.file("T-2", priority="urgent")
    rig.work()
    assert ["T-2"] == [i.ticket_id for i in rig.daemon.service.list()]
    assert rig.transport.sent, "the urgent ticket was paged"
    assert 2 == rig.daemon.metrics.handover_keep_failures._value.get()  # both tickets' changes


def test_keep_applies_a_batch_in_order(rig: Rig) -> None:
    seen: list[Outcome] = []
    rig.daemon.intake.on_outcome = seen.append
    rig.daemon.intake.settle = None  # nothing kept by the intake: this test keeps by hand
    for n in (1, 2, 3):
        rig.file(f"T-{n}", priority="normal")
    rig.work()
    kept = {o.ticket_id: Kept(o.source, o.ticket, o.decision) for o in seen
            if o.ticket is not None and o.decision is not None}
    assert ["T-1", "T-2", "T-3"] == sorted(kept)
    w = WaitingTickets(rig.daemon.engine)
    at = rig.clock.now()
    with rig.daemon.engine.begin() as conn:
        w.keep(conn, [kept["T-1"], kept["T-2"], Dropped("generic", "T-2"), kept["T-3"]], at)
    assert ["T-1", "T-3"] == waiting(rig)
    later = at + timedelta(hours=1)
    lowered = Kept("generic", kept["T-1"].ticket, kept["T-1"].decision, "lowered")
    with rig.daemon.engine.begin() as conn:
        w.keep(conn, [Dropped("generic", "T-1"), lowered, kept["T-3"]], later)
    found = {t.ticket_id: t for t in w.waiting()}
    assert ["T-1", "T-3"] == sorted(found)
    assert (later, "lowered") == (found["T-1"].received_at, found["T-1"].reason)  # a row of its own again
    assert at == found["T-3"].received_at  # refreshed: still waiting since it came

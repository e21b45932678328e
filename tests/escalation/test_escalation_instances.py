"""Several instances on one PostgreSQL database: work is claimed, never assumed.

Two worker processes share a scratch database, their interleaving forced at the code's
checkpoints: each stored ticket event is processed once and a ticket's events in order,
each escalation step fires once, each message is sent once. A worker killed after claiming
a message leaves it to the others, who resend it (as an unknown outcome) once its deadline
has passed — not before; a worker frozen past its deadline sends nothing when it wakes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from support.claimworker import Gates, decide_once, run_worker, send_once
from support.databases import scratch_postgres_database
from support.harness import Paging
from support.reliab_daemon import poll_until, write_config

from oncall.incidents.model import TicketSummary
from oncall.interfaces import Outbound, SendResult
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox
from oncall.store.tables import audit, incidents, notifications, ticket_events
from oncall.store.types import as_utc
from oncall.testing.paging import RecordingTransport

pytestmark = pytest.mark.postgres

FORK = multiprocessing.get_context("fork")
T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
CLAIM_FOR = timedelta(seconds=2)

# Stored in this order, in batches of 5: the first worker holds events 1-5 while the second
# claims 6-10, where the closing of tickets 0, 1 and 2 must wait for their creation.
PLAN = ["c0", "c1", "c2", "c3", "c4", "x0", "x1", "c5", "c6", "x2", "c7", "c8", "c9", "r0", "x5", "c10",
        "c11", "r1", "x7", "r5"]
EXPECTED = {  # ticket → its incidents' final states, oldest first (a solved ticket resolves its incident)
    0: ["resolved", "triggered"], 1: ["resolved", "triggered"], 2: ["resolved"], 3: ["triggered"],
    4: ["triggered"], 5: ["resolved", "triggered"], 6: ["triggered"], 7: ["resolved"], 8: ["triggered"],
    9: ["triggered"], 10: ["triggered"], 11: ["triggered"]}
STATUS = {"c": "new", "x": "solved", "r": "open"}


def ticket_json(step: str, n: int) -> dict[str, Any]:
    minute = {"c": 0, "x": 1, "r": 2}[step]
    return {"id": f"M-{n}", "source": "generic", "subject": f"Outage M-{n}", "priority": "urgent",
            "status": STATUS[step], "created_at": T0.isoformat(),
            "updated_at": (T0 + timedelta(minutes=minute)).isoformat(), "customer": "demo"}


@pytest.fixture
def url() -> Iterator[str]:
    with scratch_postgres_database("oncall_claims") as name:
        engine = make_engine(name)
        upgrade(engine)
        engine.dispose()
        yield name


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def settled(engine: Engine) -> bool:
    """Every event processed, nothing waiting to be sent, every open incident exhausted."""
    with engine.connect() as conn:
        unprocessed = conn.execute(select(func.count()).select_from(ticket_events)
                                   .where(ticket_events.c.processed_at.is_(None))).scalar_one()
        waiting = conn.execute(select(func.count()).select_from(notifications).where(
            notifications.c.status.in_(("pending", "sending", "held")))).scalar_one()
        due = conn.execute(select(func.count()).select_from(incidents)
                           .where(incidents.c.next_action_at.is_not(None))).scalar_one()
    return (unprocessed, waiting, due) == (0, 0, 0)


def test_two_workers_process_each_event_fire_each_step_and_send_each_message_once(url: str,
                                                                                 tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", delay="1s", repeat=0, sms_interval="1s", voice_interval="1s")
    engine = make_engine(url)
    Inbox(engine).receive_many([("generic", f"{step}-{i}", ticket_json(step[0], int(step[1:])), T0)
                                for i, step in enumerate(PLAN)])
    engine.dispose()  # nothing of the parent's crosses the fork
    stop, holding, released = FORK.Event(), FORK.Event(), FORK.Event()
    together = FORK.Barrier(2)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    first = FORK.Process(target=run_worker, args=(url, config, logs[0], stop, Gates(
        hold_batch=True, holding=holding, released=released, claim_together=together)))
    second = FORK.Process(target=run_worker, args=(url, config, logs[1], stop, Gates(claim_together=together)),
                          kwargs={"before_first": lambda: holding.wait(20), "after_first": released.set})
    first.start()
    second.start()
    engine = make_engine(url)
    try:
        assert poll_until(lambda: settled(engine), 90.0, interval=0.2), "the workers did not settle"
    finally:
        stop.set()
        first.join(30)
        second.join(30)
    assert (0, 0) == (first.exitcode, second.exitcode)
    with engine.connect() as conn:
        events = conn.execute(select(ticket_events.c.id)).scalars().all()
        found = conn.execute(select(incidents.c.ticket_id, incidents.c.state).order_by(incidents.c.id)).all()
        fired = conn.execute(select(audit.c.incident_id, audit.c.reason).where(audit.c.kind == "step_fired")).all()
        ledger = conn.execute(select(notifications)).all()
    engine.dispose()

    decided = [e["id"] for e in lines(logs[0].with_suffix(".events")) + lines(logs[1].with_suffix(".events"))]
    assert sorted(events) == sorted(decided), "each stored event is decided exactly once"
    assert lines(logs[0].with_suffix(".events")) and lines(logs[1].with_suffix(".events")), "both took events"
    states: dict[int, list[str]] = {}
    for ticket_id, state in found:
        states.setdefault(int(ticket_id.removeprefix("M-")), []).append(state)
    assert EXPECTED == states, "a ticket's events took effect in order"
    assert [] == [k for k, n in Counter(fired).items() if n > 1], "a step fired twice"
    assert len(fired) >= 3 * len(found) - 2 * sum(s == "resolved" for _, s in found)
    sent = Counter(m["key"] for log in logs for m in lines(log))
    assert [] == [k for k, n in sent.items() if n > 1], "a message was handed over twice"
    assert {r.message_key for r in ledger if r.status == "sent"} == set(sent)
    assert [] == [r.id for r in ledger if r.status in ("unknown", "sending") or r.resend_of is not None]


def open_paged(url: str) -> int:
    """An incident opened now on the paging rig, its engine disposed before any fork."""
    rig = Paging(make_engine(url))
    incident = rig.service.open_or_update(TicketSummary(source="zendesk", ticket_id="T-1", customer="acme",
                                                        subject="Production down"), "primary", datetime.now(UTC))
    rig.engine.dispose()
    return incident.id


def statuses(engine: Engine, incident_id: int) -> list[tuple[str, int | None]]:
    with engine.connect() as conn:
        return [(r.status, r.resend_of) for r in conn.execute(select(notifications).where(
            notifications.c.incident_id == incident_id).order_by(notifications.c.id))]


def deadline_passed(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT bool_and(claim_deadline < now()) FROM notifications WHERE status = 'sending'")).scalar())


def idle_in_transaction(engine: Engine) -> bool:
    """A session of the database sits in an open transaction, doing nothing."""
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                      " AND state LIKE 'idle in transaction%'")).scalar())


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_killed_worker_s_message_is_resent_by_another_once_its_claim_has_expired(url: str,
                                                                                  tmp_path: Path) -> None:
    incident = open_paged(url)
    child = FORK.Process(target=send_once, args=(url, tmp_path / "report.json"),
                         kwargs={"phase": "before_send", "action": "kill", "claim_for": CLAIM_FOR})
    child.start()
    child.join(30)
    assert -signal.SIGKILL == child.exitcode
    other = Paging(make_engine(url))
    try:
        assert [("sending", None)] == statuses(other.engine, incident)
        early = other.new_runner(claim_for=CLAIM_FOR).run_due(datetime.now(UTC))
        assert (0, [], [("sending", None)]) == (early.resent, other.transport.sent, statuses(other.engine, incident))
        assert poll_until(lambda: deadline_passed(other.engine), 10.0)
        late = other.new_runner(claim_for=CLAIM_FOR).run_due(datetime.now(UTC))
        assert (1, 1) == (late.resent, late.sent)
        assert [("ann", (incident,))] == [(m.person_id, m.incident_ids) for m in other.transport.sent]
        ledger = statuses(other.engine, incident)
        assert ["unknown", "sent"] == [s for s, _ in ledger] and ledger[1][1] is not None
    finally:
        other.engine.dispose()


@pytest.mark.parametrize("taken_over", [True, False], ids=["resent-meanwhile", "nobody-meanwhile"])
def test_a_worker_frozen_past_its_deadline_sends_nothing_when_it_wakes(url: str, tmp_path: Path,
                                                                      taken_over: bool) -> None:
    incident = open_paged(url)
    log = tmp_path / "frozen.log"
    report = tmp_path / "report.json"
    child = FORK.Process(target=send_once, args=(url, report),
                         kwargs={"phase": "before_send", "action": "stop", "claim_for": CLAIM_FOR, "log": log})
    child.start()
    other = Paging(make_engine(url))
    try:
        assert child.pid is not None and poll_until(lambda: stopped(child.pid), 20.0), "the worker did not freeze"
        assert poll_until(lambda: deadline_passed(other.engine), 10.0)
        if taken_over:
            assert 1 == other.new_runner(claim_for=CLAIM_FOR).run_due(datetime.now(UTC)).resent
        os.kill(child.pid, signal.SIGCONT)
        child.join(30)
        assert 0 == child.exitcode
        frozen = json.loads(report.read_text())
        assert (1, 0) == (frozen["lost"], frozen["sent"]), "the frozen worker found its claim lost"
        assert [] == lines(log), "nothing reached the transport from the frozen worker"
        if not taken_over:
            assert [("sending", None)] == statuses(other.engine, incident)
            # The claim is still there, expired: the next pass of any worker resends it.
            assert 1 == other.new_runner(claim_for=CLAIM_FOR).run_due(datetime.now(UTC)).resent
        assert [("ann", (incident,))] == [(m.person_id, m.incident_ids) for m in other.transport.sent]
        assert ["unknown", "sent"] == [s for s, _ in statuses(other.engine, incident)]
    finally:
        other.engine.dispose()


class HangingTransport(RecordingTransport):
    """Holds each hand-over until ``release`` is set, like a provider timing out and retrying."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, message: Outbound) -> SendResult:
        self.entered.set()
        assert self.release.wait(30)
        return super().send(message)


def claim_deadline(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.max(notifications.c.claim_deadline))
                             .where(notifications.c.status == "sending")).scalar()
    return as_utc(value)


def test_a_claim_is_renewed_while_its_provider_call_lasts_longer_than_the_claim(url: str) -> None:
    """The call outlasts the claim's life: the runner making it renews the claim meanwhile, so
    another runner does not take it for an abandoned one and resend it."""
    incident = open_paged(url)
    slow = Paging(make_engine(url), transport=HangingTransport())
    other = Paging(make_engine(url))
    transport = slow.transport
    assert isinstance(transport, HangingTransport)
    sending = threading.Thread(target=slow.new_runner(claim_for=CLAIM_FOR).run_due, args=(datetime.now(UTC),))
    sending.start()
    try:
        assert transport.entered.wait(20)
        first = claim_deadline(slow.engine)
        assert first is not None
        assert poll_until(lambda: (claim_deadline(slow.engine) or first) > first + CLAIM_FOR / 2, 10.0), \
            "the claim was not renewed"
        assert poll_until(lambda: datetime.now(UTC) > first + timedelta(milliseconds=200), 10.0)
        meanwhile = other.new_runner(claim_for=CLAIM_FOR).run_due(datetime.now(UTC))
        assert (0, []) == (meanwhile.resent, other.transport.sent)
    finally:
        transport.release.set()
        sending.join(30)
    assert [("sent", None)] == statuses(slow.engine, incident)
    assert 1 == len(transport.sent)
    slow.engine.dispose()
    other.engine.dispose()


class Crash(BaseException):
    """Stands in for SIGKILL inside one process."""


def test_two_runners_after_one_pending_bundle_send_it_once_and_whole(url: str) -> None:
    """A bundle left pending (its runner died before claiming it) is found by two runners at
    once: one claims all of its rows, the other waits for it and finds nothing left."""
    rig = Paging(make_engine(url))
    now = datetime.now(UTC)
    first = rig.service.open_or_update(TicketSummary(source="zendesk", ticket_id="T-1", customer="acme",
                                                     subject="Outage 1"), "primary", now)
    rig.new_runner().run_due(now)  # ann is texted: the next SMS to her waits for the storm limit
    later = now + timedelta(minutes=1)
    held = [rig.service.open_or_update(TicketSummary(source="zendesk", ticket_id=f"T-{n}", customer="acme",
                                                     subject=f"Outage {n}"), "primary", later).id for n in (2, 3)]
    rig.new_runner().run_due(later)  # both held

    def crash(name: str) -> None:
        if name == "claiming":
            raise Crash

    with pytest.raises(Crash):  # released as one bundle, never claimed
        rig.new_runner(checkpoint=crash).run_due(later + timedelta(minutes=2))
    together = threading.Barrier(2)

    def at_claim(name: str) -> None:
        if name == "claiming":
            together.wait(10)

    runners = [Paging(make_engine(url)) for _ in range(2)]
    passes = [threading.Thread(target=r.new_runner(checkpoint=at_claim).run_due, args=(later + timedelta(minutes=2),))
              for r in runners]
    for t in passes:
        t.start()
    for t in passes:
        t.join(30)
    sent = [m for r in runners for m in r.transport.sent]
    assert [("ann", tuple(held))] == [(m.person_id, m.incident_ids) for m in sent]
    assert [("sent", None), ("sent", None)] == [s for i in held for s in statuses(rig.engine, i)]
    assert [("sent", None)] == statuses(rig.engine, first.id)
    for r in [rig, *runners]:
        r.engine.dispose()


def test_a_worker_frozen_inside_its_batch_leaves_it_to_another_and_commits_nothing(url: str,
                                                                                    tmp_path: Path) -> None:
    """Frozen after opening its batch's incidents, before the batch committed: once the
    claim's silence limit has passed the database ends its transaction, another worker
    decides the same events, and the frozen one, woken, commits nothing."""
    config = write_config(tmp_path / "config", delay="15m")
    engine = make_engine(url)
    Inbox(engine).receive_many([("generic", f"c-{n}", ticket_json("c", n), T0) for n in range(3)])
    engine.dispose()
    log = tmp_path / "frozen.json"
    child = FORK.Process(target=decide_once, args=(url, config, log),
                         kwargs={"freeze_at": "incident_opened", "claim_idle": timedelta(seconds=1)})
    child.start()
    engine = make_engine(url)
    try:
        assert child.pid is not None and poll_until(lambda: stopped(child.pid), 20.0), "the worker did not freeze"
        assert poll_until(lambda: not idle_in_transaction(engine), 20.0), "the frozen batch was never ended"
        other = FORK.Process(target=decide_once, args=(url, config, tmp_path / "other.json"),
                             kwargs={"freeze_at": "never", "claim_idle": timedelta(seconds=1)})
        other.start()
        other.join(30)
        assert 0 == other.exitcode
        assert 3 == len(json.loads((tmp_path / "other.json").read_text())["decided"])
        os.kill(child.pid, signal.SIGCONT)
        child.join(30)
        assert "error" in json.loads(log.read_text()), "the frozen worker's batch went on"
        with engine.connect() as conn:
            opened = Counter(conn.execute(select(incidents.c.ticket_id)).scalars())
        assert {f"M-{n}": 1 for n in range(3)} == dict(opened)
    finally:
        engine.dispose()

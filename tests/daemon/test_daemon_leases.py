"""The lease keeper: singleton duties run under named leases; failover within
``ONCALL_FAILOVER_SECONDS``; a keeper woken from a freeze writes nothing.

Two keepers share a scratch PostgreSQL database, each on its own thread as in two instances;
every wait is for an event, with a hard timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from daemon_rig import NY, MakeRig
from sqlalchemy import Engine
from support.databases import scratch_postgres_database

from oncall.daemon.duties import DutyReport, Pacing
from oncall.daemon.gate import SchemaGate
from oncall.daemon.leases import LeaseKeeper, lease_life
from oncall.errors import LeaseLost
from oncall.metrics import Metrics
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import get_cursor
from oncall.store.leases import LeaseStore, fenced_set_cursor

FAILOVER = timedelta(seconds=2)
NAMES = ("deadman", "handoffs", "poll:zendesk")
WAIT = 15.0


@dataclass(eq=False)
class Duty:
    name: str
    singleton: bool = True
    pacing: Pacing = Pacing.INTERVAL
    at_start: bool = False
    interval: timedelta = timedelta(hours=1)

    def run_once(self, now: datetime) -> DutyReport:
        return DutyReport()


@dataclass(eq=False)
class Instance:
    """One instance's keeper, and when it took each lease."""

    keeper: LeaseKeeper
    metrics: Metrics
    took: dict[str, float] = field(default_factory=dict)
    events: dict[str, threading.Event] = field(default_factory=dict)

    def taken(self, name: str) -> threading.Event:
        return self.events.setdefault(name, threading.Event())


@pytest.fixture
def database() -> Iterator[Engine]:
    with scratch_postgres_database("oncall_leases") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def instances(database: Engine) -> Iterator[list[Instance]]:
    made: list[Instance] = []

    def make(owner: str) -> Instance:
        metrics = Metrics()
        holder: list[Instance] = []

        def acquired(name: str) -> None:
            me = holder[0]
            me.took[name] = time.monotonic()
            me.taken(name).set()

        keeper = LeaseKeeper(LeaseStore(database, owner, clock=lambda: datetime.now(UTC)), NAMES,
                             failover=FAILOVER, gate=SchemaGate(database), metrics=metrics, on_acquired=acquired)
        instance = Instance(keeper=keeper, metrics=metrics)
        holder.append(instance)
        made.append(instance)
        return instance

    made_a, made_b = make("host-a:1:aaaaaa"), make("host-b:2:bbbbbb")
    yield [made_a, made_b]
    for instance in made:
        instance.keeper.stop()


def wait(event: threading.Event, what: str) -> None:
    assert event.wait(WAIT), f"timed out waiting for {what}"


def held(instance: Instance, name: str) -> float:
    return instance.metrics.registry.get_sample_value("oncall_leases_held", {"name": name}) or 0.0


@pytest.mark.postgres
def test_the_first_instance_takes_every_lease_and_the_other_stands_by(instances: list[Instance]) -> None:
    a, b = instances
    a.keeper.start()
    for name in NAMES:
        wait(a.taken(name), f"a to take {name}")
    b.keeper.tick()
    assert (list(NAMES), []) == ([v.name for v in a.keeper.view()], b.keeper.view())
    assert not b.keeper.may_run(Duty("handoffs"))
    assert b.keeper.may_run(Duty("engine", singleton=False))  # claims its work instead
    assert a.keeper.may_run(Duty("handoffs"))
    assert (1.0, 0.0) == (held(a, "handoffs"), held(b, "handoffs"))


@pytest.mark.postgres
def test_when_the_holder_stops_renewing_the_other_takes_each_lease_within_the_failover_bound(
        instances: list[Instance]) -> None:
    """The holder's keeper thread stops dead (as in a SIGKILL or SIGSTOP: no release)."""
    a, b = instances
    a.keeper.start()
    for name in NAMES:
        wait(a.taken(name), f"a to take {name}")
    b.keeper.tick()
    assert [] == b.keeper.view()
    b.keeper.start()
    a.keeper.stop()  # frozen or killed: no more renewals, nothing let go
    stopped = time.monotonic()
    for name in NAMES:
        wait(b.taken(name), f"b to take {name}")
    slowest = max(b.took[name] for name in NAMES) - stopped
    # The bound, plus what two threads on a loaded two-core machine may be late by.
    assert slowest <= FAILOVER.total_seconds() * 1.25, slowest
    tokens = {v.name: v.token for v in b.keeper.view()}
    assert {name: 2 for name in NAMES} == tokens


@pytest.mark.postgres
def test_a_frozen_holder_that_wakes_finds_its_lease_gone_and_writes_nothing(
        instances: list[Instance], database: Engine) -> None:
    a, b = instances
    assert a.keeper.ensure("poll:zendesk")
    fence_a = a.keeper.fence("poll:zendesk")
    fenced_set_cursor(database, fence_a, "poll:zendesk", "page-1", datetime.now(UTC))
    # Frozen for longer than the lease: b's keeper takes it.
    b.keeper.start()
    wait(b.taken("poll:zendesk"), "b to take the poller's lease")
    fenced_set_cursor(database, b.keeper.fence("poll:zendesk"), "poll:zendesk", "page-9", datetime.now(UTC))
    # a wakes in the middle of a poll, token 1 in hand: its cursor write is refused.
    fence_a.token = 1
    with pytest.raises(LeaseLost):
        fenced_set_cursor(database, fence_a, "poll:zendesk", "page-2", datetime.now(UTC))
    assert "page-9" == get_cursor(database, "poll:zendesk")
    assert not a.keeper.may_run(Duty("poll:zendesk"))
    assert [] == a.keeper.view()
    losses = a.metrics.registry.get_sample_value("oncall_lease_losses_total", {"name": "poll:zendesk"})
    assert 1.0 == losses


@pytest.mark.postgres
def test_a_holder_that_drains_lets_its_leases_go_and_the_other_takes_them_at_its_next_tick(
        instances: list[Instance]) -> None:
    a, b = instances
    a.keeper.tick()
    b.keeper.tick()
    assert [] == b.keeper.view()
    a.keeper.release_all("shutting down")
    b.keeper.tick()
    assert list(NAMES) == [v.name for v in b.keeper.view()]


@pytest.mark.postgres
def test_a_holder_cut_off_from_the_database_stops_running_its_duties_when_its_lease_lapses(
        instances: list[Instance]) -> None:
    """Renewals fail; the lease is still counted valid until its life is up, never after."""
    a, _b = instances
    now = [1000.0]
    a.keeper.monotonic = lambda: now[0]
    a.keeper.tick()

    def unreachable(_name: str, _life: timedelta) -> None:
        raise ConnectionError("database unreachable")

    a.keeper.store.acquire = unreachable  # type: ignore[assignment,method-assign]
    now[0] += lease_life(FAILOVER).total_seconds() / 2
    assert a.keeper.may_run(Duty("handoffs"))
    now[0] += lease_life(FAILOVER).total_seconds() / 2
    assert not a.keeper.may_run(Duty("handoffs"))
    assert [] == a.keeper.view()


@pytest.mark.postgres
def test_a_closed_schema_gate_runs_no_duty_and_lets_the_leases_go(instances: list[Instance],
                                                                  database: Engine) -> None:
    a, b = instances
    a.keeper.tick()
    newer = SchemaGate(database, code="0001")  # older code than the database: the gate is closed
    a.keeper.gate = newer
    assert not a.keeper.may_run(Duty("engine", singleton=False))
    a.keeper.tick()
    assert [] == a.keeper.view()
    b.keeper.tick()
    assert list(NAMES) == [v.name for v in b.keeper.view()]


def test_on_sqlite_a_restarted_daemon_takes_the_leases_at_once(make_rig: MakeRig) -> None:
    """One instance per SQLite file (the instance lock): the leases of the daemon before the
    restart are not waited for, and its token is superseded."""
    monday = datetime(2026, 11, 30, 7, 30, tzinfo=NY)
    before = make_rig(monday)
    assert before.daemon.duties.run_once("handoffs") is not None
    after = make_rig(monday)
    assert after.daemon.duties.run_once("handoffs") is not None
    assert [("handoffs", 2)] == [(v.name, v.token) for v in after.daemon.keeper.view()]
    assert before.daemon.instance_id != after.daemon.instance_id

"""Escalation engine benchmark: 10,000 open incidents in the database.

* due-step lateness: how long after its due instant a step's page is handed to the
  transport, with the runner woken by ``next_wakeup()`` as the daemon's precise
  APScheduler date job would;
* ticket → transport: from ``open_or_update`` of an accepted ticket to the page
  handed to the transport (the daemon calls ``run_due`` on change).

SQLite always; PostgreSQL too when ``ONCALL_TEST_POSTGRES_URL`` is set.
Run: ``python bench/bench_engine.py`` (prints a Markdown table).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text, update

from oncall.escalation.policy import ChannelLimit, EscalationPolicy, NotificationSettings
from oncall.escalation.runner import Runner
from oncall.escalation.state import IncidentState, state_to_json
from oncall.incidents.model import TicketSummary
from oncall.incidents.service import IncidentService
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.store.db import make_engine, upgrade
from oncall.store.tables import incidents, metadata, notifications
from oncall.testing.paging import FakeDirectory, person

OPEN_INCIDENTS = 10_000
SAMPLES = 300
TARGET_MS = 100.0
POLICY = EscalationPolicy.model_validate({"id": "bench", "steps": [
    {"targets": [{"schedule": "primary"}], "contact": "sms", "delay": "15m"},
    {"targets": [{"schedule": "secondary"}], "contact": "sms", "delay": "15m"}],
    "repeat": "forever"})
PEOPLE = [f"p{i}" for i in range(50)]


class StampingTransport:
    """Records when each incident's page was handed over (wall and monotonic)."""

    name = "bench"

    def __init__(self) -> None:
        self.wall: dict[int, float] = {}
        self.mono: dict[int, float] = {}

    def channels(self) -> frozenset[Channel]:
        return frozenset(Channel)

    def send(self, message: Outbound) -> SendResult:
        wall, mono = time.time(), time.perf_counter()
        for i in message.incident_ids:
            self.wall.setdefault(i, wall)
            self.mono.setdefault(i, mono)
        return SendResult(provider_id=None, status="queued")


def fresh(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    return engine


def populate(engine: Engine, now: datetime) -> None:
    """10,000 triggered incidents waiting between steps, each with a sent page."""
    later = now + timedelta(hours=1)
    policy_json = POLICY.model_dump(mode="json")
    rows = []
    for i in range(1, OPEN_INCIDENTS + 1):
        state = IncidentState(incident_id=i, round=0, step=0, next_action_at=later)
        rows.append({"id": i, "source": "bench", "ticket_id": f"B-{i}", "state": "triggered",
                     "policy_id": "bench", "policy_json": policy_json,
                     "engine_state": state_to_json(state), "round": 0, "step": 0,
                     "next_action_at": later, "created_at": now, "updated_at": now,
                     "priority": "urgent", "customer": "acme", "subject": f"Outage {i}"})
    ledger = [{"incident_id": i, "person_id": PEOPLE[i % len(PEOPLE)], "channel": "sms",
               "address": "+15550100000", "status": "sent", "round": 0, "step": 0,
               "attempt": 1, "short_code": i // len(PEOPLE) + 1, "body": "",
               "queued_at": now - timedelta(hours=1), "created_at": now, "updated_at": now}
              for i in range(1, OPEN_INCIDENTS + 1)]
    with engine.begin() as conn:
        for start in range(0, OPEN_INCIDENTS, 2000):
            conn.execute(insert(incidents), rows[start:start + 2000])
            conn.execute(insert(notifications), ledger[start:start + 2000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('incidents_id_seq', :n)"), {"n": OPEN_INCIDENTS})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, label: str) -> list[dict[str, object]]:
    engine = fresh(url)
    now = datetime.now(UTC)
    populate(engine, now)
    directory = FakeDirectory(contacts={p: person(p, Channel.SMS) for p in PEOPLE},
                              on_call_map={"primary": ("p1",), "secondary": ("p2",)},
                              policies={"bench": POLICY})
    zero = ChannelLimit(min_interval=timedelta(0))  # measure the engine, not storm limits
    settings = NotificationSettings(sms=zero, voice=zero, email=zero)
    transport = StampingTransport()
    runner = Runner(engine, transport, lambda: directory, lambda: settings)
    service = IncidentService(engine, lambda: directory)
    runner.run_due(datetime.now(UTC))  # start-up recovery, nothing due

    # 1. due-step lateness: SAMPLES incidents fall due 15 ms apart from now on.
    start = datetime.now(UTC) + timedelta(milliseconds=200)
    due = {i: start + timedelta(milliseconds=15 * k)
           for k, i in enumerate(range(1, OPEN_INCIDENTS + 1, OPEN_INCIDENTS // SAMPLES))}
    with engine.begin() as conn:
        for i, at in due.items():
            state = IncidentState(incident_id=i, round=0, step=0, next_action_at=at)
            conn.execute(update(incidents).where(incidents.c.id == i).values(
                next_action_at=at, engine_state=state_to_json(state)))
    last = max(due.values())
    while (wake := runner.next_wakeup()) is not None and wake <= last:
        delay = (wake - datetime.now(UTC)).total_seconds()
        if delay > 0:
            time.sleep(delay)  # the daemon's APScheduler date job does this
        runner.run_due(datetime.now(UTC))
    lateness = [(transport.wall[i] - at.timestamp()) * 1000 for i, at in due.items()]

    # 2. accepted ticket → page handed to the transport.
    latency = []
    for n in range(SAMPLES):
        t0 = time.perf_counter()
        inc = service.open_or_update(TicketSummary(source="bench", ticket_id=f"N-{n}",
                                                   customer="acme", subject="New outage"),
                                     "bench", datetime.now(UTC))
        runner.run_due(datetime.now(UTC))
        latency.append((transport.mono[inc.id] - t0) * 1000)
    engine.dispose()
    out = []
    for name, values in (("due step lateness", lateness), ("ticket → transport", latency)):
        p99 = pct(values, 0.99)
        out.append({"benchmark": name, "p50_ms": round(statistics.median(values), 2),
                    "p99_ms": round(p99, 2), "target": f"p99 < {TARGET_MS:.0f} ms",
                    "met": p99 < TARGET_MS, "database": label,
                    "open_incidents": OPEN_INCIDENTS, "samples": len(values)})
    return out


def run() -> list[dict[str, object]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += measure(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite")
    pg = os.environ.get("ONCALL_TEST_POSTGRES_URL")
    if pg:
        rows += measure(pg, "postgresql")
    return rows


def main() -> None:
    rows = run()
    print(f"Escalation engine, {OPEN_INCIDENTS:,} open incidents, {SAMPLES} samples each\n")
    print("| benchmark | database | p50 ms | p99 ms | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['benchmark']} | {r['database']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['target']} | {'yes' if r['met'] else 'NO'} |")
    if not os.environ.get("ONCALL_TEST_POSTGRES_URL"):
        print("\n(PostgreSQL skipped: ONCALL_TEST_POSTGRES_URL not set)", file=sys.stderr)


if __name__ == "__main__":
    main()

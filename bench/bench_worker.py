"""Worker benchmark: the CPU the worker spends per paging ticket.

The worker is what the daemon's engine duty runs: stored ticket events taken in batches
(``Intake.process_batch``: lifecycle, decision, incidents opened), each batch followed by
the escalation runner (``Runner.run_due``: first step, ledger rows, claim, hand-over to the
transport, outcome). It runs here in-process over a real database with the configuration
of ``./schedules`` (the demo customer's urgent tickets page at any hour; storm limit off,
so each ticket's page is its own message, as in ``bench_daemon``) and a transport that
accepts at once. The webhooks' share (HTTP, signature, storing the event) is not counted.

* saturation: ``TICKETS`` paging tickets stored before the worker starts; worker CPU
  (``time.process_time`` of the process, sender threads included) / tickets;
* 10 tickets/s: a separate process stores one ticket every 100 ms and wakes the worker,
  as a webhook does; worker CPU over the run / tickets;

each with 0 and ``OPEN`` open incidents already paged to the people on call (the reply codes
in use, the ledger and the incident table as a busy night leaves them). SQLite always;
PostgreSQL when ``ONCALL_TEST_POSTGRES_URL`` is set (a database of its own, ``oncall_bench_worker``),
where the server's CPU (every ``postgres`` process, read from ``/proc``) is reported beside.
Targets: ≤ 1 ms per ticket at saturation, ≤ 5 ms at 10/s, 0 vs ``OPEN`` within 20 %.

Run: ``python -m bench.bench_worker`` (prints a Markdown table; ``BENCH_WORKER_TICKETS``,
``BENCH_WORKER_SECONDS`` change the sizes).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from support.reliab_daemon import write_config

from oncall import logs
from oncall.config.loader import load
from oncall.config.snapshot import Snapshot
from oncall.directory import SnapshotDirectory
from oncall.escalation.runner import Runner
from oncall.escalation.state import IncidentState, state_to_json
from oncall.incidents.service import IncidentService
from oncall.intake import Intake
from oncall.interfaces import Channel, Outbound, SendResult
from oncall.store.db import make_engine, upgrade
from oncall.store.inbox import Inbox
from oncall.store.tables import incidents, metadata, notifications, reply_codes

TICKETS = int(os.environ.get("BENCH_WORKER_TICKETS", "1000"))
STEADY_SECONDS = float(os.environ.get("BENCH_WORKER_SECONDS", "15"))
STEADY_RATE = 10.0
OPEN = 10_000
BATCH = 25  # the engine duty's batch (oncall.daemon.duties.engine.INTAKE_BATCH)
SATURATION_TARGET_MS = 1.0
STEADY_TARGET_MS = 5.0
GROWTH_TARGET = 0.20
FORK = multiprocessing.get_context("fork")
Row = dict[str, Any]


class AcceptingTransport:
    """Takes every message at once (the provider's share is not the worker's)."""

    name = "bench"

    def __init__(self) -> None:
        self.messages = 0

    def channels(self) -> frozenset[Channel]:
        return frozenset(Channel)

    def send(self, message: Outbound) -> SendResult:
        self.messages += 1
        return SendResult(provider_id=f"SM{message.key}", status="queued")


def ticket_json(n: int, prefix: str) -> dict[str, Any]:
    return {"id": f"{prefix}{n}", "source": "generic", "subject": f"Outage {prefix}{n}", "priority": "urgent",
            "status": "new", "created_at": "2026-11-25T03:00:00Z", "customer": "demo"}


def _postgres_url() -> str | None:
    """A database of its own next to the test one: the benchmark never clobbers tests."""
    url = os.environ.get("ONCALL_TEST_POSTGRES_URL")
    if not url:
        return None
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = 'oncall_bench_worker'")).first():
                conn.execute(text("CREATE DATABASE oncall_bench_worker"))
    finally:
        admin.dispose()
    return make_url(url).set(database="oncall_bench_worker").render_as_string(hide_password=False)


def fresh(url: str) -> None:
    """An empty database at this version's schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        for leftover in Path(parsed.database).parent.glob(Path(parsed.database).name + "*"):
            leftover.unlink()
    engine = make_engine(url)
    try:
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(engine)
    finally:
        engine.dispose()


def seed_open(engine: Engine, snapshot: Snapshot, now: datetime, count: int) -> None:
    """``count`` triggered incidents between steps, each paged (SMS, sent) to everyone on the
    schedule, with reply codes 1…count per person, as a long busy night leaves them."""
    if not count:
        return
    policy = snapshot.escalation_policies["emergency"]
    people = sorted(snapshot.people)
    later = now + timedelta(hours=2)
    policy_json = policy.model_dump(mode="json")
    with engine.begin() as conn:
        for start in range(1, count + 1, 2000):
            ids = range(start, min(start + 2000, count + 1))
            conn.execute(insert(incidents), [{
                "id": i, "source": "seed", "ticket_id": f"S-{i}", "state": "triggered", "policy_id": policy.id,
                "policy_json": policy_json,
                "engine_state": state_to_json(IncidentState(incident_id=i, round=0, step=0, next_action_at=later)),
                "round": 0, "step": 0, "next_action_at": later, "created_at": now, "updated_at": now,
                "priority": "urgent", "customer": "demo", "subject": f"Outage {i}"} for i in ids])
            conn.execute(insert(notifications), [{
                "incident_id": i, "person_id": p, "channel": "sms", "address": "+12025550100", "status": "sent",
                "round": 0, "step": 0, "attempt": 1, "short_code": i, "body": "", "message_key": f"seed-{i}-{p}",
                "queued_at": now - timedelta(hours=1), "created_at": now, "updated_at": now}
                for i in ids for p in people])
        for start in range(1, count + 1, 5000):
            conn.execute(insert(reply_codes), [{"person_id": p, "code": i, "incident_id": i}
                                               for i in range(start, min(start + 5000, count + 1))
                                               for p in people])
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('incidents', 'id'), :n)"), {"n": count})


@dataclass
class Worker:
    engine: Engine
    intake: Intake
    runner: Runner
    transport: AcceptingTransport

    def drain(self) -> int:
        """The engine duty's loop: a batch of stored events, then the runner, until none is left."""
        done = 0
        while True:
            now = datetime.now(UTC)
            batch = self.intake.process_batch(now, BATCH)
            self.runner.run_due(now)
            done += len(batch)
            if len(batch) < BATCH:
                return done


def build_worker(url: str, snapshot: Snapshot) -> Worker:
    engine = make_engine(url)
    directory = SnapshotDirectory(snapshot)
    service = IncidentService(engine, lambda: directory)
    transport = AcceptingTransport()
    runner = Runner(engine, transport, lambda: directory, lambda: snapshot.notifications)
    intake = Intake(Inbox(engine), service, lambda: snapshot)
    return Worker(engine=engine, intake=intake, runner=runner, transport=transport)


def server_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database`` on this host (read from
    ``/proc``; empty when none is visible)."""
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            fields = stat[stat.rindex(")") + 2:].split()
            found[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def server_cpu_since(url: str, before: dict[int, float]) -> float:
    """Backend CPU for ``url``'s database since ``before`` (:func:`server_cpu`)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in server_cpu(make_url(url).database or "").items())


def _paged(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count(func.distinct(notifications.c.incident_id)))
                                .join(incidents, incidents.c.id == notifications.c.incident_id)
                                .where(incidents.c.ticket_id.like(f"{prefix}%"),
                                       notifications.c.status == "sent")).scalar_one())


def _store(engine: Engine, prefix: str, numbers: range) -> None:
    now = datetime.now(UTC)
    Inbox(engine).receive_many([("generic", f"{prefix}{n}", ticket_json(n, prefix), now) for n in numbers])


def saturation(url: str, snapshot: Snapshot, open_count: int) -> Row:
    fresh(url)
    seeding = make_engine(url)
    seed_open(seeding, snapshot, datetime.now(UTC), open_count)
    _store(seeding, "T", range(TICKETS))
    seeding.dispose()
    worker = build_worker(url, snapshot)
    worker.runner.run_due(datetime.now(UTC))  # start-up recovery: nothing due
    server0, cpu0, wall0 = server_cpu(make_url(url).database or ""), time.process_time(), time.perf_counter()
    processed = worker.drain()
    cpu, wall, server = time.process_time() - cpu0, time.perf_counter() - wall0, server_cpu_since(url, server0)
    paged = _paged(worker.engine, "T")
    worker.engine.dispose()
    assert (TICKETS, TICKETS) == (processed, paged), f"processed {processed}, paged {paged} of {TICKETS}"
    return _row("saturation", url, open_count, TICKETS, cpu, wall, server, SATURATION_TARGET_MS)


def _feed(url: str, wake: Pipe, count: int, rate: float) -> None:
    """The webhooks' side: one ticket every 1/rate s, each followed by a wake-up."""
    engine = make_engine(url)
    inbox = Inbox(engine)
    start = time.perf_counter()
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        inbox.receive("generic", f"R{n}", ticket_json(n, "R"), datetime.now(UTC))
        wake.send(n)
    wake.send(None)
    engine.dispose()


def steady(url: str, snapshot: Snapshot, open_count: int) -> Row:
    fresh(url)
    seeding = make_engine(url)
    seed_open(seeding, snapshot, datetime.now(UTC), open_count)
    seeding.dispose()
    count = int(STEADY_SECONDS * STEADY_RATE)
    ours, theirs = FORK.Pipe(duplex=False)
    feeder = FORK.Process(target=_feed, args=(url, theirs, count, STEADY_RATE), daemon=True)
    feeder.start()  # before the worker opens its first connection: nothing shared across the fork
    theirs.close()
    worker = build_worker(url, snapshot)
    worker.runner.run_due(datetime.now(UTC))
    server0, cpu0, wall0 = server_cpu(make_url(url).database or ""), time.process_time(), time.perf_counter()
    processed = 0
    while processed < count:
        last = ours.recv() is None
        processed += worker.drain()
        if last:
            break
    cpu, wall, server = time.process_time() - cpu0, time.perf_counter() - wall0, server_cpu_since(url, server0)
    feeder.join(10)
    paged = _paged(worker.engine, "R")
    worker.engine.dispose()
    assert (count, count) == (processed, paged), f"processed {processed}, paged {paged} of {count}"
    return _row(f"{STEADY_RATE:g} tickets/s", url, open_count, count, cpu, wall, server, STEADY_TARGET_MS)


def _row(load_name: str, url: str, open_count: int, tickets: int, cpu: float, wall: float, server: float,
         target_ms: float) -> Row:
    backend = make_url(url).get_backend_name()
    per_ticket = cpu / tickets * 1000
    return {"benchmark": f"worker CPU per paging ticket, {load_name}",
            "database": "postgresql" if backend == "postgresql" else "sqlite",
            "open_incidents": open_count, "value": round(per_ticket, 3), "unit": "ms/ticket",
            "target": f"≤ {target_ms:g} ms", "met": per_ticket <= target_ms,
            "note": f"{tickets} tickets, wall {wall:.2f} s ({wall / tickets * 1000:.2f} ms/ticket)"
                    + (f"; PostgreSQL server CPU {server / tickets * 1000:.2f} ms/ticket" if backend == "postgresql"
                       else "")}


def _growth(rows: list[Row]) -> list[Row]:
    """0 vs OPEN open incidents, per database and load: within GROWTH_TARGET."""
    out: list[Row] = []
    for row in rows:
        if row["open_incidents"] != OPEN:
            continue
        base = next(r for r in rows if r["open_incidents"] == 0 and r["database"] == row["database"]
                    and r["benchmark"] == row["benchmark"])
        growth = row["value"] / base["value"] - 1 if base["value"] else 0.0
        out.append({"benchmark": row["benchmark"].replace("worker CPU", f"growth 0 → {OPEN:,} open, worker CPU"),
                    "database": row["database"], "value": round(growth * 100, 1), "unit": "%",
                    "target": f"≤ {GROWTH_TARGET * 100:g} %", "met": growth <= GROWTH_TARGET,
                    "note": f"{base['value']} → {row['value']} ms/ticket"})
    return out


def measure(url: str, snapshot: Snapshot) -> list[Row]:
    rows: list[Row] = []
    only = os.environ.get("BENCH_WORKER_ONLY")  # "saturation" or "steady": one load only
    for scenario in [s for s in (saturation, steady) if only in (None, s.__name__)]:
        for open_count in (0, OPEN):
            rows.append(scenario(url, snapshot, open_count))
    return rows + _growth(rows)


def run() -> list[Row]:
    # The daemon's JSON log lines, written and dropped. Left open: the handler stays configured
    # for the benchmarks that run after this one in the same process.
    devnull = open(os.devnull, "w")
    logs.configure("json", "info", stream=devnull)
    return _run_all()


def _run_all() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="oncall-bench-worker-") as tmp:
        work = Path(tmp)
        config = write_config(work / "config", delay="15m", sms_interval="0s", voice_interval="0s")
        snapshot = load(config, now=datetime.now(UTC))
        rows = measure(f"sqlite:///{work / 'worker.db'}", snapshot)
        pg = _postgres_url()
        if pg:
            rows += measure(pg, snapshot)
        else:
            rows.append({"benchmark": "worker CPU per paging ticket", "database": "postgresql",
                         "note": "skipped: ONCALL_TEST_POSTGRES_URL not set"})
    load_average = Path("/proc/loadavg").read_text().split()[:3]
    for row in rows:
        row["note"] = f"{row.get('note', '')}; load {' '.join(load_average)}".lstrip("; ")
    return rows


def main(select_rows: Callable[[Row], bool] = lambda _r: True) -> None:
    keys = ["benchmark", "database", "open_incidents", "value", "unit", "target", "met", "note"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in filter(select_rows, run()):
        print("| " + " | ".join("" if row.get(k) is None else str(row.get(k)) for k in keys) + " |")


if __name__ == "__main__":
    main()

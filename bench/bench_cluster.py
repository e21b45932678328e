"""Several instances on one PostgreSQL database: the real ``oncall run`` processes, a fresh
database and fresh daemons for every figure.

* intake throughput with 1, 2 and 3 instances: non-paging signed tickets spread over the
  instances at 500 → 4,000 a second (``BENCH_INTAKE_SECONDS`` each, default 3) until a step
  loses a ticket (not 202, not stored, or not evaluated within 30 s) or falls under 95 % of
  its rate; the figure is the highest rate achieved without loss;
* time to page with 1, 2 and 3 instances at 50 and 200 tickets a second
  (``BENCH_CLUSTER_SECONDS``, default 15): webhook request sent → the page's arrival at the
  fake Twilio, p50 / p99 (storm limit off: each ticket's page is its own message);
* failover: three instances, two of them set to die (``ONCALL_FAULT_KILL_AT=before_send:N``:
  SIGKILLed holding the claim of a page they were about to send) and restarted at once, again
  and again; for each death, the time until that page — the due step the dead instance held —
  reached Twilio from a surviving instance, p50 / p99 over at least 20 deaths, with the
  default failover bound (``ONCALL_FAILOVER_SECONDS`` 15 s);
* resident memory of every process (each instance is a web process and its worker child)
  with three instances idle, and after they paged 10,000 incidents.

Run: ``python -m bench.bench_cluster`` (needs ``ONCALL_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from support.load_blast import Request, blast, signed
from support.load_clients import StampingTwilio, first_page_at, percentile
from support.reliab_daemon import (
    DaemonSpec,
    Proc,
    ScriptLauncher,
    free_port,
    poll_until,
    stop,
    ticket_body,
    wait_ready,
    write_config,
)

from oncall.store.tables import notifications, ticket_events
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN

SECONDS = float(os.environ.get("BENCH_CLUSTER_SECONDS", "15"))
INTAKE_SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "3"))
INTAKE_RATES = (500, 1000, 2000, 3000, 4000)
PAGE_RATES = (50, 200)
INSTANCES = (1, 2, 3)
KILLS = int(os.environ.get("BENCH_FAILOVER_KILLS", "20"))
MEMORY_INCIDENTS = int(os.environ.get("BENCH_MEMORY_INCIDENTS", "10000"))
DRAIN_SECONDS = 30.0
Row = dict[str, Any]


def _load() -> float:
    """The machine's load average over the last minute, reported beside each figure."""
    return round(os.getloadavg()[0], 1)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (an instance: the web process and its worker child)."""
    found = [pid]
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += process_tree(int(child))
    return found


def wait_working(base_url: str, proc: Proc, timeout: float = 90.0) -> None:
    """Ready (``/readyz`` 200), and its worker process has reported: ``/readyz`` is 200 while
    the worker still starts (webhooks are taken meanwhile), but a measurement must not count
    the worker's start-up."""
    wait_ready(base_url, proc, timeout=timeout)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                worker = (client.get(base_url + "/readyz").json().get("instance") or {}).get("worker")
            except (httpx.HTTPError, ValueError):
                worker = {}
            if worker is None or (worker or {}).get("last_report_seconds_ago") is not None:
                return
            time.sleep(0.05)
    raise TimeoutError(f"the worker of {base_url} did not report within {timeout:.0f} s")


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new, empty database next to the test one, dropped after (the role has CREATEDB)."""
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    name = f"oncall_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Cluster:
    """``n`` instances of ``oncall run`` on one database and configuration, started together."""

    def __init__(self, work: Path, config: Path, url: str, n: int, twilio: str | None = None,
                 extra: dict[str, str] | None = None) -> None:
        self.launcher = ScriptLauncher()
        self.specs = [DaemonSpec(config=config, db_url=url, port=free_port(), twilio_base=twilio,
                                 extra=dict(extra or {})) for _ in range(n)]
        self.work = work
        self.procs: list[Proc] = []

    @property
    def urls(self) -> list[str]:
        return [s.base_url for s in self.specs]

    def __enter__(self) -> Cluster:
        self.procs = [self.launcher.start(s.env(), self.work / f"daemon-{s.port}.log") for s in self.specs]
        for spec, proc in zip(self.specs, self.procs, strict=True):
            wait_working(spec.base_url, proc)
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in self.launcher.procs:
            stop(proc)
        self.launcher.close()

    def memory(self) -> list[tuple[str, float, float]]:
        """(process, current MB, peak MB) for every process of every instance."""
        found = []
        for n, proc in enumerate(self.procs):
            for k, pid in enumerate(process_tree(proc.pid)):
                current, peak = rss_mb(pid)
                found.append((f"instance {n + 1} {'web' if k == 0 else 'worker'}", current, peak))
        return found


def _urgent(prefix: str, i: int) -> Request:
    return signed(f"{prefix}{i}", ticket_body(f"{prefix}{i}"))


def _low(prefix: str, i: int) -> Request:
    return signed(f"{prefix}{i}", ticket_body(f"{prefix}{i}", priority="low"))


def _processed(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ticket_events)
                                .where(ticket_events.c.processed_at.is_not(None))).scalar_one())


def intake(work: Path, base: str, n: int) -> Row:
    config = write_config(work / f"intake-config-{n}", delay="15m")
    steps: list[str] = []
    best = 0.0
    with fresh_database(base) as url, Cluster(work, config, url, n) as cluster:
        reader = create_engine(url)
        total = 0
        for rate in INTAKE_RATES:
            requests = [_low(f"I{n}-{rate}-", i) for i in range(int(rate * INTAKE_SECONDS))]
            load = blast(cluster.urls, requests, rate=rate)
            total += load.accepted
            done = time.perf_counter()
            drained = poll_until(lambda: _processed(reader) >= total, DRAIN_SECONDS, interval=0.1)
            lag = time.perf_counter() - done
            lossless = load.accepted == len(requests) and drained
            holds = lossless and load.achieved_rate >= 0.95 * rate
            if lossless:
                best = max(best, min(load.achieved_rate, float(rate)))
            steps.append(f"{rate}→{load.achieved_rate:.0f}/s{'' if lossless else ' LOSS'} (drain {lag:.1f} s)")
            if not holds:
                break
        reader.dispose()
    return {"benchmark": f"intake throughput, zero loss, {n} instance{'s' if n > 1 else ''}",
            "database": "postgresql",
            "load": _load(), "value": round(best), "unit": "tickets/s", "target": "", "met": None,
            "note": "; ".join(steps) + f"; {INTAKE_SECONDS:g} s per step"}


def time_to_page(work: Path, base: str, n: int, rate: int) -> Row:
    config = write_config(work / f"page-config-{n}-{rate}", delay="15m", sms_interval="0s", voice_interval="0s")
    with fresh_database(base) as url, StampingTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, \
            Cluster(work, config, url, n, fake.base_url) as cluster:
        requests = [_urgent(f"P{n}-{rate}-", i) for i in range(int(rate * SECONDS))]
        load = blast(cluster.urls, requests, rate=rate)
        accepted = {t for t, s in load.status.items() if s == 202}
        poll_until(lambda: accepted <= set(first_page_at(url, fake.arrived)), DRAIN_SECONDS, interval=0.5)
        gave_up = time.perf_counter()
        first = first_page_at(url, fake.arrived)
    latencies = [(first[t] - load.sent_at[t]) * 1000 for t in accepted if t in first]
    missing = len(accepted) - len(latencies)
    latencies += [(gave_up - load.sent_at[t]) * 1000 for t in accepted if t not in first]
    lost = len(requests) - len(accepted)
    return {"benchmark": f"time to page @ {rate}/s, {n} instance{'s' if n > 1 else ''}", "database": "postgresql",
            "load": _load(),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "target": "", "met": None,
            "note": ("lower bounds: " if missing else "") + f"{len(requests)} tickets over {load.seconds:.1f} s, "
                    f"{lost} not accepted, {missing} not paged within {DRAIN_SECONDS:.0f} s"}


class DeathWatch:
    """Notes when each victim dies (polling every 5 ms) and restarts it at once, with a new
    ``before_send:N``, from a thread of its own so the next death is seen on time."""

    def __init__(self, cluster: Cluster, victims: list[DaemonSpec], rng: random.Random) -> None:
        self.cluster = cluster
        self.victims = victims
        self.rng = rng
        self.deaths: list[float] = []
        self.died_at: dict[int, float] = {}  # web process pid → when it died
        self.procs: dict[int, Proc | None] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _launch(self, spec: DaemonSpec) -> None:
        with self._lock:
            env = spec.env(fault=f"before_send:{self.rng.randint(1, 3)}")
            self.procs[spec.port] = self.cluster.launcher.start(env, self.cluster.work / f"daemon-{spec.port}.log")

    def start(self) -> None:
        for spec in self.victims:
            self._launch(spec)
        self._thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            for spec in self.victims:
                with self._lock:
                    proc = self.procs.get(spec.port)
                    if proc is None or proc.exit_code() is None:
                        continue
                    died = time.perf_counter()
                    self.deaths.append(died)
                    self.died_at[proc.pid] = died
                    again = len(self.deaths) < KILLS + 4
                    self.procs[spec.port] = None
                if again:
                    self._launch(spec)
            time.sleep(0.005)

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join()

    def alive(self) -> list[Proc]:
        with self._lock:
            return [p for p in self.procs.values() if p is not None]


def worker_parents(logs: list[Path]) -> dict[int, int]:
    """Worker child pid → its web process's pid, from the instances' ``worker.started`` lines."""
    found: dict[int, int] = {}
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if '"worker.started"' not in line:
                continue
            try:
                event = json.loads(line)
                found[int(event["pid"])] = int(str(event["instance"]).split(":")[1])
            except (ValueError, KeyError, IndexError):
                continue
    return found


def failover(work: Path, base: str) -> Row:
    """Deaths while holding a claimed page; each measured to that page's resend at Twilio."""
    config = write_config(work / "failover-config", delay="5s", sms_interval="0s", voice_interval="0s")
    with fresh_database(base) as url, StampingTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        fake._server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        cluster = Cluster(work, config, url, 1, fake.base_url)
        victims = [DaemonSpec(config=config, db_url=url, port=free_port(), twilio_base=fake.base_url)
                   for _ in range(2)]
        reader = create_engine(url)
        with cluster:
            watch = DeathWatch(cluster, victims, random.Random(7))
            watch.start()
            deadline = time.monotonic() + 600
            with httpx.Client(timeout=10.0) as client:
                i = 0
                while len(watch.deaths) < KILLS and time.monotonic() < deadline:
                    request = _urgent("F-", i)  # to the instance that stays: the victims claim from the database
                    client.post(cluster.urls[0] + "/webhooks/tickets/generic", content=request.body,
                                headers=request.headers)
                    i += 1
                    time.sleep(0.25)
            watch.stop()
            poll_until(lambda: _recovered(reader), 90.0, interval=0.5)
            time.sleep(5.0)  # restarts under way finish
            for proc in watch.alive():
                stop(proc)
            parents = worker_parents([work / f"daemon-{spec.port}.log" for spec in victims])
            died_at = {worker: watch.died_at[web] for worker, web in parents.items() if web in watch.died_at}
            delays = _recoveries(reader, fake.arrived, died_at | watch.died_at)
        reader.dispose()
    return {"benchmark": "failover: instance killed holding a due page → that page at Twilio", "database": "postgresql",
            "load": _load(),
            "p50_ms": percentile(delays, 50) * 1000 if delays else None,
            "p99_ms": percentile(delays, 99) * 1000 if delays else None,
            "target": "≤ 16 s: ONCALL_FAILOVER_SECONDS (15 s) and a pass",
            "met": bool(delays) and max(delays) <= 16.0,
            "note": f"{len(watch.deaths)} deaths, {len(delays)} measured (3 instances, 2 of them dying at "
                    f"before_send and restarted at once); max {max(delays) if delays else 0:.1f} s"}


def _recovered(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(notifications.c.id).where(notifications.c.status.in_(("sending", "pending")))
                            .limit(1)).first() is None


def _recoveries(engine: Engine, arrived: dict[str, float], died_at: dict[int, float]) -> list[float]:
    """For each death, the time from it to the resend at Twilio of a page the dead instance
    held (its claim names the dead process: ``host:pid:…``)."""
    original = notifications.alias("original")
    with engine.connect() as conn:
        rows = conn.execute(select(notifications.c.message_key, original.c.claimed_by)
                            .join(original, original.c.id == notifications.c.resend_of)).all()
    delays: dict[float, float] = {}
    for key, claimed_by in rows:
        pid = int(str(claimed_by).split(":")[1]) if claimed_by and str(claimed_by).count(":") >= 2 else None
        died = died_at.get(pid) if pid is not None else None
        if died is not None and key in arrived:
            delays[died] = min(delays.get(died, float("inf")), arrived[key] - died)
    return sorted(delays.values())


def memory(work: Path, base: str) -> list[Row]:
    config = write_config(work / "memory-config", delay="15m", sms_interval="0s", voice_interval="0s")
    with fresh_database(base) as url, StampingTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake, \
            Cluster(work, config, url, 3, fake.base_url) as cluster:
        time.sleep(5.0)  # idle: the start-up duties have run
        idle = cluster.memory()
        requests = [_urgent("M-", i) for i in range(MEMORY_INCIDENTS)]
        started = time.perf_counter()
        load = blast(cluster.urls, requests, rate=250)
        accepted = {t for t, status in load.status.items() if status == 202}
        poll_until(lambda: accepted <= set(first_page_at(url, fake.arrived)), 300.0, interval=2.0)
        paged = len(set(first_page_at(url, fake.arrived)) & accepted)
        took = time.perf_counter() - started
        loaded = cluster.memory()
    worst_idle = max(mb for _, mb, _ in idle)
    return [
        {"benchmark": "resident memory per process, 3 instances idle", "database": "postgresql", "load": _load(),
         "value": round(worst_idle, 1), "unit": "MB (largest)", "target": "< 100 MB each",
         "met": worst_idle < 100.0, "note": "; ".join(f"{name} {mb:.0f}" for name, mb, _ in idle)},
        {"benchmark": f"resident memory per process after {MEMORY_INCIDENTS:,} incidents", "database": "postgresql",
         "load": _load(),
         "value": round(max(mb for _, mb, _ in loaded), 1), "unit": "MB (largest)", "target": "", "met": None,
         "note": "; ".join(f"{name} {mb:.0f} (peak {peak:.0f})" for name, mb, peak in loaded)
                 + f"; {paged:,} paged in {took:.0f} s"},
    ]


def run() -> list[Row]:
    base = os.environ.get("ONCALL_TEST_POSTGRES_URL")
    if not base:
        return [{"benchmark": "several instances", "database": "postgresql",
                 "load": _load(), "value": None, "met": None,
                 "note": "skipped: ONCALL_TEST_POSTGRES_URL not set"}]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="oncall-bench-cluster-") as tmp:
        work = Path(tmp)
        for n in INSTANCES:
            rows.append(intake(work, base, n))
            rows += [time_to_page(work, base, n, rate) for rate in PAGE_RATES]
        rows.append(failover(work, base))
        rows += memory(work, base)
    return rows


def main() -> None:
    rows = run()
    keys = ["benchmark", "database", "load", "p50_ms", "p99_ms", "value", "unit", "target", "met", "note"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join("" if row.get(k) is None else (f"{row[k]:.1f}" if isinstance(row[k], float)
                                                                 else str(row[k])) for k in keys) + " |")


if __name__ == "__main__":
    main()

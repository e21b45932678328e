"""Two ``oncall run`` instances on one PostgreSQL database: the dead-man ping (a singleton duty)
moves to the other instance within ``ONCALL_FAILOVER_SECONDS`` when its instance is killed or
frozen, and a frozen instance that thaws finds its lease gone and pings no more.

Each instance pings its own path of a small HTTP server, so who pings is who holds the lease."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_process import ONCALL, free_port, wait_until
from sqlalchemy import Engine, select
from support.databases import scratch_postgres_database

from oncall.store.db import make_engine
from oncall.store.tables import leases

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FAILOVER = 3.0  # seconds
SLACK = 1.5  # seconds a loaded two-core test machine may add to the bound (processes, polling)


class Pings:
    """The dead-man URL: counts ``GET /ping/<instance>``."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        pings = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with pings.lock:
                    pings.counts[self.path.rsplit("/", 1)[-1]] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, who: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/ping/{who}"

    def count(self, who: str) -> int:
        with self.lock:
            return self.counts[who]


@dataclass
class Instance:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def readyz(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(self.url + "/readyz", timeout=5.0).json()
        return body

    def pids(self) -> list[int]:
        worker = self.readyz()["instance"]["worker"]["pid"]
        return [self.proc.pid, int(worker)]

    def logged(self, event: str) -> bool:
        return f'"event": "{event}"' in self.log.read_text(errors="replace")


@pytest.fixture
def database() -> Iterator[str]:
    with scratch_postgres_database("oncall_failover") as url:
        yield url


@pytest.fixture
def pings() -> Iterator[Pings]:
    server = Pings()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def start(database: str, pings: Pings, config_dir: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Instance] = []

    def launch(name: str) -> Instance:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "TWILIO_"))}
        env.update({
            "ONCALL_CONFIG": str(config_dir), "ONCALL_DATABASE_URL": database,
            "ONCALL_LISTEN": f"127.0.0.1:{port}", "ONCALL_LOG_FORMAT": "json",
            "ONCALL_FAILOVER_SECONDS": str(FAILOVER), "ONCALL_DEADMAN_URL": pings.url(name),
            "ONCALL_DEADMAN_SECONDS": "0.25", "ONCALL_HANDOFF_NOTICES": "false",
            "ONCALL_SOURCES__GENERIC__SECRET": "failover-secret",
        })
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(ONCALL), "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        instance = Instance(name=name, proc=proc, url=f"http://127.0.0.1:{port}", log=log)
        started.append(instance)

        def ready() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                return bool(instance.readyz()["ready"])
            except httpx.HTTPError:
                return False

        wait_until(f"instance {name} to be ready", ready, timeout=30)
        return instance

    yield launch
    for instance in started:
        if instance.proc.poll() is None:
            for pid in _pids_quietly(instance):
                _signal(pid, signal.SIGCONT)
            instance.proc.terminate()
            try:
                instance.proc.wait(20)
            except subprocess.TimeoutExpired:
                instance.proc.kill()
                instance.proc.wait(5)


def _pids_quietly(instance: Instance) -> list[int]:
    try:
        return instance.pids()
    except (httpx.HTTPError, KeyError, TypeError):
        return [instance.proc.pid]


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def holder(engine: Engine, name: str = "deadman") -> tuple[str, int] | None:
    with engine.connect() as conn:
        row = conn.execute(select(leases.c.owner, leases.c.token).where(leases.c.name == name)).first()
    return (str(row.owner), int(row.token)) if row else None


def two_instances(start: Any, pings: Pings, engine: Engine) -> tuple[Instance, Instance, str, str]:
    a = start("a")
    a_id = a.readyz()["instance"]["id"]
    wait_until("a to hold the dead-man lease", lambda: (holder(engine) or ("", 0))[0] == a_id, timeout=15)
    wait_until("a's pings", lambda: pings.count("a") > 0)
    b = start("b")
    b_id = b.readyz()["instance"]["id"]
    assert [] == b.readyz()["instance"]["leases"]
    return a, b, a_id, b_id


def test_killed_the_other_instance_takes_the_lease_within_the_bound(start: Any, pings: Pings,
                                                                    database: str) -> None:
    engine = make_engine(database)
    try:
        a, _b, _a_id, b_id = two_instances(start, pings, engine)
        assert 0 == pings.count("b")
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until("b to take the dead-man lease", lambda: (holder(engine) or ("", 0))[0] == b_id,
                   timeout=FAILOVER + 10)
        taken = time.monotonic() - killed
        assert taken <= FAILOVER + SLACK, taken
        wait_until("b's pings", lambda: pings.count("b") > 0, timeout=5)
    finally:
        engine.dispose()


def test_frozen_the_other_takes_the_lease_and_the_thawed_one_pings_no_more(start: Any, pings: Pings,
                                                                           database: str) -> None:
    engine = make_engine(database)
    try:
        a, _b, a_id, b_id = two_instances(start, pings, engine)
        token_a = (holder(engine) or ("", 0))[1]
        frozen_pids = a.pids()
        for pid in frozen_pids:
            os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            wait_until("b to take the dead-man lease", lambda: (holder(engine) or ("", 0))[0] == b_id,
                       timeout=FAILOVER + 10)
            taken = time.monotonic() - frozen
            assert taken <= FAILOVER + SLACK, taken
            wait_until("b's pings", lambda: pings.count("b") > 0, timeout=5)
            before_thaw = pings.count("a")
        finally:
            for pid in frozen_pids:
                os.kill(pid, signal.SIGCONT)
        wait_until("a to find its lease lost", lambda: a.logged("lease.lost"), timeout=10)
        pinged_b = pings.count("b")
        wait_until("b's next pings", lambda: pings.count("b") >= pinged_b + 4, timeout=10)
        assert before_thaw == pings.count("a")  # the thawed instance sent nothing under its old token
        assert (b_id, token_a + 1) == holder(engine)
        assert "deadman" not in [lease["name"] for lease in a.readyz()["instance"]["leases"]]
        assert a_id != b_id
    finally:
        engine.dispose()

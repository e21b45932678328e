"""``oncall run --role web`` and ``--role worker`` as separate processes: tickets stored by the
web role are paged by the worker — woken at once through PostgreSQL's NOTIFY, by its engine
tick on SQLite — and a second process of a role on one SQLite file refuses to start."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_process import ONCALL, DaemonProcess, free_port, ticket, wait_until
from support.databases import scratch_postgres_database

from oncall.testing.fake_twilio import FakeTwilio

pytestmark = pytest.mark.e2e


def run(daemon: DaemonProcess, role: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(ONCALL), "run", "--role", role], env={**daemon.env, **env},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    def answered() -> bool:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            return httpx.get(url + "/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(f"{url} to be ready", answered, timeout=30)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def web_and_worker(daemon: DaemonProcess, processes: list[subprocess.Popen[bytes]], **env: str) -> str:
    """Start both roles; the worker's own health address. The web role listens on the daemon's."""
    web = run(daemon, "web", daemon.dir / "web.log", **env)
    processes.append(web)
    ready(daemon.url, web, daemon.dir / "web.log")
    worker_port = free_port()
    worker = run(daemon, "worker", daemon.dir / "worker.log", ONCALL_LISTEN=f"127.0.0.1:{worker_port}", **env)
    processes.append(worker)
    ready(f"http://127.0.0.1:{worker_port}", worker, daemon.dir / "worker.log")
    return f"http://127.0.0.1:{worker_port}"


@pytest.mark.postgres
def test_on_postgresql_the_web_role_wakes_the_worker_role_at_once(
        daemon: DaemonProcess, fake: FakeTwilio, processes: list[subprocess.Popen[bytes]]) -> None:
    with scratch_postgres_database("oncall_roles") as url:
        # A tick far longer than the wait below: a page within it was woken by NOTIFY.
        worker = web_and_worker(daemon, processes, ONCALL_DATABASE_URL=url, ONCALL_ENGINE_TICK_SECONDS="60")
        body = httpx.get(worker + "/readyz", timeout=5).json()
        assert "worker" == body["instance"]["role"]
        assert 202 == daemon.post_ticket(ticket("ROLES-PG")).status_code
        fake.wait_for_messages(1, timeout=10)
        for proc in processes:
            proc.terminate()
            assert 0 == proc.wait(30)
        processes.clear()


def test_on_sqlite_the_worker_role_pages_at_its_engine_tick(
        daemon: DaemonProcess, fake: FakeTwilio, processes: list[subprocess.Popen[bytes]]) -> None:
    web_and_worker(daemon, processes)
    assert 202 == daemon.post_ticket(ticket("ROLES-SQLITE")).status_code
    fake.wait_for_messages(1, timeout=10)


def test_on_sqlite_a_second_worker_role_refuses_to_start(
        daemon: DaemonProcess, processes: list[subprocess.Popen[bytes]]) -> None:
    web_and_worker(daemon, processes)
    second = subprocess.run([str(ONCALL), "run", "--role", "worker"], capture_output=True, text=True, timeout=60,
                            env={**daemon.env, "ONCALL_LISTEN": f"127.0.0.1:{free_port()}",
                                 "ONCALL_LOG_FORMAT": "console"})
    assert 1 == second.returncode
    assert "another oncall worker" in second.stderr

"""Run the real daemon for reliability tests and benchmarks: configuration,
environment, launching (``oncall run`` or a warm fork of it), readiness, tickets.

    spec = DaemonSpec(config=write_config(tmp / "cfg"), db_url=..., port=free_port(),
                      twilio_base=fake.base_url)
    proc = ScriptLauncher().start(spec.env(), tmp / "daemon.log")
    wait_ready(spec.base_url, proc)
    status = post_ticket(client, spec, ticket_body("T-1"))
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from oncall.sources.signatures import GENERIC_HEADER, sign_generic
from oncall.testing.twilio_doubles import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from support import configs
from support.reliab_zygote import Zygote

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEDULES = ROOT / "schedules"
SECRET = "reliability-webhook-secret"
# ./schedules has the shared configuration's people and phones: phone → person
PHONES = {phone: who for who, phone in configs.PHONES.items()}


def write_config(dst: Path, *, delay: str = "1s", sms_interval: str = "1s",
                 voice_interval: str = "1s", repeat: int | str = "forever") -> Path:
    """``./schedules`` with fast escalation: every step ``delay`` apart, storm limits short."""
    shutil.copytree(SCHEDULES, dst)
    path = dst / "oncall.yaml"
    data = yaml.safe_load(path.read_text())
    for policy in data["escalation_policies"]:
        for step in policy["steps"]:
            step["delay"] = delay
        policy["repeat"] = repeat
    data["notifications"] = {**data.get("notifications", {}),
                             "sms": {"min_interval": sms_interval},
                             "voice": {"min_interval": voice_interval}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_environment() -> dict[str, str]:
    """The test process's environment without any oncall or Twilio settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "TWILIO_"))}


@dataclass(frozen=True, kw_only=True)
class DaemonSpec:
    config: Path
    db_url: str
    port: int
    twilio_base: str | None = None
    tick_seconds: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, fault: str | None = None) -> dict[str, str]:
        env = base_environment()
        env.update({
            "ONCALL_CONFIG": str(self.config), "ONCALL_DATABASE_URL": self.db_url,
            "ONCALL_LISTEN": f"127.0.0.1:{self.port}", "ONCALL_PUBLIC_URL": self.base_url,
            "ONCALL_SOURCES__GENERIC__SECRET": SECRET,
            "ONCALL_ENGINE_TICK_SECONDS": str(self.tick_seconds),
        })
        if self.twilio_base:
            env.update({"ONCALL_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
                        "ONCALL_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
                        "ONCALL_TWILIO__FROM_NUMBER": FROM_NUMBER,
                        "ONCALL_TWILIO__API_BASE_URL": self.twilio_base})
        if fault:
            env["ONCALL_FAULT_KILL_AT"] = fault
        env.update(self.extra)
        return env


class Proc(Protocol):
    @property
    def pid(self) -> int: ...

    def exit_code(self) -> int | None: ...

    def wait(self, timeout: float) -> int | None: ...


class Launcher(Protocol):
    def start(self, env: dict[str, str], log: Path) -> Proc: ...


@dataclass
class ScriptProc:
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class ScriptLauncher:
    """``oncall run`` through the console script next to the interpreter."""

    def __init__(self, script: Path | None = None) -> None:
        self.script = script or Path(sys.executable).with_name("oncall")
        self.procs: list[ScriptProc] = []

    def start(self, env: dict[str, str], log: Path) -> ScriptProc:
        with log.open("ab") as out:
            popen = subprocess.Popen([str(self.script), "run"], env=env, cwd=ROOT,
                                     stdout=out, stderr=subprocess.STDOUT)
        proc = ScriptProc(popen)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            if p.exit_code() is None:
                p.popen.kill()
                p.popen.wait()


@dataclass
class ZygoteProc:
    zygote: Zygote
    pid: int

    def exit_code(self) -> int | None:
        return self.zygote.exit_code(self.pid)

    def wait(self, timeout: float) -> int | None:
        return self.zygote.wait(self.pid, timeout)


class ZygoteLauncher:
    """``oncall run`` forked from a warm zygote (see :mod:`reliab_zygote`)."""

    def __init__(self, zygote: Zygote) -> None:
        self.zygote = zygote

    def start(self, env: dict[str, str], log: Path) -> ZygoteProc:
        return ZygoteProc(self.zygote, self.zygote.spawn(env, log, cwd=ROOT))


def stop(proc: Proc, timeout: float = 15.0) -> int | None:
    """SIGTERM (graceful drain) and wait; SIGKILL if it does not exit in time."""
    if proc.exit_code() is None:
        os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout)
    if code is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    return code


def poll_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Wait for a condition with a hard deadline (polling a database or a process)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_ready(base_url: str, proc: Proc, timeout: float = 20.0) -> float:
    """Seconds until ``/readyz`` answered 200; raises if the daemon died or timed out."""
    started = time.monotonic()
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() - started < timeout:
            code = proc.exit_code()
            if code is not None:
                raise RuntimeError(f"daemon exited with {code} before it was ready")
            try:
                if client.get(base_url + "/readyz").status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise TimeoutError(f"daemon at {base_url} not ready after {timeout} s")


def ticket_body(ticket_id: str, *, customer: str = "demo", priority: str = "urgent",
                status: str = "new", **extra: Any) -> bytes:
    ticket = {"id": ticket_id, "source": "generic", "subject": f"Outage {ticket_id}",
              "priority": priority, "status": status, "created_at": "2026-11-25T03:00:00Z",
              "customer": customer, **extra}
    return json.dumps(ticket).encode()


def post_ticket(client: httpx.Client, base_url: str, body: bytes) -> int | None:
    """POST a signed generic ticket; the HTTP status, or None when no answer came."""
    try:
        return client.post(base_url + "/webhooks/tickets/generic", content=body, headers={
            GENERIC_HEADER: sign_generic(SECRET, body), "Content-Type": "application/json"}
        ).status_code
    except httpx.HTTPError:
        return None

"""End-to-end helpers (fixtures in conftest.py): the real ``oncall run`` process on 127.0.0.1 with a fake Twilio,
a temporary configuration directory (built on the shared pieces in :mod:`support.configs`) and a temporary
SQLite database."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from support import configs
from support.reliab_daemon import free_port as free_port  # the e2e tests take it from here

from oncall.sources.signatures import sign_generic
from oncall.testing.twilio_doubles import AUTH_TOKEN

SECRET = "e2e-webhook-secret-7f3a9c"
API_TOKEN = "e2e-api-token-51d2b8"
PHONES = configs.PHONES
ONCALL = Path(sys.executable).with_name("oncall")

# Two customers whose urgent tickets page at any hour: "fast" escalates after one second
# (so a missed acknowledgement would show within the test), "slow" after ten minutes (so
# anything that happens sooner was not the step delay).
CONFIG = {
    "desk.yaml": configs.EAST_DESK + """\
plans:
  - id: fast-24x7
    after_hours: true
  - id: slow-24x7
    after_hours: true
customers:
  - {id: fast, name: Fast Co, channel: direct, plan: fast-24x7}
  - {id: slow, name: Slow Co, channel: direct, plan: slow-24x7}
  - {id: quiet, name: Quiet Co, channel: reseller}
rules:
  - name: fast-pages
    when: {plan: fast-24x7, priority: urgent}
    page: true
    escalation_policy: fast
  - name: slow-pages
    when: {plan: slow-24x7, priority: urgent}
    page: true
    escalation_policy: slow
  - name: otherwise
    page: false
""",
    "oncall.yaml": configs.PEOPLE + """\
escalation_policies:
  - id: fast
    steps:
      - {targets: [{schedule: emergency}], contact: sms, delay: 1s}
      - {targets: [{schedule: emergency}], contact: voice, delay: 1s}
      - {targets: [{person: gina}], contact: both, delay: 1s}
    repeat: forever
  - id: slow
    steps:
      - {targets: [{schedule: emergency}], contact: sms, delay: 10m}
      - {targets: [{schedule: emergency}], contact: voice, delay: 10m}
    repeat: 1
notifications:
  admins: [gina]
  # The storm limits would hold a second call to one person for minutes; the tests page
  # the same person for several incidents in a few seconds.
  sms: {min_interval: 1s}
  voice: {min_interval: 1s}
""",
}


def write_config_with_fast_policy(directory: Path, fast_policy: str, people: str = configs.PEOPLE) -> Path:
    """:data:`CONFIG` with a ``fast`` policy of the test's own (its YAML after ``- id: fast``),
    the ``slow`` one paging by SMS only, and ``people`` (e.g. with someone's own rules)."""
    directory.mkdir()
    (directory / "desk.yaml").write_text(CONFIG["desk.yaml"])
    (directory / "oncall.yaml").write_text(people + "escalation_policies:\n  - id: fast\n" + fast_policy + """\
  - id: slow
    steps:
      - {targets: [{schedule: emergency}], contact: sms, delay: 10m}
notifications:
  admins: [gina]
  sms: {min_interval: 1s}
  voice: {min_interval: 1s}
""")
    return directory


def ticket(ticket_id: str, customer: str = "fast", **extra: Any) -> bytes:
    now = datetime.now(UTC).isoformat()
    data = {"id": ticket_id, "source": "generic", "subject": "Production down", "priority": "urgent",
            "status": "new", "created_at": now, "updated_at": now, "customer": customer, **extra}
    return json.dumps(data).encode()


def wait_until(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class DaemonProcess:
    """One ``oncall run`` subprocess (stdout and stderr go to files we can read meanwhile)."""

    env: dict[str, str]
    dir: Path
    url: str
    proc: subprocess.Popen[bytes] | None = None
    runs: int = field(default=0)

    @property
    def stdout(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("stdout-*.txt")))

    @property
    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("stderr-*.txt")))

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.stderr.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def start(self, *, ready: bool = True, **env: str) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        out = (self.dir / f"stdout-{self.runs}.txt").open("wb")
        err = (self.dir / f"stderr-{self.runs}.txt").open("wb")
        self.proc = subprocess.Popen([str(ONCALL), "run"], env={**self.env, **env}, stdout=out, stderr=err,
                                     stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.stderr[-3000:]}")
            try:
                return httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the daemon to be ready", ready, timeout)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM; the exit status (the test fails if it takes longer than ``timeout``)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def post_ticket(self, body: bytes, *, secret: str = SECRET) -> httpx.Response:
        return httpx.post(self.url + "/webhooks/tickets/generic", content=body, timeout=10.0,
                          headers={"Content-Type": "application/json",
                                   "X-Oncall-Signature": sign_generic(secret, body)})

    def api(self, path: str) -> Any:
        response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ONCALL), *args], env=self.env, capture_output=True, text=True, timeout=30,
                              check=False)

    def incidents(self) -> list[dict[str, Any]]:
        return list(self.api("/api/incidents"))

    def metric(self, line_start: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=5.0).text
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def unprocessed_events(self) -> int:
        with sqlite3.connect(self.dir / "oncall.db") as conn:
            return int(conn.execute("SELECT count(*) FROM ticket_events WHERE processed_at IS NULL").fetchone()[0])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def assert_nothing_secret_logged(daemon: DaemonProcess) -> None:
    """Issue 7.3: no unmasked phone number of a configured person, no secret, in the logs."""
    logs = daemon.stderr
    assert logs.strip(), "the daemon logged nothing"
    assert all(line.startswith("{") for line in logs.splitlines() if line.strip()), "logs are not JSON lines"
    for phone in PHONES.values():
        assert phone not in logs and phone[2:] not in logs, f"unmasked {phone[:3]}… in the logs"
    for secret in (SECRET, API_TOKEN, AUTH_TOKEN):
        assert secret not in logs and secret not in daemon.stdout, "a secret reached the output"



"""Helpers for the daemon wiring tests: a small configuration directory (built on the
shared pieces in :mod:`support.configs`), and a daemon rig on SQLite with a fake clock and
a recording transport (fixtures in conftest.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from support import configs

from oncall.daemon import Daemon
from oncall.daemon.duties import DutyReport
from oncall.interfaces import Channel, Outbound
from oncall.testing.clock import FakeClock
from oncall.testing.paging import RecordingTransport

NY = ZoneInfo("America/New_York")
# Saturday 28 November 2026, 03:00 in New York: after hours for the desk.
SATURDAY_NIGHT = datetime(2026, 11, 28, 3, 0, tzinfo=NY)
# Monday 30 November 2026, 09:00 in New York: the desk is open.
MONDAY_MORNING = datetime(2026, 11, 30, 9, 0, tzinfo=NY)

PHONES = configs.PHONES

DESK = configs.EAST_DESK + """\
customers:
  - id: acme
    name: Acme Hosting
    channel: direct
rules:
  - name: after-hours-emergency
    when: {priority: [urgent, high], entitled: true, business_hours: false}
    page: true
    escalation_policy: emergency
  - name: business-hours
    page: false
"""

PEOPLE = configs.PEOPLE + """\
escalation_policies:
  - id: emergency
    steps:
      - targets: [{schedule: emergency}]
        contact: sms
        delay: 5m
      - targets: [{schedule: emergency}]
        contact: voice
        delay: 10m
      - targets: [{person: gina}]
        contact: both
        delay: 15m
    repeat: forever
notifications:
  admins: [gina]
"""


def write_config(directory: Path, *, desk: str = DESK, people: str = PEOPLE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "desk.yaml").write_text(desk)
    (directory / "oncall.yaml").write_text(people)
    return directory


@dataclass
class Rig:
    """A daemon built on an injected clock and a recording transport (not started)."""

    daemon: Daemon
    clock: FakeClock
    transport: RecordingTransport
    config: Path
    out: io.StringIO
    tickets: int = field(default=0)

    def file(self, ticket_id: str = "T-1", *, priority: str = "urgent", status: str = "new",
             updated: datetime | None = None, customer: str = "acme",
             created: datetime | None = None, severity: str | None = None) -> bool:
        """Store a ticket event as a webhook would (not yet processed); True if new."""
        from oncall.sources.store_adapters import InboxSink
        from oncall.tickets import parse_ticket

        created = created or self.clock.now()
        data: dict[str, Any] = {
            "id": ticket_id, "source": "generic", "subject": "Production down",
            "priority": priority, "status": status, "created_at": created.isoformat(),
            "updated_at": (updated or created).isoformat(), "customer": customer,
        }
        if severity:
            data["severity"] = severity
        key = f"{ticket_id}:{data['updated_at']}:{priority}:{status}:{severity}"
        return InboxSink(self.daemon.inbox).accept("generic", key, parse_ticket(data), self.clock.now())

    def work(self) -> None:
        """Run the engine duty once, now: stored tickets decided, due steps taken."""
        self.run("engine")

    def run(self, duty: str) -> DutyReport:
        """Run one of the daemon's duties once, at the rig's clock's instant."""
        return self.daemon.duty(duty).run_once(self.clock.now())

    def to(self, person: str, channel: Channel | None = None) -> list[Outbound]:
        return [m for m in self.transport.sent
                if m.person_id == person and (channel is None or m.channel is channel)]

    def on_call(self) -> str:
        return self.daemon.snapshot.on_call("emergency", self.clock.now())[0]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the daemon's ASGI app, no sockets."""
        app = self.daemon.build_app()

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://127.0.0.1:18080") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())


MakeRig = Callable[..., Rig]

"""Test doubles around the Twilio inbound routes: a recording InboundHandler, fixed
test identities, and an ASGI app served by uvicorn in a thread (the clock to inject is
:class:`oncall.testing.clock.FakeClock`).

Used by tests/notify and reusable by end-to-end tests of the daemon.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn

from oncall.errors import IncidentError
from oncall.notify.messages import status_line
from oncall.testing.clock import FakeClock

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "fake-auth-token-123"  # noqa: S105 - the fake's, not a secret
FROM_NUMBER = "+14155550100"
ALICE = "+14155550199"
BOB = "+447700900123"
STRANGER = "+15005550006"


@dataclass
class RecordingHandler:
    """An InboundHandler that records every call; code 99 is 'not paged for that'."""

    phones: dict[str, str] = field(default_factory=lambda: {ALICE: "alice", BOB: "bob"})
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    blocked: dict[str, bool] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)
    changed: threading.Event = field(default_factory=threading.Event)

    def person_for_phone(self, phone: str) -> str | None:
        return self.phones.get(phone)

    def _act(self, action: str, person: str, code: int | None, now: datetime) -> str:
        if code == 99:
            raise IncidentError(f"#{code} is not one of your pages.")
        self.calls.append((action, person, code, now))
        self.changed.set()
        return status_line(code if code is not None else 1, action, person, 0)

    def ack(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("acknowledged", person_id, code, now)

    def ack_all(self, person_id: str, now: datetime) -> str:
        self.calls.append(("ack_all", person_id, None, now))
        return status_line([1, 2, 3], "acknowledged", person_id, 0)

    def escalate(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("escalated", person_id, code, now)

    def resolve(self, person_id: str, code: int | None, now: datetime) -> str:
        return self._act("resolved", person_id, code, now)

    def ack_page(self, key: str, now: datetime) -> str:
        self.calls.append(("ack_page", key, None, now))
        return "Acknowledged. Thank you."

    def escalate_page(self, key: str, now: datetime) -> str:
        self.calls.append(("escalate_page", key, None, now))
        return "Escalated to the next person."

    def voice_script(self, key: str) -> str | None:
        return self.scripts.get(key)

    def set_sms_blocked(self, person_id: str, blocked: bool, now: datetime) -> None:
        self.calls.append(("sms_blocked" if blocked else "sms_unblocked", person_id, None, now))
        self.blocked[person_id] = blocked

    def delivery_status(self, *, key: str, provider_id: str | None, status: str,
                        error_code: int | None, answered_by: str | None,
                        now: datetime, opted_out: bool = False) -> None:
        if opted_out:
            self.calls.append(("opted_out", key, None, now))
        self.statuses.append({"key": key, "provider_id": provider_id, "status": status,
                              "error_code": error_code, "answered_by": answered_by,
                              "now": now})


@dataclass
class Daemon:
    """Inbound routes being served: where, to whom, with which clock."""

    url: str
    handler: RecordingHandler
    clock: FakeClock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@contextmanager
def serve(app: Any, sock: socket.socket) -> Iterator[str]:
    """Run ``app`` with uvicorn on the bound ``sock`` in a thread; yield its base URL."""
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="none",
                                    http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(10), "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

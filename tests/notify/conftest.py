"""Fixtures for the notify tests: a fake Twilio, a real HTTP server for the inbound
routes, a recording InboundHandler, a settable clock, and a tiny SMTP server."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette

from oncall.notify.inbound import twilio_routes
from oncall.notify.ratecap import ReplyCap
from oncall.notify.retry import RetryPolicy
from oncall.notify.settings import TwilioSettings
from oncall.testing.clock import FakeClock
from oncall.testing.fake_twilio import FakeTwilio
from oncall.testing.twilio_doubles import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    Daemon,
    RecordingHandler,
    serve,
)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    # Berlin local time, the hour the clocks go back: aware datetimes throughout.
    return FakeClock(datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def daemon(handler: RecordingHandler, clock: FakeClock) -> Iterator[Daemon]:
    """The inbound routes behind a real HTTP server whose public URL is its own."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    routes = twilio_routes(handler, auth_token=AUTH_TOKEN, public_url=public_url, clock=clock.now,
                           reply_cap=ReplyCap(limit=5, window=timedelta(minutes=10)))
    with serve(Starlette(routes=routes), sock) as url:
        yield Daemon(url=url, handler=handler, clock=clock)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    """Three attempts whose backoff waits are recorded instead of slept."""
    return RetryPolicy(attempts=3, sleep=sleeps.append)


@pytest.fixture
def twilio_settings(fake_twilio: FakeTwilio) -> TwilioSettings:
    return TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                          from_number=FROM_NUMBER, api_base_url=fake_twilio.base_url)


# -- a minimal SMTP server (RFC 5321 subset) for the e-mail transport ------------------------
@dataclass
class SmtpInbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    reject_rcpt: dict[str, int] = field(default_factory=dict)  # address -> reply code
    received: threading.Event = field(default_factory=threading.Event)


class _SmtpHandler(socketserver.StreamRequestHandler):
    inbox: SmtpInbox

    def _say(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self._say("220 fake-smtp ready")
        sender, rcpts = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-fake-smtp")
                self._say("250 8BITMIME")
            elif verb == "HELO":
                self._say("250 fake-smtp")
            elif verb == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip().split(" ")[0].strip("<>"), []
                self._say("250 OK")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip().strip("<>")
                code = self.inbox.reject_rcpt.get(address)
                if code:
                    self._say(f"{code} no such user")
                else:
                    rcpts.append(address)
                    self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = []
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk[1:] if chunk.startswith("..") else chunk)
                self.inbox.messages.append({"from": sender, "to": rcpts, "data": "".join(data)})
                self.inbox.received.set()
                self._say("250 queued")
            elif verb in ("RSET", "NOOP"):
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpInbox]]:
    inbox = SmtpInbox()
    handler_cls = type("Handler", (_SmtpHandler,), {"inbox": inbox})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler_cls)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], inbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


"""uvicorn's HTTP/1.1 protocol with bounds on slow and excess clients.

uvicorn (h11) closes an idle keep-alive connection after ``timeout_keep_alive``, but it
arms that timer only after a response: a connection that never sends a byte, sends its
headers a byte at a time, or never finishes its body stays open for ever, holding a file
descriptor. Its ``limit_concurrency`` answers 503 only once a request's headers are
complete, so it does not bound such connections either. :class:`GuardedH11Protocol`
adds, per connection:

- a request deadline, armed when the connection opens and when the first byte of a later
  request arrives, cleared once the whole request (headers and body) has been received.
  When it passes the client gets ``408`` (if nothing of a response was sent yet) and the
  connection is closed; a route still waiting for the body sees a disconnect;
- a connection bound: a connection beyond ``max_connections`` open ones is answered
  ``503`` with ``Connection: close`` and closed at once, before anything is read.

:func:`guarded_protocol` makes the class for one server: uvicorn instantiates its protocol
class with its own arguments only, so the settings travel as class attributes.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from oncall import logs
from oncall.config.http_settings import HttpSettings

log = logs.get("oncall.web.server")
LOG_EVERY = 60.0  # seconds between two warnings about refused or timed-out clients
RETRY_AFTER = 5
# The request has been received in full: no deadline runs while the app answers it.
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def _response(status: int, reason: str, message: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    body = json.dumps({"error": message}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body))),
               ("connection", "close"), *extra]
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("ascii") + body


@dataclass
class ConnectionStats:
    """What the guard did (one per server): counts, a warning at most once a minute, and
    ``on_refused`` / ``on_timed_out`` called each time (the daemon counts them in /metrics)."""

    on_refused: Callable[[], None] | None = None
    on_timed_out: Callable[[], None] | None = None
    refused: int = 0
    timed_out: int = 0
    _logged: dict[str, tuple[float, int]] = field(default_factory=dict)

    def connection_refused(self, limit: int) -> None:
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused()
        self.note("http.connections_refused", self.refused, limit=limit)

    def request_timed_out(self, timeout: float) -> None:
        self.timed_out += 1
        if self.on_timed_out is not None:
            self.on_timed_out()
        self.note("http.requests_timed_out", self.timed_out, timeout=timeout)

    def note(self, event: str, count: int, **details: Any) -> None:
        """Log ``event`` at most once a minute, with how many happened since the last line."""
        now = time.monotonic()
        last_at, last_count = self._logged.get(event, (float("-inf"), 0))
        if now - last_at >= LOG_EVERY:
            log.warning(event, total=count, since_last_log=count - last_count, **details)
            self._logged[event] = (now, count)


class GuardedH11Protocol(H11Protocol):
    """See the module docstring. Configure through :func:`guarded_protocol`."""

    request_timeout: ClassVar[float] = 10.0
    keep_alive_timeout: ClassVar[float] = 5.0
    max_connections: ClassVar[int] = 900
    stats: ClassVar[ConnectionStats] = ConnectionStats()

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn annotates whole seconds; loop.call_later takes any float
        self.timeout_keep_alive = self.keep_alive_timeout  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None

    # ---- connection bound -----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        excess = len(self.connections) >= self.max_connections
        super().connection_made(transport)
        if excess:
            self.stats.connection_refused(self.max_connections)
            transport.write(_response(503, "Service Unavailable",
                                      f"too many connections (limit {self.max_connections}); retry shortly",
                                      (("retry-after", str(RETRY_AFTER)),)))
            transport.close()
            return
        self._arm()

    # ---- request deadline -----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        self._disarm_once_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request from buffered bytes
        if self.transport.is_closing():
            self._disarm()
            return
        pending = self.conn.their_state is not h11.IDLE or bool(self.conn.trailing_data[0])
        if pending and self.conn.their_state not in _RECEIVED and self._deadline is None:
            self._arm()
        self._disarm_once_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._request_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _disarm_once_received(self) -> None:
        if self.conn.their_state in _RECEIVED or self.transport.is_closing():
            self._disarm()

    def _request_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.stats.request_timed_out(self.request_timeout)
        cycle = self.cycle if self.conn.our_state is h11.SEND_RESPONSE else None
        if self.conn.our_state is h11.IDLE or (cycle is not None and not cycle.response_started):
            self.transport.write(_response(408, "Request Timeout",
                                           f"request not complete within {self.request_timeout:g}s"))
        if cycle is not None:
            # the route waiting for the rest of the body sees a disconnect; its answer goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def guarded_protocol(settings: HttpSettings, max_connections: int | None = None,
                     stats: ConnectionStats | None = None) -> type[GuardedH11Protocol]:
    """A protocol class for one server (pass it as ``uvicorn.Config(http=...)``).
    ``max_connections`` overrides the setting (e.g. lowered to fit the descriptor limit)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {
        "request_timeout": settings.request_timeout.total_seconds(),
        "keep_alive_timeout": settings.keep_alive_timeout.total_seconds(),
        "max_connections": max_connections if max_connections is not None else settings.max_connections,
        "stats": stats or ConnectionStats(),
    })


RESERVED_DESCRIPTORS = 100  # the database, the listening socket, outbound clients, logs


def connection_budget(wanted: int) -> tuple[int, str | None]:
    """How many connections the descriptor limit allows: ``wanted``, after raising the soft
    limit towards the hard one if needed; else fewer, with a warning saying why."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted, None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (OSError, ValueError):  # e.g. systemd's SystemCallFilter=~@resources
        pass
    if soft >= needed:
        return wanted, None
    allowed = max(1, soft - RESERVED_DESCRIPTORS)
    return allowed, (f"http.max_connections {wanted} lowered to {allowed}: the open-file limit is {soft} "
                     f"(raise it, e.g. LimitNOFILE= in the systemd unit, or lower ONCALL_HTTP__MAX_CONNECTIONS)")

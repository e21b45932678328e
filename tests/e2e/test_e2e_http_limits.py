"""Slow and excess clients against the real daemon over real sockets: a request whose headers
or body do not arrive in time is answered 408 and closed, an idle keep-alive connection is
closed, connections beyond ``http.max_connections`` are answered 503 and closed, the daemon
keeps answering meanwhile, and malformed HTTP gets a 4xx rather than a crash."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_process import API_TOKEN, DaemonProcess

pytestmark = pytest.mark.e2e

HARD_TIMEOUT = 10.0  # no wait in this module lasts longer; each one ends on an event
PARTIAL_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: oncall\r\nX-Slow: "
PARTIAL_BODY = (b"POST /webhooks/tickets/generic HTTP/1.1\r\nHost: oncall\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{\"id\": ")


def address(daemon: DaemonProcess) -> tuple[str, int]:
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(daemon: DaemonProcess, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(address(daemon), timeout=HARD_TIMEOUT)
    if first:
        sock.sendall(first)
    return sock


def read_until_closed(sock: socket.socket, timeout: float = HARD_TIMEOUT) -> bytes:
    """Everything the server sends until it closes the connection; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the server kept the connection open for {timeout}s; got {received[:200]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a connection that stays open."""
    sock.settimeout(HARD_TIMEOUT)
    received = b""
    while b"\r\n\r\n" not in received or len(received) < _response_length(received):
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {received[:200]!r}"
        received += chunk
    return received


def _response_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4


def still_open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed (a non-blocking peek)."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing to read yet
    except OSError:
        return False
    finally:
        sock.setblocking(True)
    return False  # an answer or the end of the stream is waiting


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


@pytest.fixture
def limited(daemon: DaemonProcess) -> Iterator[DaemonProcess]:
    """The daemon with short client timeouts."""
    daemon.start(ONCALL_HTTP__REQUEST_TIMEOUT="0.5s", ONCALL_HTTP__KEEP_ALIVE_TIMEOUT="0.5s")
    yield daemon


def test_headers_that_never_finish_get_408_and_a_close(limited: DaemonProcess) -> None:
    with connect(limited, PARTIAL_HEADERS) as sock:
        started = time.monotonic()
        answer = read_until_closed(sock)
    assert 408 == status_of(answer)
    assert b"request not complete within 0.5s" in answer
    assert time.monotonic() - started >= 0.4
    assert 1 == limited.metric("oncall_http_requests_timed_out_total")


def test_trickled_headers_do_not_extend_the_deadline(limited: DaemonProcess) -> None:
    """A byte every 50 ms keeps the connection busy but not alive: the deadline runs from the first byte."""
    selector = selectors.DefaultSelector()
    with connect(limited, b"G") as sock:
        selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + HARD_TIMEOUT
        for byte in (b"ET /healthz HTTP/1.1\r\nHost: oncall\r\nX-Slow: " + b"a" * 10_000):
            if selector.select(timeout=0.05):  # the server answered or closed: the event we wait for
                break
            assert time.monotonic() < deadline, "the server never closed the trickling connection"
            sock.sendall(bytes([byte]))
        answer = read_until_closed(sock)
    assert 408 == status_of(answer)


def test_body_that_never_finishes_gets_408_and_a_close(limited: DaemonProcess) -> None:
    with connect(limited, PARTIAL_BODY) as sock:
        answer = read_until_closed(sock)
    assert 408 == status_of(answer)
    assert [] == limited.incidents()


def test_silent_connection_is_closed(limited: DaemonProcess) -> None:
    with connect(limited) as sock:
        answer = read_until_closed(sock)
    assert 408 == status_of(answer)


def test_idle_keep_alive_connection_is_closed_after_its_response(limited: DaemonProcess) -> None:
    with connect(limited, b"GET /healthz HTTP/1.1\r\nHost: oncall\r\n\r\n") as sock:
        answer = read_until_closed(sock, timeout=3.0)  # the configured 0.5s, not uvicorn's default 5s
    assert 200 == status_of(answer)
    assert answer.count(b"HTTP/1.1") == 1  # the response, then the close: no 408 for an idle connection


def test_a_second_request_on_a_kept_alive_connection_has_its_own_deadline(daemon: DaemonProcess) -> None:
    # a long keep-alive, so only the request deadline can close this connection
    daemon.start(ONCALL_HTTP__REQUEST_TIMEOUT="0.5s", ONCALL_HTTP__KEEP_ALIVE_TIMEOUT="60s")
    with connect(daemon, b"GET /healthz HTTP/1.1\r\nHost: oncall\r\n\r\n") as sock:
        assert 200 == status_of(read_response(sock))
        sock.sendall(PARTIAL_HEADERS)
        answer = read_until_closed(sock)
    assert 408 == status_of(answer)


def test_daemon_answers_while_fifty_slow_clients_hold_connections(daemon: DaemonProcess) -> None:
    daemon.start(ONCALL_HTTP__REQUEST_TIMEOUT="5s")
    slow = [connect(daemon, PARTIAL_HEADERS if i % 2 else PARTIAL_BODY) for i in range(50)]
    try:
        assert {"status": "ok"} == httpx.get(daemon.url + "/healthz", timeout=2.0).json()
        listed = httpx.get(daemon.url + "/api/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"},
                           timeout=2.0)
        assert 200 == listed.status_code
        assert all(still_open(s) for s in slow), "the slow clients should still be connected here"
        assert {408} == {status_of(read_until_closed(s)) for s in slow}
    finally:
        for s in slow:
            s.close()


def test_connections_beyond_the_limit_are_refused_with_503(daemon: DaemonProcess) -> None:
    daemon.start(ONCALL_HTTP__MAX_CONNECTIONS="10", ONCALL_HTTP__KEEP_ALIVE_TIMEOUT="60s",
                 ONCALL_HTTP__REQUEST_TIMEOUT="60s")
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + HARD_TIMEOUT
        while len(held) < 10:  # a full exchange each, so the daemon has surely accepted them all
            sock = connect(daemon, b"GET /healthz HTTP/1.1\r\nHost: oncall\r\n\r\n")
            if status_of(read_response(sock)) == 200:
                held.append(sock)
                continue
            sock.close()  # the readiness probe's connection was still being released: try again
            assert time.monotonic() < deadline, f"only {len(held)} connections were served"
        with connect(daemon) as extra:
            answer = read_until_closed(extra)
        assert 503 == status_of(answer)
        assert b"too many connections (limit 10)" in answer and b"retry-after: 5" in answer.lower()
        held.pop().close()
        wait_for_healthz(daemon)  # a freed slot serves again
        assert daemon.metric("oncall_http_connections_refused_total") >= 1
        assert daemon.metric("oncall_http_connections") >= 9  # the held ones and the scrape's own
    finally:
        for sock in held:
            sock.close()


def wait_for_healthz(daemon: DaemonProcess) -> None:
    deadline = time.monotonic() + HARD_TIMEOUT
    while True:
        with connect(daemon, b"GET /healthz HTTP/1.1\r\nHost: oncall\r\nConnection: close\r\n\r\n") as sock:
            if status_of(read_until_closed(sock)) == 200:
                return
        assert time.monotonic() < deadline, "no connection was served after one was freed"


@pytest.mark.parametrize("request_bytes", [
    pytest.param(b"POST /api/incidents/1/ack HTTP/1.1\r\nHost: oncall\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
                 id="content-length-over-int-digit-limit"),
    pytest.param(b"GET /api/incidents/%C2%B2 HTTP/1.1\r\nHost: oncall\r\nAuthorization: Bearer " + API_TOKEN.encode()
                 + b"\r\nConnection: close\r\n\r\n", id="unicode-digit-id"),
    pytest.param(b"GET /api/incidents/99999999999999999999999 HTTP/1.1\r\nHost: oncall\r\nAuthorization: Bearer "
                 + API_TOKEN.encode() + b"\r\nConnection: close\r\n\r\n", id="id-beyond-the-database-integer"),
])
def test_malformed_requests_over_real_sockets_get_4xx(daemon: DaemonProcess, request_bytes: bytes) -> None:
    daemon.start()
    with connect(daemon, request_bytes) as sock:
        answer = read_until_closed(sock)
    assert 400 <= status_of(answer) < 500, answer[:300]
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert "Traceback" not in daemon.stderr

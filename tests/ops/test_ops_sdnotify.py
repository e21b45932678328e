"""sd_notify over a real AF_UNIX datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall.sdnotify import Notifier, watchdog_interval


@pytest.fixture
def sockdir(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, or a short directory when it is too long for an AF_UNIX path (~107 bytes)."""
    if len(str(tmp_path)) < 80:
        yield tmp_path
        return
    short = Path(tempfile.mkdtemp(prefix="oncall-sd-", dir="/tmp"))
    try:
        yield short
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def listener(sockdir: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd; yields (socket, $NOTIFY_SOCKET)."""
    path = sockdir / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)  # a missing datagram fails the test instead of hanging it
    try:
        yield sock, str(path)
    finally:
        sock.close()
        path.unlink(missing_ok=True)


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    name = f"oncall-test-{os.getpid()}-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        yield sock, "@" + name
    finally:
        sock.close()


def _recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_with_status_arrives_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert Notifier(address).ready("serving on 127.0.0.1:8080")
    assert ["READY=1", "STATUS=serving on 127.0.0.1:8080"] == _recv(sock)


def test_ready_without_status(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    assert Notifier(address).ready()
    assert ["READY=1"] == _recv(sock)


@pytest.mark.parametrize(("call", "expected"), [
    ("watchdog", "WATCHDOG=1"),
    ("stopping", "STOPPING=1"),
    ("reloading", "RELOADING=1"),
])
def test_each_message(listener: tuple[socket.socket, str], call: str, expected: str) -> None:
    sock, address = listener
    assert getattr(Notifier(address), call)()
    assert [expected] == _recv(sock)


def test_messages_arrive_in_order(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    n = Notifier(address)
    assert n.ready("up") and n.watchdog() and n.stopping()
    assert [["READY=1", "STATUS=up"], ["WATCHDOG=1"], ["STOPPING=1"]] == [_recv(sock) for _ in range(3)]


def test_abstract_namespace_socket(abstract_listener: tuple[socket.socket, str]) -> None:
    sock, address = abstract_listener
    assert address.startswith("@")
    n = Notifier(address)
    assert n.ready("abstract") and n.watchdog()
    assert [["READY=1", "STATUS=abstract"], ["WATCHDOG=1"]] == [_recv(sock), _recv(sock)]


def test_address_comes_from_notify_socket(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = listener
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    n = Notifier()
    assert n.enabled
    assert n.stopping()
    assert ["STOPPING=1"] == _recv(sock)


def test_without_notify_socket_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert (False, False, False, False) == (n.ready("x"), n.watchdog(), n.stopping(), n.reloading())


def test_empty_notify_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert not Notifier().enabled
    assert not Notifier().ready()


def test_missing_socket_path_returns_false(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nope.sock"))
    assert n.enabled
    assert not n.ready()
    assert not n.watchdog()


def test_missing_abstract_socket_returns_false() -> None:
    assert not Notifier(f"@oncall-nobody-listens-{uuid.uuid4().hex}").watchdog()


def test_path_that_is_not_a_socket_returns_false(tmp_path: Path) -> None:
    plain = tmp_path / "file"
    plain.write_text("not a socket")
    assert not Notifier(str(plain)).ready()


def test_stream_socket_returns_false(sockdir: Path) -> None:
    path = sockdir / "stream.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.bind(str(path))
        stream.listen()
        assert not Notifier(str(path)).watchdog()


def test_full_receive_queue_does_not_block(listener: tuple[socket.socket, str]) -> None:
    """A systemd that stopped reading must not freeze the event loop that sends keep-alives."""
    _sock, address = listener
    n = Notifier(address)
    results = [n.watchdog() for _ in range(5000)]
    assert results[0]
    assert not results[-1]  # the queue filled up and send gave up instead of blocking


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("30000000", None, 15.0),
    ("30000000", "self", 15.0),
    ("1000000", "self", 0.5),
    ("30000000", "other", None),
    ("0", None, None),
    ("", None, None),
    ("abc", None, None),
    ("-5", None, None),
    (None, None, None),
])
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    pids = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, pids.get(value, value))
    assert expected == watchdog_interval()

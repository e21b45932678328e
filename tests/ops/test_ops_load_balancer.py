"""ops/: the load balancers' configurations for several instances.

``ops/haproxy/oncall.cfg`` passes ``haproxy -c`` as shipped (with a throw-away certificate
where it names one), and — run for real in front of three stand-in instances on 127.0.0.1 —
sends requests only to the instances whose ``/readyz`` answers 200, to the live ones when
none is ready, and never lets ``/metrics``, ``/healthz`` or ``/readyz`` out.
``ops/nginx/oncall.conf`` passes ``nginx -t``.

haproxy and nginx are Debian packages (``.ci/run`` installs them); where one is missing its
tests skip, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.reliab_daemon import free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "ops" / "haproxy" / "oncall.cfg"
NGINX_CONF = ROOT / "ops" / "nginx" / "oncall.conf"


def _tool(name: str, package: str) -> str:
    found = shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,) if p.exists()), None)
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is not installed on CI (apt-get install {package})")
        pytest.skip(f"{name} is not installed (apt-get install {package})")
    return found


@pytest.fixture(scope="module")
def haproxy() -> str:
    return _tool("haproxy", "haproxy")


@pytest.fixture(scope="module")
def nginx() -> str:
    return _tool("nginx", "nginx")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throw-away self-signed certificate and its key."""
    openssl = _tool("openssl", "openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "oncall.crt", directory / "oncall.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=oncall.example.com"], check=True, capture_output=True, timeout=60)
    return cert, key


def test_the_haproxy_configuration_is_valid(haproxy: str, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    pem = tmp_path / "oncall.pem"
    pem.write_text(cert.read_text() + key.read_text())
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY_CFG.read_text().replace("/etc/haproxy/certs/oncall.pem", str(pem)))
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=60)
    assert 0 == checked.returncode, checked.stdout + checked.stderr


def test_the_nginx_configuration_is_valid(nginx: str, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = certificate
    site = tmp_path / "oncall.conf"
    site.write_text(NGINX_CONF.read_text().replace("/etc/nginx/certs/oncall.crt", str(cert))
                    .replace("/etc/nginx/certs/oncall.key", str(key)))
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
                    f"http {{\n  access_log off;\n  include {site};\n}}\n")
    checked = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True,
                             timeout=60)
    assert 0 == checked.returncode, checked.stdout + checked.stderr


class StandIn:
    """An HTTP server answering like an oncall instance's health endpoints, recording the rest."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = True
        self.requests: list[tuple[str, str | None]] = []  # (path, X-Forwarded-For)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == "/healthz":
                    status = 200
                elif self.path == "/readyz":
                    status = 200 if stand_in.ready else 503
                else:
                    stand_in.requests.append((self.path, self.headers.get("X-Forwarded-For")))
                    status = 202
                body = stand_in.name.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _runnable(config: str, stand_ins: list[StandIn], port: int) -> str:
    """The shipped configuration on 127.0.0.1: plain HTTP on ``port`` (no certificate, so no
    redirect to HTTPS), the stand-ins instead of 10.0.0.11-13, checks every 100 ms."""
    lines = [line for line in config.splitlines() if ":443" not in line and "redirect scheme" not in line]
    text = "\n".join(lines).replace("bind :80", f"bind 127.0.0.1:{port}")
    text = text.replace("log /dev/log local0", "log stdout format raw local0")
    text = text.replace("inter 2s", "inter 100ms")
    for n, stand_in in enumerate(stand_ins):
        text = text.replace(f"10.0.0.1{n + 1}:8080", stand_in.address)
    assert not re.search(r"10\.0\.0\.\d+", text), "an address was not replaced"
    return text + "\n"


@pytest.fixture
def balanced(haproxy: str, tmp_path: Path) -> Iterator[tuple[str, list[StandIn]]]:
    stand_ins = [StandIn(name) for name in ("a", "b", "c")]
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(_runnable(HAPROXY_CFG.read_text(), stand_ins, port))
    proc = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"haproxy did not start: {proc.stderr.read() if proc.stderr else ''!r}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", stand_ins
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
        for stand_in in stand_ins:
            stand_in.close()


def _served_by(url: str, n: int = 9) -> Counter[str]:
    with httpx.Client(timeout=5.0) as client:
        return Counter(client.post(url + "/webhooks/tickets/generic", content=b"{}").text for _ in range(n))


def _eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_haproxy_sends_requests_only_to_ready_instances(balanced: tuple[str, list[StandIn]]) -> None:
    url, (a, b, _c) = balanced
    assert _eventually(lambda: set(_served_by(url)) == {"a", "b", "c"}), "not spread over every ready instance"
    b.ready = False  # draining, or still on the old schema during an upgrade
    assert _eventually(lambda: set(_served_by(url)) == {"a", "c"}), "a not-ready instance kept traffic"
    assert all(forwarded == "127.0.0.1" for _, forwarded in a.requests), "no X-Forwarded-For"


def test_haproxy_falls_back_to_live_instances_when_none_is_ready(balanced: tuple[str, list[StandIn]]) -> None:
    """A Twilio outage fails every instance's readiness at once: webhooks must still get in."""
    url, stand_ins = balanced
    assert _eventually(lambda: set(_served_by(url)) == {"a", "b", "c"})
    for stand_in in stand_ins:
        stand_in.ready = False
    time.sleep(0.5)  # several checks: every instance is out of the ready pool
    assert {"a", "b", "c"} == set(_served_by(url)), "nothing served once no instance was ready"


def test_haproxy_keeps_health_and_metrics_private(balanced: tuple[str, list[StandIn]]) -> None:
    url, stand_ins = balanced
    with httpx.Client(timeout=5.0) as client:
        assert [404, 404, 404] == [client.get(url + path).status_code for path in ("/metrics", "/healthz", "/readyz")]
    assert not any(path == "/metrics" for s in stand_ins for path, _ in s.requests)

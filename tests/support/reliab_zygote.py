"""A fork server for crash tests: import the daemon once, fork it many times.

Starting ``oncall run`` costs ~1.5 s of imports on a small machine; the crash tests
start the daemon a few hundred times. The zygote is a separate process that imports
everything ``oncall run`` needs, then forks a child per request. Each child sets the
requested environment, redirects its output to a log file and runs exactly what the
``oncall`` console script runs (``oncall.cli.main`` with ``run``): a real daemon
process, on real sockets, killable with SIGKILL, only without the import cost.

The zygote stays single-threaded (forking a threaded process is unsafe) and reaps
its children, so clients ask it for exit statuses.

    with Zygote() as zygote:
        pid = zygote.spawn(env, log_path)
        ...
        code = zygote.wait(pid, timeout=5)   # -9 after SIGKILL
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from support import subprocess_env

# Modules ``oncall run`` loads lazily, imported up front so children start warm.
WARM = (
    "oncall.cli", "oncall.daemon", "oncall.notify.inbound", "oncall.notify.twilio_transport",
    "uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.off", "uvicorn.loops.auto",
    "alembic.command", "alembic.runtime.migration", "sqlalchemy.dialects.sqlite",
    "twilio.rest.api.v2010.account.message", "twilio.rest.api.v2010.account.call",
)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become ``oncall run`` with the requested environment."""
    code = 70
    try:
        os.setpgid(0, 0)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.chdir(request.get("cwd") or os.getcwd())
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        sys.argv = ["oncall", *request.get("args", ["run"])]
        from oncall.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:
        print(f"zygote child failed: {exc!r}", file=sys.stderr, flush=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _warm_lazy_imports() -> None:
    """Run once what start-up imports lazily: a config load (holidays' country
    registry) and the migrations on an in-memory database. Starts no thread."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from oncall.config.loader import load
    from oncall.store.db import make_engine, upgrade

    schedules = Path(__file__).resolve().parent.parent.parent / "schedules"
    try:
        load(schedules, now=datetime.now(UTC), horizon=timedelta(days=1))
    except Exception:
        pass
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def serve() -> None:
    """The zygote's loop: one JSON request per stdin line, one JSON answer per line."""
    import importlib

    for name in WARM:
        try:
            importlib.import_module(name)
        except ImportError:  # optional extras (httptools, uvloop…) are not always installed
            pass
    _warm_lazy_imports()
    statuses: dict[int, int] = {}
    out = sys.stdout
    print(json.dumps({"ready": os.getpid()}), file=out, flush=True)
    buffer = b""
    while True:
        # Reap finished children: their status is what the tests assert on.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            statuses[pid] = os.waitstatus_to_exitcode(status)
        readable, _, _ = select.select([0], [], [], 0.01)
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            op = request["op"]
            if op == "spawn":
                out.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request)
                answer: dict[str, Any] = {"pid": pid}
            elif op == "status":
                answer = {"code": statuses.get(int(request["pid"]))}
            else:
                answer = {"error": f"unknown op {op!r}"}
            print(json.dumps(answer), file=out, flush=True)


class Zygote:
    """Client side: start the zygote process and talk to it (thread-safe)."""

    def __init__(self, python: str | None = None, cwd: Path | None = None) -> None:
        self._proc = subprocess.Popen(
            [python or sys.executable, "-m", "support.reliab_zygote"], env=subprocess_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, text=True, bufsize=1)
        self._lock = threading.Lock()
        first = self._read()
        if "ready" not in first:
            raise RuntimeError(f"zygote did not start: {first}")
        self.pids: list[int] = []

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("zygote exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None
        with self._lock:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            return self._read()

    def spawn(self, env: dict[str, str], log: Path, *, cwd: Path | None = None,
              args: tuple[str, ...] = ("run",)) -> int:
        """Fork a daemon child running ``oncall *args`` with exactly ``env``."""
        pid = int(self._ask({"op": "spawn", "env": env, "log": str(log),
                             "cwd": str(cwd) if cwd else None, "args": list(args)})["pid"])
        self.pids.append(pid)
        return pid

    def exit_code(self, pid: int) -> int | None:
        """The child's exit code (negative: killed by that signal), None while it runs."""
        code = self._ask({"op": "status", "pid": pid})["code"]
        return None if code is None else int(code)

    def wait(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.exit_code(pid)
            if code is not None or time.monotonic() >= deadline:
                return code
            time.sleep(0.01)

    def close(self) -> None:
        for pid in self.pids:  # only our own children, by id
            if self.exit_code(pid) is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


if __name__ == "__main__":
    serve()

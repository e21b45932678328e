"""``oncall run``'s worker child: started, watched, restarted and stopped by the web process.

The web process (HTTP: webhooks, Twilio callbacks, the console, health and metrics) must
answer a webhook as soon as the ticket is stored, never after decisions and sends. So the
worker — every duty: the engine (intake, escalation, sends), pollers, write-back, hand-off
notices, monitors — runs in a child process the web process supervises:

- **Start**: ``python -m oncall run --role worker`` with one end of an ``AF_UNIX``
  ``SOCK_SEQPACKET`` socket pair (``--link-fd``). The child asks the kernel to SIGKILL it if
  the web process dies (``PR_SET_PDEATHSIG``; and it stops when its end of the link closes),
  so an instance dies whole, as a crash of the old single process did.
- **Wake**: when a webhook stores a ticket, or an acknowledgement changes an incident, the web
  process sends ``wake`` — one small message, never waited for: a full link (the worker
  frozen) drops it, and the worker's engine tick is the fallback.
- **Reports**: the child sends a report every second and when asked — its metrics, leases,
  schema gate, transport health and what its pollers heard — which ``/metrics`` and
  ``/readyz`` merge with the web process's own.
- **Supervision**: a child that exits while the daemon is not stopping is started again after
  a back-off (0.5 s, doubling to 30 s; back to 0.5 s after a minute up), and logged.
- **Watchdog**: a child alive but stalled — no report, or reports saying its event loop or its
  engine made no progress (:mod:`.liveness`) — for ``ONCALL_WORKER_STALL_SECONDS`` is logged
  (``worker.stalled``), killed with SIGKILL (a stuck process may ignore SIGTERM) and started
  again like one that exited, with the same back-off. Each child lost, exited or stalled, is
  told to ``on_lost`` with how many were lost in a row (reset after a minute up).
- **Stop** (SIGTERM to the web process): webhooks answer 503, then the child gets SIGTERM and
  drains its duties within ``ONCALL_SHUTDOWN_BUDGET_SECONDS``; SIGKILL after that and 2 s.

On SQLite the child is part of the same instance: it inherits the web process's instance-lock
descriptors (``pass_fds``), so the lock is held until both processes are gone and a new
``oncall run`` cannot start beside a worker that outlived its parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall import logs
from oncall.daemon.liveness import Verdict, judge
from oncall.daemon.threads import background

log = logs.get("oncall.daemon")

MAX_MESSAGE = 4 * 1024 * 1024  # a report carries the worker's metrics
REPORT_EVERY = 1.0  # seconds between the worker's unprompted reports
WATCH_EVERY = 0.05  # seconds between looks at what makes a report go out early
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 0.5, 30.0, 60.0  # restart back-off, seconds
CHECK_EVERY = 0.5  # seconds between the watchdog's looks at the child
RESUMED_AFTER = 2.0  # the watchdog woke this much later than due: this process was frozen or starved
EXITED, STALLED = "exited", "stalled"  # why a child was lost
# Environment the child must not inherit: systemd's notify socket and watchdog belong to the
# web process (NotifyAccess=main).
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


def link_pair() -> tuple[socket.socket, socket.socket]:
    """The two ends of a link: message boundaries kept, every send whole or not at all."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in (ours, theirs):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_MESSAGE)
    return ours, theirs


def send(sock: socket.socket, message: dict[str, Any], *, wait: bool = False) -> bool:
    """Send one message; with ``wait`` False never block (False when the link is full or gone)."""
    data = json.dumps(message, separators=(",", ":")).encode()
    try:
        if wait:
            sock.sendall(data)
        else:
            sock.send(data, socket.MSG_DONTWAIT)
    except (BlockingIOError, OSError):
        return False
    return True


def receive(sock: socket.socket) -> dict[str, Any] | None:
    """The next message; ``None`` when the other end closed the link."""
    data = sock.recv(MAX_MESSAGE)
    if not data:
        return None
    message = json.loads(data)
    return message if isinstance(message, dict) else {}


@dataclass(frozen=True, kw_only=True)
class WorkerReport:
    """What the worker told the web process last."""

    received: float  # monotonic, in the web process
    body: dict[str, Any] = field(default_factory=dict)

    def age(self) -> float:
        return time.monotonic() - self.received


class _Child:
    """A worker child: spawned (``Popen``) or forked (a bare pid). Only the supervisor thread
    waits for it; the others read :attr:`alive`."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen
        self.alive = True

    def wait(self) -> int:
        if self.popen is not None:
            code = self.popen.wait()
        else:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        self.alive = False
        return code

    def signal(self, sig: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


class WorkerProcess:
    """The web process's handle on its worker child."""

    def __init__(self, argv: Callable[[int], Sequence[str]], *, keep_fds: Sequence[int] = (),
                 budget: float = 8.0, env: dict[str, str] | None = None,
                 on_report: Callable[[dict[str, Any]], None] = lambda _body: None,
                 first: tuple[int, socket.socket] | None = None, stall_after: float | None = None,
                 on_lost: Callable[[str, int, int], None] = lambda _reason, _pid, _in_a_row: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``argv(fd)`` is a new child's command line given its end of the link; ``keep_fds``
        are descriptors it inherits (the SQLite instance locks); ``on_report`` sees each
        report (in the link's thread). ``first``: a child already forked, warm, at start (its
        pid and this end of its link); restarts are spawned with ``argv``. ``stall_after``:
        the watchdog's limit in seconds (``None``: no watchdog); ``on_lost(reason, pid,
        in_a_row)`` hears of each child lost (:data:`EXITED` or :data:`STALLED`), in the
        supervisor's thread. ``clock``: monotonic seconds."""
        self.argv = argv
        self.keep_fds = tuple(keep_fds)
        self.budget = budget
        base = dict(os.environ if env is None else env)
        self.env = {k: v for k, v in base.items() if k not in PRIVATE_ENV}
        self.on_report = on_report
        self.stall_after = stall_after
        self.on_lost = on_lost
        self.clock = clock
        self.restarts = 0
        self.stalls = 0
        self.lost_in_a_row = 0
        self.last_exit: int | None = None
        self.last_lost: str | None = None  # why the last child was lost
        self._stalled_pid: int | None = None
        self._resumed = clock()
        self._first = first
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._child: _Child | None = None
        self._report: WorkerReport | None = None
        self._reported = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._exited = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._spawned = clock()

    # ---- what the web process calls -----------------------------------------------------

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.alive else None

    def wake(self) -> None:
        """Wake the worker's engine: a ticket was stored, an incident changed. Never blocks."""
        sock = self._sock
        if sock is not None:
            send(sock, {"op": "wake"})

    def heard(self, source: str, at: datetime) -> None:
        """An authenticated webhook from ``source``: for the worker's silence monitor."""
        sock = self._sock
        if sock is not None:
            send(sock, {"op": "heard", "source": source, "at": at.isoformat()})

    def reload(self) -> None:
        """Forward SIGHUP: the worker reloads the configuration too."""
        child = self._child
        if child is not None:
            child.signal(signal.SIGHUP)

    def latest(self) -> WorkerReport | None:
        with self._lock:
            return self._report

    def running_for(self) -> float:
        """Seconds since the current child was started."""
        return self.clock() - self._spawned

    def verdict(self, now: float | None = None) -> Verdict:
        """How long the current child has gone without proving progress, and whether that
        is a stall (:func:`~.liveness.judge`; never one without a watchdog limit)."""
        with self._lock:
            report, spawned = self._report, self._spawned
        at = self.clock() if now is None else now
        return judge(at, limit=self.stall_after if self.stall_after is not None else float("inf"),
                     since=max(spawned, self._resumed), received=report.received if report else None,
                     progress=report.body.get("progress") if report else None)

    def fresh_report(self, timeout: float = 1.0) -> WorkerReport | None:
        """Ask for a report and wait up to ``timeout`` for it; else the last one (or None)."""
        asked = self.clock()
        sock = self._sock
        if sock is None or not send(sock, {"op": "report"}):
            return self.latest()
        with self._reported:
            self._reported.wait_for(lambda: self._report is not None and self._report.received >= asked, timeout)
            return self._report

    def state(self) -> dict[str, Any]:
        report = self.latest()
        verdict = self.verdict()
        return {"pid": self.pid, "restarts": self.restarts, "last_exit": self.last_exit,
                "last_report_seconds_ago": round(self.clock() - report.received, 3) if report else None,
                "last_progress_seconds_ago": round(verdict.seconds, 3) if report else None,
                "stalls": self.stalls}

    # ---- start, supervise, stop -------------------------------------------------------------

    def start(self, *, watch: bool = True) -> None:
        """Start the thread that supervises the child (it also spawns the restarts, so that
        the kernel's parent-death signal follows a thread that lives as long as they do), and
        the watchdog's (with a limit; ``watch`` False: a test calls :meth:`look` itself)."""
        self._thread = background(self._supervise, name="worker-supervisor")
        self._started.wait(10)
        if self.stall_after is not None and watch:
            background(self._watch, name="worker-watchdog")

    def stop(self, budget: float | None = None) -> int | None:
        """SIGTERM the child (it drains), SIGKILL it after ``budget`` + 2 s; its exit status."""
        self._stopping.set()
        child = self._child
        if child is not None:
            child.signal(signal.SIGTERM)
            if not self._exited.wait((self.budget if budget is None else budget) + 2.0):
                log.error("worker.did_not_stop", pid=child.pid)
                child.signal(signal.SIGKILL)
                self._exited.wait(5)
        if self._thread is not None:
            self._thread.join(5)
        _close(self._sock)
        return self.last_exit

    def _adopt(self, child: _Child, ours: socket.socket) -> None:
        with self._lock:
            old, self._sock, self._child, self._report = self._sock, ours, child, None
            self._spawned = self.clock()
        _close(old)
        background(self._read, ours, name="worker-link")
        log.info("worker.started", pid=child.pid)

    def _spawn(self) -> _Child:
        if self._first is not None:
            (pid, ours), self._first = self._first, None
            child = _Child(pid)
        else:
            ours, theirs = link_pair()
            try:
                argv = list(self.argv(theirs.fileno()))  # this interpreter, oncall's own arguments
                popen = subprocess.Popen(argv, env=self.env, start_new_session=True,  # noqa: S603
                                         pass_fds=(theirs.fileno(), *self.keep_fds), stdin=subprocess.DEVNULL)
            finally:
                theirs.close()
            child = _Child(popen.pid, popen)
        self._adopt(child, ours)
        return child

    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            started = self.clock()
            try:
                child = self._spawn()
            except OSError as exc:
                log.critical("worker.cannot_start", error=str(exc))
                self._started.set()
                if self._stopping.wait(backoff):
                    break
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            self._exited.clear()
            self._started.set()
            code = child.wait()
            self.last_exit = code
            self._exited.set()
            if self._stopping.is_set():
                log.info("worker.stopped", pid=child.pid, code=code)
                break
            if self.clock() - started > STABLE_AFTER:
                backoff = BACKOFF_FIRST
                self.lost_in_a_row = 0
            reason = STALLED if self._stalled_pid == child.pid else EXITED
            self.lost_in_a_row += 1
            self.last_lost = reason
            log.error("worker.exited", pid=child.pid, code=code, reason=reason, restart_in=backoff)
            try:
                self.on_lost(reason, child.pid, self.lost_in_a_row)
            except Exception:  # counting and telling must not stop the restart
                log.exception("worker.on_lost_failed")
            if self._stopping.wait(backoff):
                break
            backoff = min(BACKOFF_MAX, backoff * 2)
            self.restarts += 1
        self._exited.set()
        self._started.set()

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                message = receive(sock)
            except (OSError, ValueError):
                message = None
            if message is None:
                return
            if message.get("op") != "report":
                continue
            body = message.get("body") or {}
            with self._reported:
                self._report = WorkerReport(received=self.clock(), body=body)
                self._reported.notify_all()
            try:
                self.on_report(body)
            except Exception:  # a bad report must not end the link
                log.exception("worker.report_failed")

    # ---- the watchdog --------------------------------------------------------------------

    def _watch(self) -> None:
        last = self.clock()
        while not self._stopping.wait(CHECK_EVERY):
            try:
                last = self.look(self.clock(), last)
            except Exception:  # the watchdog must outlive anything odd in a report
                log.exception("worker.watchdog_failed")
                last = self.clock()

    def look(self, now: float, last: float) -> float:
        """The watchdog's pass at ``now``, its previous one at ``last``; returns ``now``."""
        if now - last > CHECK_EVERY + RESUMED_AFTER:
            # This process did not run meanwhile (stopped with its worker, or starved): the
            # worker's silence is not its own, so the reckoning starts again now.
            self._resumed = now
            log.warning("worker.watchdog_resumed", late_seconds=round(now - last - CHECK_EVERY, 1))
        self.check(now)
        return now

    def check(self, now: float | None = None) -> bool:
        """One look at the child: kill it (SIGKILL) when it is stalled, and say so; whether it
        was. The supervisor then starts another, as for a child that exited."""
        child = self._child
        if self.stall_after is None or child is None or not child.alive or self._stopping.is_set() \
                or self._stalled_pid == child.pid:
            return False
        verdict = self.verdict(now)
        if not verdict.stalled:
            return False
        self._stalled_pid = child.pid
        self.stalls += 1
        log.error("worker.stalled", pid=child.pid, silent_seconds=round(verdict.seconds, 1),
                  waiting_on=verdict.what, limit_seconds=self.stall_after, action="SIGKILL, then restart")
        child.signal(signal.SIGKILL)
        return True


class ParentLink:
    """The worker child's end of the link: wakes and webhook traffic in, reports out; the
    link closing means the web process is gone, and the worker stops."""

    def __init__(self, fd: int, *, on_wake: Callable[[], None], on_heard: Callable[[str, datetime], object],
                 report: Callable[[], dict[str, Any]], on_parent_gone: Callable[[], None],
                 watched: Callable[[], object] = lambda: None) -> None:
        """``watched`` is polled every :data:`WATCH_EVERY`: when what it returns changes (the
        transport's health), a report goes out at once instead of at the next heartbeat, so
        the web process's /readyz does not miss a short outage."""
        self.sock = socket.socket(fileno=fd)
        self.watched = watched
        self.on_wake = on_wake
        self.on_heard = on_heard
        self.report = report
        self.on_parent_gone = on_parent_gone
        self._stop = threading.Event()
        self._send_lock = threading.Lock()

    def start(self) -> None:
        background(self._read, name="parent-link")
        background(self._heartbeat, name="parent-report")

    def stop(self) -> None:
        self._stop.set()
        _close(self.sock)

    def send_report(self) -> None:
        try:
            body = self.report()
        except Exception:
            log.exception("worker.report_failed")
            return
        with self._send_lock:
            send(self.sock, {"op": "report", "body": body}, wait=True)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = receive(self.sock)
            except (OSError, ValueError):
                message = None
            if message is None:
                if not self._stop.is_set():
                    log.warning("worker.parent_gone")
                    self.on_parent_gone()
                return
            op = message.get("op")
            if op == "wake":
                self.on_wake()
            elif op == "heard":
                with contextlib.suppress(KeyError, ValueError, TypeError):
                    self.on_heard(str(message["source"]), datetime.fromisoformat(message["at"]))
            elif op == "report":
                self.send_report()

    def _heartbeat(self) -> None:
        last_sent = time.monotonic()
        seen = self._watch()
        while not self._stop.wait(WATCH_EVERY):
            now = time.monotonic()
            current = self._watch()
            if current != seen or now - last_sent >= REPORT_EVERY:
                seen, last_sent = current, now
                self.send_report()

    def _watch(self) -> object:
        try:
            return self.watched()
        except Exception:  # a failing probe must not end the heartbeat
            return None


def _close(sock: socket.socket | None) -> None:
    """Close a link, waking the thread reading it."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def worker_argv(config: str | None, parent: int, instance: str) -> Callable[[int], list[str]]:
    """The worker child's command line, given its end of the link."""

    def argv(fd: int) -> list[str]:
        head = [sys.executable, "-m", "oncall"] + (["--config", config] if config else [])
        return [*head, "run", "--role", "worker", "--link-fd", str(fd), "--parent", str(parent),
                "--instance", instance]

    return argv

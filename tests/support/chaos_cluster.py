"""Several ``oncall run`` instances as the chaos test drives them: started from the fork
server, killed, frozen, thawed, restarted, stopped cleanly.

Each instance is its own process group (the fork server's children call ``setpgid``), and
SIGKILL, SIGSTOP and SIGCONT go to the whole group: an instance that runs its worker in a
process of its own is killed and frozen whole, as a host crash or a stalled VM would.

States: ``starting`` (spawned; ``/readyz`` not yet 200, or its worker process not yet
reporting), ``up``, ``stopped`` (SIGSTOP), ``down`` (killed or exited). Only ``up`` instances
take faults or count as healthy.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.reliab_daemon import ROOT
from support.reliab_zygote import Zygote

STARTING, UP, STOPPED, DOWN = "starting", "up", "stopped", "down"
READY_TIMEOUT = 60.0


@dataclass
class Instance:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    zygote: Zygote
    state: str = DOWN
    pid: int | None = None
    starts: int = 0
    pids: list[int] = field(default_factory=list)  # the web process of every start
    problems: list[str] = field(default_factory=list)
    ready_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, on_ready: Callable[[Instance], None] | None = None) -> None:
        """Spawn; a watcher marks it ``up`` once ``/readyz`` answers 200."""
        with self._lock:
            assert self.state == DOWN, f"{self.name} is {self.state}"
            self.starts += 1
            self.state = STARTING
            self.pid = pid = self.zygote.spawn(self.env, self.log, cwd=ROOT)
            self.pids.append(pid)
        threading.Thread(target=self._watch, args=(pid, on_ready), name=f"ready-{self.name}",
                         daemon=True).start()

    def _watch(self, pid: int, on_ready: Callable[[Instance], None] | None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.pid != pid:
                    return  # killed and restarted meanwhile
                code = self.zygote.exit_code(pid)
                if code is not None:
                    with self._lock:
                        if self.pid == pid and self.state == STARTING:
                            self.state = DOWN
                            self.problems.append(f"{self.name} exited with {code} while starting "
                                                 f"(start {self.starts}; see {self.log})")
                    return
                try:
                    ready = _working(client.get(self.url + "/readyz"))
                except (httpx.HTTPError, ValueError):
                    ready = False
                if ready:
                    with self._lock:
                        if self.pid == pid and self.state == STARTING:
                            self.state = UP
                            self.ready_at = time.time()
                    if on_ready is not None:
                        on_ready(self)
                    return
                time.sleep(0.05)
        self.problems.append(f"{self.name} not ready {READY_TIMEOUT:.0f} s after start {self.starts}")

    def _signal(self, sig: signal.Signals) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:  # not yet its own group (just forked) or gone
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass

    def kill(self) -> None:
        with self._lock:
            self._signal(signal.SIGKILL)
            pid, self.pid, self.state = self.pid, None, DOWN
        if pid is not None:
            self.zygote.wait(pid, 10.0)

    def freeze(self) -> None:
        with self._lock:
            self._signal(signal.SIGSTOP)
            self.state = STOPPED

    def thaw(self) -> None:
        with self._lock:
            self._signal(signal.SIGCONT)
            if self.state == STOPPED:
                self.state = UP

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM to the main process, as systemd's ``KillMode=mixed`` sends it (the unit's):
        the clean stop. The exit code; None if it had to be killed."""
        with self._lock:
            pid = self.pid
            self._signal(signal.SIGCONT)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if pid is None:
            return None
        code = self.zygote.wait(pid, timeout)
        if code is None:
            self.kill()
        with self._lock:
            self.pid, self.state = None, DOWN
        return code


def _working(answer: httpx.Response) -> bool:
    """Ready, and its worker (when it runs one in a process of its own) has reported: an
    instance whose worker is still starting takes webhooks but does no work yet."""
    if answer.status_code != 200:
        return False
    worker = (answer.json().get("instance") or {}).get("worker")
    return worker is None or worker.get("last_report_seconds_ago") is not None


class Cluster:
    def __init__(self, instances: list[Instance]) -> None:
        self.instances = instances

    def by_name(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def up(self) -> list[Instance]:
        return [i for i in self.instances if i.state == UP]

    def start_all(self, timeout: float = READY_TIMEOUT) -> None:
        for instance in self.instances:
            if instance.state == DOWN:
                instance.start()
        self.wait_all_up(timeout)

    def wait_all_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(i.state == UP for i in self.instances):
                return
            if any(i.state == DOWN for i in self.instances):
                break
            time.sleep(0.05)
        states = {i.name: i.state for i in self.instances}
        raise RuntimeError(f"instances not all up: {states}; {self.problems()}")

    def heal(self, timeout: float = READY_TIMEOUT) -> None:
        """Thaw the frozen, restart the dead, wait until every instance is up."""
        for instance in self.instances:
            if instance.state == STOPPED:
                instance.thaw()
        self.start_all(timeout)

    def terminate(self) -> dict[str, int | None]:
        """Every instance stopped cleanly, all at once."""
        codes: dict[str, int | None] = {}
        threads = [threading.Thread(target=lambda i=i: codes.__setitem__(i.name, i.terminate()))
                   for i in self.instances]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return codes

    def close(self) -> None:
        for instance in self.instances:
            if instance.pid is not None:
                instance.kill()

    def problems(self) -> list[str]:
        return [p for i in self.instances for p in i.problems]

    def instance_of(self) -> dict[int, str]:
        """Web process pid → instance name, over every start."""
        return {pid: i.name for i in self.instances for pid in i.pids}

"""Fault injection for the reliability tests: die at a named point, on purpose.

``ONCALL_FAULT_KILL_AT=phase:N`` makes the daemon SIGKILL itself the Nth time it
passes checkpoint ``phase`` (e.g. ``before_send:1``). Unset — always, in production —
every checkpoint is a no-op. Phases: ``accepted`` (ticket stored, not processed),
``incident_opened`` (incident written in the batch's transaction, not committed), the runner's
``stepped``, ``released``, ``claiming`` (a message about to be claimed: still
``pending``), ``before_send`` (claimed, not yet handed over), ``after_send``,
``settled``, and ``acknowledged`` (acknowledgement committed, reply not yet answered).

The whole instance dies, as in a crash: ``oncall run``'s worker child, reaching its
checkpoint, kills its web process first (``before_dying``), and a web process's death takes
its worker with it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable

ENV = "ONCALL_FAULT_KILL_AT"


def _noop(_phase: str) -> None:
    return None


def checkpoint_from_env(env: dict[str, str] | None = None, *,
                        before_dying: Callable[[], None] = lambda: None) -> Callable[[str], None]:
    spec = (env if env is not None else os.environ).get(ENV, "").strip()
    if not spec:
        return _noop
    phase, _, count = spec.partition(":")
    target = int(count or "1")
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def checkpoint(name: str) -> None:
        if name != phase:
            return
        with lock:
            seen[name] += 1
            if seen[name] == target:
                before_dying()
                os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint

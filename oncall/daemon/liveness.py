"""Is ``oncall run``'s worker child making progress? Its side proves it, the web process judges.

A worker can be alive and useless: stopped (SIGSTOP), its event loop blocked, its engine
wedged in a deadlock or in a database call that never returns. Its exit status says nothing
then, so the web process watches *progress* instead (:class:`~.worker_process.WorkerProcess`
kills a stalled worker with SIGKILL and starts another).

**What counts as progress** (the worker's side, :class:`Progress`):

- its **event loop turns**: a task on the loop that rings every duty stamps the time twice a
  second — a blocked loop rings no duty;
- its **engine duty** (the paging path: intake → incidents → escalation → sends) either waits
  for its next bell or, while it runs, **completes a database statement** in the run's thread
  (SQLAlchemy's ``after_cursor_execute``). A large batch is made of statements, so it
  progresses all along however long the run; a slow provider call does not starve it either,
  since the engine renews its sending claims every 5 s while calls are under way (and each
  call has its own timeout); a wedged database call completes nothing, and neither does a
  deadlock or an endless loop. How long a run lasts is not the measure.

The other duties are not watched this way: a helpdesk poll or a write-back may legitimately
wait a whole HTTP timeout (15 s per phase) between statements, and each has its own monitor
(the silence alarm, the dead-man's switch). A stuck one still holds nothing back from paging.

The worker puts ``{"seconds_ago": …, "waiting_on": …}`` (``"event loop"`` or ``"engine
duty"``: the one quiet longest) in every report it sends to the web process — once a second,
from a thread of its own, so a stopped process or a report thread that blocks (on a lock, on
the database) shows as reports that stop coming.

**The web process's side** (:func:`judge`, a pure function of the monotonic clock): the last
proof of progress is the report's arrival less its ``seconds_ago``; the worker is stalled when
that is older than the limit (``ONCALL_WORKER_STALL_SECONDS``), or when it has sent no report
:data:`START_GRACE` seconds after it started. The reckoning starts again when the web process
itself was frozen or starved (its watchdog woke late): a whole instance stopped and thawed
must not take its worker for stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

START_GRACE = 30.0  # seconds a worker may take to send its first report
LOOP_BEAT = 0.5  # seconds between the event loop's stamps
WATCHED = ("engine",)  # duties whose runs must progress (see the module docstring)
NO_REPORT = "no report"  # the worker process itself is silent: stopped, or its reports stuck


class Progress:
    """The worker's proofs of progress (its event loop's turns, its watched duties' database
    statements), read by the thread that sends its reports. ``clock``: monotonic seconds."""

    def __init__(self, watched: Iterable[str] = WATCHED, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.watched = frozenset(watched)
        self._lock = threading.Lock()
        self._loop_at = clock()
        self._runs: dict[str, tuple[int, float]] = {}  # duty → (its thread, when the run began)
        self._statements: dict[int, float] = {}  # thread → when it last completed a statement
        self._beat: asyncio.Task[None] | None = None

    def observe(self, engine: Engine) -> None:
        """Count each statement completed on ``engine`` as progress of the thread running it."""
        event.listen(engine, "after_cursor_execute", self._statement_done)

    def _statement_done(self, *_args: Any) -> None:
        self.statement_done()

    def statement_done(self) -> None:
        self._statements[threading.get_ident()] = self.clock()  # one store: no lock needed

    def loop_turned(self) -> None:
        self._loop_at = self.clock()

    async def beat(self, every: float = LOOP_BEAT) -> None:
        """Stamp the event loop's turns; run as a task on the worker's loop."""
        while True:
            self.loop_turned()
            await asyncio.sleep(every)

    def start_beating(self) -> None:
        """Start :meth:`beat` on the running loop (call from it); it ends with the loop."""
        self.loop_turned()
        self._beat = asyncio.get_running_loop().create_task(self.beat(), name="progress-beat")

    @contextlib.contextmanager
    def running(self, duty: str) -> Iterator[None]:
        """Around one run of ``duty`` in the thread that runs it (the duty runner's hook)."""
        if duty not in self.watched:
            yield
            return
        with self._lock:
            self._runs[duty] = (threading.get_ident(), self.clock())
        try:
            yield
        finally:
            with self._lock:
                self._runs.pop(duty, None)

    def quiet(self) -> tuple[float, str]:
        """Seconds since the quietest of them last progressed, and which it is."""
        now = self.clock()
        worst, what = now - self._loop_at, "event loop"
        with self._lock:
            runs = list(self._runs.items())
        for duty, (thread, began) in runs:
            age = now - max(began, self._statements.get(thread, began))
            if age > worst:
                worst, what = age, f"{duty} duty"
        return max(0.0, worst), what

    def as_json(self) -> dict[str, Any]:
        seconds, what = self.quiet()
        return {"seconds_ago": round(seconds, 3), "waiting_on": what}


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What the web process makes of its worker's reports at one instant."""

    seconds: float  # since the worker last proved progress (or since it started, or since we resumed)
    what: str  # what has been quiet: NO_REPORT, "event loop", "engine duty", or "no report since it started"
    stalled: bool


def judge(now: float, *, limit: float, since: float, received: float | None,
          progress: Mapping[str, Any] | None) -> Verdict:
    """Whether a worker is stalled at ``now`` (monotonic seconds, the web process's clock).

    ``since``: when the reckoning starts — the worker's start, or later when the web process
    itself resumed from a freeze; ``received``: when its last report arrived (``None``: none
    yet), carrying ``progress`` (:meth:`Progress.as_json`)."""
    if received is None:
        seconds = max(0.0, now - since)
        return Verdict(seconds=seconds, what="no report since it started", stalled=seconds > max(limit, START_GRACE))
    try:
        ago = max(0.0, float((progress or {}).get("seconds_ago", 0.0)))
    except (TypeError, ValueError):
        ago = 0.0
    what = NO_REPORT if now - received >= ago else str((progress or {}).get("waiting_on", "event loop"))
    seconds = max(0.0, now - max(received - ago, since))
    return Verdict(seconds=seconds, what=what, stalled=seconds > limit)

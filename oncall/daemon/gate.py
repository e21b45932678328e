"""The schema gate: an instance works only on the schema its code was written for.

During a rolling upgrade the first upgraded instance migrates the shared database; the
instances still running the older code must then take no work — no duty runs, ``/readyz``
answers 503 with the reason, ticket webhooks answer 503 so the helpdesk retries on an
upgraded instance — until they are upgraded in turn. The gate reads the database's alembic
revision (one small query) at most once per ``max_age`` when asked, and the lease keeper
refreshes it on each of its ticks; a closed gate lets the instance's leases go at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from oncall import logs
from oncall.store import revisions
from oncall.store.db import head_revision, read_revision

log = logs.get("oncall.daemon")


@dataclass(frozen=True, kw_only=True)
class GateState:
    open: bool
    code: str
    """The schema revision this code runs on."""
    database: str | None
    """The revision the database is at (``None`` when it could not be read)."""
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"open": self.open, "code": self.code, "database": self.database, "reason": self.reason}


def database_revision(engine: Engine) -> str | None:
    """The alembic revision the database is at (:func:`~oncall.store.db.read_revision`)."""
    with engine.connect() as conn:
        return read_revision(conn)


known_revision = revisions.known


def judge(database: str | None, code: str, *, known: Callable[[str], bool] = known_revision) -> GateState:
    """Whether code at schema ``code`` may work on a database at ``database`` (pure but for
    ``known``: whether a revision is one this code ships)."""
    if database == code:
        return GateState(open=True, code=code, database=database, reason=f"schema {code}")
    if database is None:
        reason = "the database holds no oncall schema"
    elif not known(database):
        reason = (f"the database is at schema {database}, written by a newer oncall; this one runs {code}: "
                  "taking no work until it is upgraded")
    else:
        reason = f"the database is at schema {database}, older than this oncall's {code}: taking no work"
    return GateState(open=False, code=code, database=database, reason=reason)


class SchemaGate:
    def __init__(self, engine: Engine, *, max_age: float = 1.0, code: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.code = code or head_revision()
        self.max_age = max_age
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._state = GateState(open=True, code=self.code, database=self.code, reason="not checked yet")
        self._checked: float | None = None

    def refresh(self) -> GateState:
        """Read the database's revision now."""
        try:
            state = judge(database_revision(self.engine), self.code)
        except Exception as exc:  # the database is unreachable: no work until it answers again
            reason = f"cannot read the schema revision: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            state = GateState(open=False, code=self.code, database=None, reason=reason)
        with self._lock:
            before, self._state, self._checked = self._state, state, self.monotonic()
        if before.open and not state.open:
            log.critical("schema.gate_closed", reason=state.reason)
        elif state.open and not before.open:
            log.warning("schema.gate_open", reason=state.reason)
        return state

    def state(self) -> GateState:
        """The gate as last read, read again when older than ``max_age``."""
        with self._lock:
            fresh = self._checked is not None and self.monotonic() - self._checked < self.max_age
            if fresh:
                return self._state
        return self.refresh()

    def is_open(self) -> bool:
        return self.state().open

    def last(self) -> GateState:
        """The gate as last read, without reading it (for the event loop: webhooks)."""
        with self._lock:
            return self._state

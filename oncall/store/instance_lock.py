"""One daemon per SQLite file.

SQLite is the single-host default: one ``oncall run`` owns the file. A second one on the same
file would run every duty twice (two pollers, two runners sending the same pages), so it
refuses to start. The lock is an exclusive ``flock`` on ``<database>.lock``, held for the
process's life and released by the kernel when the process ends, however it ends (a SIGKILL
leaves no stale lock). PostgreSQL needs no such lock: there, instances share work through
claims and leases.

Each role has its lock: ``<database>.lock`` for the web role, ``<database>.worker.lock`` for the
worker role; ``oncall run`` (both roles) takes both, and its worker child inherits the two
descriptors, so the locks are held until the web process *and* its worker are gone. A start
that finds a lock taken waits a moment (``patience``) before refusing: the worker of an
instance just killed dies with its parent, but may take a moment to (a busy machine).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from oncall.errors import StoreError


class InstanceLock:
    """Held while this process serves an SQLite database; :meth:`release` lets it go."""

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    def fileno(self) -> int | None:
        """The lock's descriptor (for a child to inherit), ``None`` for server databases."""
        return self._handle.fileno() if self._handle is not None else None

    @classmethod
    def acquire(cls, url: str, *, worker: bool = False, patience: float = 5.0) -> InstanceLock:
        """Take the web role's lock for ``url`` — the worker role's with ``worker`` — (a no-op
        for server databases), waiting up to ``patience`` seconds. Raises :class:`StoreError`
        naming the file and the running instance's pid when another process holds it."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return cls(None)
        database = Path(parsed.database).resolve()
        path = database.with_name(database.name + (".worker.lock" if worker else ".lock"))
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="ascii")
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                what = "oncall worker" if worker else "oncall"
                raise StoreError(
                    f"another {what} (pid {holder}) is already running on {database}: one SQLite file serves one "
                    "instance; to run several, use PostgreSQL (README: Several hosts on one PostgreSQL)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(handle)

    def close_copy(self) -> None:
        """In a child that inherited the lock: close its descriptor without unlocking (the
        lock stays with the parent's)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

"""One daemon per SQLite file.

SQLite is the single-host default: one ``oncall run`` owns the file. A second one on the same
file would run every duty twice (two pollers, two runners sending the same pages), so it
refuses to start. The lock is an exclusive ``flock`` on ``<database>.lock``, held for the
process's life and released by the kernel when the process ends, however it ends (a SIGKILL
leaves no stale lock). PostgreSQL needs no such lock: there, instances share work through
claims and leases.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from oncall.errors import StoreError


class InstanceLock:
    """Held while this process serves an SQLite database; :meth:`release` lets it go."""

    def __init__(self, handle: IO[str] | None) -> None:
        self._handle = handle

    @classmethod
    def acquire(cls, url: str) -> InstanceLock:
        """Take the lock for ``url`` (a no-op for server databases). Raises :class:`StoreError`
        naming the file and the running instance's pid when another process holds it."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
            return cls(None)
        database = Path(parsed.database).resolve()
        path = database.with_name(database.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="ascii")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreError(
                f"another oncall (pid {holder}) is already running on {database}: one SQLite file serves one "
                "instance; to run several, use PostgreSQL (README: Several instances)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

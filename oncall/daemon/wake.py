"""Waking workers in other processes through PostgreSQL: ``NOTIFY`` / ``LISTEN``.

When the roles run as separate processes not linked as parent and child (``oncall run --role
web`` and ``--role worker``, on one host or several), the web role sends ``NOTIFY
oncall_work`` after a ticket is stored or an incident changed, and every worker ``LISTEN``\\s
on a connection of its own and wakes its engine. Wake-ups are coalesced (one ``NOTIFY`` in
flight at a time) and best effort: the engine's tick (``ONCALL_ENGINE_TICK_SECONDS``) remains
the fallback. SQLite has no such channel: there the tick is the only wake-up between separate
processes (``oncall run``'s own worker is woken through its link).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from oncall import logs
from oncall.daemon.threads import background

log = logs.get("oncall.daemon")
CHANNEL = "oncall_work"
RETRY_SECONDS = 2.0


def can_notify(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class NotifyWaker:
    """The web role's side: ``wake()`` never blocks; a thread sends the ``NOTIFY``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread = background(self._run, name="notify-waker")

    def wake(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stop.is_set():
                return
            self._wanted.clear()
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(f"NOTIFY {CHANNEL}"))
            except Exception as exc:  # the tick will do
                log.warning("wake.notify_failed", error=f"{type(exc).__name__}: {exc}")
                self._stop.wait(RETRY_SECONDS)


class NotifyListener:
    """The worker role's side: a thread ``LISTEN``\\s and calls ``on_wake`` for each wake-up."""

    def __init__(self, engine: Engine, on_wake: Callable[[], None]) -> None:
        self.engine = engine
        self.on_wake = on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = background(self._run, name="notify-listener")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # reconnect: the tick covers the gap
                log.warning("wake.listen_failed", error=f"{type(exc).__name__}: {exc}")
                self._stop.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            connection.autocommit = True
            connection.execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                if any(True for _ in connection.notifies(timeout=1.0, stop_after=1)):
                    self.on_wake()
        finally:
            pooled.invalidate()  # its session listened: never hand it back to the pool

"""Adapters from the store's inbox and cursor functions to :class:`TicketSink`/:class:`CursorStore`.

Kept here (not in ``oncall.store``) so the store stays ignorant of Ticket parsing; the daemon
builds ``InboxSink(Inbox(engine))`` and ``EngineCursors(engine)``.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from oncall.store.inbox import Inbox, get_cursor, set_cursor
from oncall.tickets import Ticket


class InboxSink:
    """:class:`TicketSink` on the inbox table: stores the ticket's generic JSON form."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        _, is_new = self.inbox.receive(source, event_key, ticket.to_json(), received_at)
        return is_new


class EngineCursors:
    """:class:`CursorStore` on the cursors table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_cursor(self, name: str) -> str | None:
        return get_cursor(self.engine, name)

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        set_cursor(self.engine, name, value, at)


class _Pending:
    __slots__ = ("done", "error", "event", "result")

    def __init__(self, event: tuple[str, str, dict[str, Any], datetime]) -> None:
        self.event = event
        self.done = threading.Event()
        self.result = False
        self.error: BaseException | None = None


class GroupCommitSink:
    """:class:`TicketSink` that stores concurrent webhook deliveries in one transaction.

    Each request still returns only after its ticket is committed (durably stored before
    the 2xx); requests that arrive while a commit is in flight share the next one, so a
    burst costs one fsync per batch instead of one per ticket. The first waiting request
    commits for everybody queued behind it ("leader"); the others wait for its result.
    """

    def __init__(self, inbox: Inbox, max_batch: int = 200) -> None:
        self.inbox = inbox
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        mine = _Pending((source, event_key, ticket.to_json(), received_at))
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        if lead:
            self._commit_queued()
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _commit_queued(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
                if not batch:
                    self._leading = False
                    return
            try:
                results = self.inbox.receive_many([p.event for p in batch])
            except BaseException as exc:  # every waiter must learn of the failure (→ 503, retried)
                for p in batch:
                    p.error = exc
            else:
                for p, fresh in zip(batch, results, strict=True):
                    p.result = fresh
            for p in batch:
                p.done.set()

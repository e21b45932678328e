"""In-memory :class:`TicketSink` and :class:`CursorStore` for tests of the sources package."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from oncall.tickets import Ticket


@dataclass(frozen=True, kw_only=True)
class AcceptedTicket:
    source: str
    event_key: str
    ticket: Ticket
    received_at: datetime


class MemorySink:
    """Remembers every accepted event; ``fail`` makes the next ``accept`` calls raise."""

    def __init__(self) -> None:
        self.accepted: list[AcceptedTicket] = []
        self.duplicates = 0
        self.fail: Exception | None = None
        self._keys: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def accept(self, source: str, event_key: str, ticket: Ticket, received_at: datetime) -> bool:
        with self._lock:
            if self.fail is not None:
                raise self.fail
            if (source, event_key) in self._keys:
                self.duplicates += 1
                return False
            self._keys.add((source, event_key))
            self.accepted.append(AcceptedTicket(source=source, event_key=event_key,
                                                ticket=ticket, received_at=received_at))
            return True

    @property
    def tickets(self) -> list[Ticket]:
        return [a.ticket for a in self.accepted]


class MemoryCursors:
    """Cursor store with a history of every value written."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.history: list[tuple[str, str, datetime]] = []

    def get_cursor(self, name: str) -> str | None:
        return self.values.get(name)

    def set_cursor(self, name: str, value: str, at: datetime) -> None:
        self.values[name] = value
        self.history.append((name, value, at))
